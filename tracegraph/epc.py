"""EPC identity: EPC URNs and GS1 Digital Link URIs, and the one canonical id they share.

An object or a class of objects is named in EPCIS either by an EPC URN
(``urn:epc:id:sgtin:0614141.712345.SN1``) or by a GS1 Digital Link URI
(``https://id.gs1.org/01/00614141723450/21/SN1``, on any host). Both become one `Epc`, whose
`Epc.canonical` id is the Digital Link path without its host: the GS1 Application Identifiers
of the identity and their values, in the order Digital Link writes them, each value
percent-encoded (everything but ``A-Z a-z 0-9 - . _``)::

    sgtin   01/{gtin14}/21/{serial}        a serialised trade item
    lgtin   01/{gtin14}/10/{lot}           a lot (batch) of a trade item
    gtin    01/{gtin14}                    every item of one GTIN (urn:epc:idpat:sgtin:…*)
    sscc    00/{sscc18}                    a logistic unit
    grai    8003/0{grai13}{serial}         a returnable asset
    giai    8004/{giai}                    an individual asset
    sgln    414/{gln13}[/254/{extension}]  a location
    pgln    417/{gln13}                    a party

A URN carries the length of the GS1 company prefix by the position of its first dot, so it
converts to the canonical id (and to a Digital Link) without any company-prefix table: the
indicator or extension digit moves to the front and the check digit is computed. The other way,
`Epc.urn` needs that length, which a Digital Link does not carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote, urlsplit

__all__ = [
    "DIGITAL_LINK_HOST",
    "Epc",
    "EpcError",
    "canonical",
    "check_digit",
    "from_canonical",
    "looks_gs1",
    "parse",
]

#: The host a Digital Link is written with (any host is read).
DIGITAL_LINK_HOST: Final = "https://id.gs1.org"

#: Kinds that name one object (the others name a class of objects, a location or a party).
INSTANCE_KINDS: Final = frozenset({"sgtin", "sscc", "grai", "giai"})
CLASS_KINDS: Final = frozenset({"lgtin", "gtin"})
PLACE_KINDS: Final = frozenset({"sgln", "pgln"})


class EpcError(ValueError):
    """Text that claims to be an EPC URN or a Digital Link but is not a valid one."""


#: GS1 AI encodable character set 82: what a serial, lot or asset reference may hold.
CSET82: Final = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
# What a URN writes as it is (TDS, "characters permitted in the EPC URN"); the rest is %XX.
_URN_SAFE: Final = "!'()*+,:;="
_URN_TEXT: Final = re.compile(r"^(?:[A-Za-z0-9\-._!'()*+,:;=]|%[0-9A-Fa-f]{2})*$")
_DIGITS: Final = re.compile(r"^[0-9]+$")


def check_digit(body: str) -> str:
    """The GS1 mod-10 check digit of a digit string (GTIN, SSCC, GLN, GRAI without it)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def _encode(value: str) -> str:
    """A value as the canonical id and Digital Link write it."""
    return quote(value, safe="")


@dataclass(frozen=True, slots=True)
class Epc:
    """One GS1 identity: its kind and its Application Identifier values (decoded)."""

    kind: str
    #: (AI, value) pairs of the identity, in Digital Link order; values are decoded text
    elements: tuple[tuple[str, str], ...]

    @property
    def canonical(self) -> str:
        """The id both forms map to: the Digital Link path, e.g. ``01/09501101530003/21/SN1``."""
        return "/".join(f"{ai}/{_encode(value)}" for ai, value in self.elements)

    @property
    def digital_link(self) -> str:
        return f"{DIGITAL_LINK_HOST}/{self.canonical}"

    @property
    def element_string(self) -> str:
        """Human-readable GS1 element string, e.g. ``(01)09501101530003(21)SN1``."""
        return "".join(f"({ai}){value}" for ai, value in self.elements)

    @property
    def instance(self) -> bool:
        return self.kind in INSTANCE_KINDS

    def value(self, ai: str) -> str | None:
        return next((v for a, v in self.elements if a == ai), None)

    @property
    def gtin(self) -> str | None:
        return self.value("01")

    def urn(self, company_prefix_length: int) -> str:
        """The EPC URN, given the length of the GS1 company prefix (6 to 12 digits)."""
        n = company_prefix_length
        if not 6 <= n <= 12:
            raise EpcError(f"company prefix length {n}: must be 6 to 12")
        key = self.elements[0][1]
        if self.kind in ("sgtin", "lgtin", "gtin"):
            head = f"{key[1 : n + 1]}.{key[0]}{key[n + 1 : 13]}"
            if self.kind == "gtin":
                return f"urn:epc:idpat:sgtin:{head}.*"
            rest = quote(self.elements[1][1], safe=_URN_SAFE)
            scheme = "id:sgtin" if self.kind == "sgtin" else "class:lgtin"
            return f"urn:epc:{scheme}:{head}.{rest}"
        if self.kind == "sscc":
            return f"urn:epc:id:sscc:{key[1 : n + 1]}.{key[0]}{key[n + 1 : 17]}"
        if self.kind == "grai":
            serial = quote(key[14:], safe=_URN_SAFE)
            return f"urn:epc:id:grai:{key[1 : n + 1]}.{key[n + 1 : 13]}.{serial}"
        if self.kind == "giai":
            if len(key) <= n or not _DIGITS.match(key[:n]):
                raise EpcError(f"{self.canonical}: no company prefix of {n} digits")
            return f"urn:epc:id:giai:{key[:n]}.{quote(key[n:], safe=_URN_SAFE)}"
        if self.kind == "sgln":
            ext = quote(self.value("254") or "0", safe=_URN_SAFE)
            return f"urn:epc:id:sgln:{key[:n]}.{key[n:12]}.{ext}"
        return f"urn:epc:id:pgln:{key[:n]}.{key[n:12]}"  # pgln


# --------------------------------------------------------------------------- checks


def _text(uri: str, what: str, raw: str, most: int, *, urn: bool) -> str:
    """A serial, lot or reference: decoded, and checked against the GS1 character set."""
    if urn and not _URN_TEXT.match(raw):
        bad = next((c for c in raw if not re.match(r"[A-Za-z0-9\-._!'()*+,:;=%]", c)), None)
        if bad is None:
            raise EpcError(f"{uri!r}: {what} {raw!r} has a % not followed by two hex digits")
        if bad in CSET82:
            raise EpcError(f"{uri!r}: {what} holds {bad!r}, which a URN writes as %{ord(bad):02X}")
        raise EpcError(f"{uri!r}: {what} holds {bad!r}, not a GS1 character")
    value = raw
    if urn and "%" in raw:
        try:
            value = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise EpcError(f"{uri!r}: {what} {raw!r} is not percent-encoded UTF-8") from None
    if not value:
        raise EpcError(f"{uri!r}: {what} is empty")
    if len(value) > most:
        raise EpcError(f"{uri!r}: {what} {value!r} is longer than {most} characters")
    bad_chars = sorted(set(value) - CSET82)
    if bad_chars:
        raise EpcError(f"{uri!r}: {what} {value!r} holds {bad_chars[0]!r}, not a GS1 character")
    return value


def _digits(uri: str, what: str, text: str, length: int | None = None) -> str:
    if not _DIGITS.match(text):
        raise EpcError(f"{uri!r}: {what} {text!r} must be digits")
    if length is not None and len(text) != length:
        raise EpcError(f"{uri!r}: {what} {text!r} must have {length} digits")
    return text


def _checked(uri: str, what: str, digits: str) -> str:
    if check_digit(digits[:-1]) != digits[-1]:
        raise EpcError(
            f"{uri!r}: {what} {digits} has a wrong check digit "
            f"(expected {check_digit(digits[:-1])})"
        )
    return digits


# --------------------------------------------------------------------------- URNs


def _prefix(uri: str, cp: str, rest: str, total: int, what: str) -> None:
    _digits(uri, "company prefix", cp)
    if not 6 <= len(cp) <= 12:
        raise EpcError(f"{uri!r}: company prefix {cp!r} must have 6 to 12 digits")
    _digits(uri, what, rest)
    if len(cp) + len(rest) != total:
        raise EpcError(
            f"{uri!r}: company prefix and {what} must have {total} digits together "
            f"(they have {len(cp) + len(rest)})"
        )


def _parts(uri: str, nss: str, count: int) -> list[str]:
    parts = nss.split(".", count - 1)
    if len(parts) != count:
        raise EpcError(f"{uri!r}: expected {count} parts separated by dots")
    return parts


def _gtin_of(cp: str, item: str) -> str:
    body = item[0] + cp + item[1:]
    return body + check_digit(body)


def _parse_urn(uri: str) -> Epc:
    head, _, nss = uri.partition(":epc:")
    form, sep, rest = nss.partition(":")
    scheme, sep2, nss = rest.partition(":")
    if not (sep and sep2) or head.lower() != "urn":
        raise EpcError(f"{uri!r}: not an EPC URN (urn:epc:id:SCHEME:…)")
    form, scheme = form.lower(), scheme.lower()
    if (form, scheme) in (("id", "sgtin"), ("class", "lgtin")):
        cp, item, raw = _parts(uri, nss, 3)
        _prefix(uri, cp, item, 13, "item reference")
        if form == "id":
            serial = _text(uri, "serial", raw, 20, urn=True)
            return Epc("sgtin", (("01", _gtin_of(cp, item)), ("21", serial)))
        lot = _text(uri, "lot", raw, 20, urn=True)
        return Epc("lgtin", (("01", _gtin_of(cp, item)), ("10", lot)))
    if (form, scheme) == ("idpat", "sgtin"):
        cp, item, star = _parts(uri, nss, 3)
        if star != "*" or item == "*":
            raise EpcError(f"{uri!r}: a class pattern names one GTIN: CompanyPrefix.ItemRef.*")
        _prefix(uri, cp, item, 13, "item reference")
        return Epc("gtin", (("01", _gtin_of(cp, item)),))
    if form != "id":
        raise EpcError(f"{uri!r}: urn:epc:{form}:{scheme} is not an identity TraceGraph reads")
    if scheme == "sscc":
        cp, serial_ref = _parts(uri, nss, 2)
        _prefix(uri, cp, serial_ref, 17, "serial reference")
        body = serial_ref[0] + cp + serial_ref[1:]
        return Epc("sscc", (("00", body + check_digit(body)),))
    if scheme == "grai":
        cp, asset, raw = _parts(uri, nss, 3)
        _prefix(uri, cp, asset, 12, "asset type")
        serial = _text(uri, "serial", raw, 16, urn=True)
        body = cp + asset
        return Epc("grai", (("8003", "0" + body + check_digit(body) + serial),))
    if scheme == "giai":
        cp, raw = _parts(uri, nss, 2)
        _digits(uri, "company prefix", cp)
        if not 6 <= len(cp) <= 12:
            raise EpcError(f"{uri!r}: company prefix {cp!r} must have 6 to 12 digits")
        ref = _text(uri, "asset reference", raw, 30 - len(cp), urn=True)
        return Epc("giai", (("8004", cp + ref),))
    if scheme in ("sgln", "pgln"):
        count = 3 if scheme == "sgln" else 2
        cp, ref, *ext = _parts(uri, nss, count)
        _prefix(uri, cp, ref, 12, "location reference" if count == 3 else "party reference")
        gln = cp + ref + check_digit(cp + ref)
        if scheme == "pgln":
            return Epc("pgln", (("417", gln),))
        extension = _text(uri, "extension", ext[0], 20, urn=True)
        if extension == "0":  # TDS: extension 0 is the location itself, without AI 254
            return Epc("sgln", (("414", gln),))
        return Epc("sgln", (("414", gln), ("254", extension)))
    raise EpcError(
        f"{uri!r}: EPC scheme {scheme!r} is not one TraceGraph maps "
        "(sgtin, lgtin, idpat:sgtin, sscc, grai, giai, sgln, pgln)"
    )


# --------------------------------------------------------------------------- Digital Link

#: Digital Link path names (numeric AIs and the short names of Digital Link 1.0) → AI.
_AI_NAMES: Final = {
    "01": "01", "gtin": "01", "00": "00", "sscc": "00", "8003": "8003", "grai": "8003",
    "8004": "8004", "giai": "8004", "414": "414", "gln": "414", "417": "417", "party": "417",
    "10": "10", "lot": "10", "21": "21", "ser": "21", "254": "254", "glnx": "254",
    "22": "22", "cpv": "22",
}  # fmt: skip
_PRIMARY: Final = frozenset({"01", "00", "8003", "8004", "414", "417"})
#: the shape of each primary key's value: what makes a path segment pair a Digital Link
_PRIMARY_SHAPE: Final = {
    "01": re.compile(r"^(\d{8}|\d{12,14})$"),
    "00": re.compile(r"^\d{18}$"),
    "8003": re.compile(r"^\d{14}"),
    "8004": re.compile(r"^\d{6}"),
    "414": re.compile(r"^\d{13}$"),
    "417": re.compile(r"^\d{13}$"),
}
#: the key qualifiers each primary key takes, in the order a path writes them
_QUALIFIERS: Final = {"01": ("22", "10", "21"), "414": ("254",)}


def _dl_elements(uri: str) -> list[tuple[str, str]] | None:
    """The (AI, value) pairs of a Digital Link path, or None if the URI is not one."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    segments = parts.path.split("/")
    for start, segment in enumerate(segments):
        ai = _AI_NAMES.get(segment)
        if ai in _PRIMARY and start + 1 < len(segments):
            value = unquote(segments[start + 1])
            if _PRIMARY_SHAPE[ai].match(value):
                break
    else:
        return None
    rest = segments[start:]
    if rest[-1] == "":  # a trailing slash
        rest = rest[:-1]
    if len(rest) % 2:
        raise EpcError(f"{uri!r}: a Digital Link path is AI/value pairs; one value is missing")
    pairs: list[tuple[str, str]] = []
    for i in range(0, len(rest), 2):
        name, raw = rest[i], rest[i + 1]
        ai = _AI_NAMES.get(name)
        if ai is None:
            raise EpcError(f"{uri!r}: {name!r} is not an Application Identifier of a GS1 key")
        try:
            pairs.append((ai, unquote(raw, errors="strict")))
        except UnicodeDecodeError:
            raise EpcError(f"{uri!r}: {raw!r} is not percent-encoded UTF-8") from None
    return pairs


def _parse_link(uri: str, pairs: list[tuple[str, str]]) -> Epc:
    (ai, key), qualifiers = pairs[0], pairs[1:]
    allowed = _QUALIFIERS.get(ai, ())
    names = [q for q, _ in qualifiers]
    if any(q not in allowed for q in names) or names != sorted(names, key=allowed.index):
        raise EpcError(
            f"{uri!r}: after /{ai}/ a Digital Link may have "
            + (" then ".join(f"/{q}/" for q in allowed) if allowed else "nothing else")
        )
    got = dict(qualifiers)
    if ai == "01":
        gtin = _checked(uri, "GTIN", key.zfill(14))
        if "22" in got:
            raise EpcError(f"{uri!r}: a consumer product variant (/22/) is not mapped")
        if "21" in got:  # a lot given as well is an attribute of the item, not its identity
            serial = _text(uri, "serial", got["21"], 20, urn=False)
            return Epc("sgtin", (("01", gtin), ("21", serial)))
        if "10" in got:
            lot = _text(uri, "lot", got["10"], 20, urn=False)
            return Epc("lgtin", (("01", gtin), ("10", lot)))
        return Epc("gtin", (("01", gtin),))
    if ai == "00":
        return Epc("sscc", (("00", _checked(uri, "SSCC", _digits(uri, "SSCC", key, 18))),))
    if ai == "8003":
        head, serial = key[:14], key[14:]
        if head[0] != "0":
            raise EpcError(f"{uri!r}: a GRAI (8003) starts with 0")
        _checked(uri, "GRAI", head[1:])
        value = head + (_text(uri, "GRAI serial", serial, 16, urn=False) if serial else "")
        if not serial:
            raise EpcError(f"{uri!r}: a GRAI names one asset only with a serial")
        return Epc("grai", (("8003", value),))
    if ai == "8004":
        return Epc("giai", (("8004", _text(uri, "GIAI", key, 30, urn=False)),))
    gln = _checked(uri, "GLN", _digits(uri, "GLN", key, 13))
    if ai == "417":
        return Epc("pgln", (("417", gln),))
    if "254" in got and got["254"] != "0":
        extension = _text(uri, "extension", got["254"], 20, urn=False)
        return Epc("sgln", (("414", gln), ("254", extension)))
    return Epc("sgln", (("414", gln),))


# --------------------------------------------------------------------------- entry points


def looks_gs1(uri: str) -> bool:
    """Whether text claims to be a GS1 identity (an EPC URN, or a Digital Link path), so that
    a fault in it is an error rather than another kind of URI."""
    if uri[:8].lower() == "urn:epc:":
        return True
    try:
        return _dl_elements(uri) is not None
    except EpcError:
        return True


def parse(uri: str) -> Epc:
    """An EPC URN or a GS1 Digital Link URI (any host); `EpcError` names what is wrong."""
    text = uri.strip()
    if text[:8].lower() == "urn:epc:":
        return _parse_urn(text)
    pairs = _dl_elements(text)
    if pairs is None:
        raise EpcError(f"{uri!r}: not an EPC URN or a GS1 Digital Link URI")
    return _parse_link(text, pairs)


def canonical(uri: str) -> str:
    """The canonical id of an EPC URN or a Digital Link URI."""
    return parse(uri).canonical


def from_canonical(text: str) -> Epc | None:
    """The identity a canonical id names (None if the text is not one)."""
    if not text[:1].isdigit():
        return None
    try:
        epc = parse(f"{DIGITAL_LINK_HOST}/{text}")
    except EpcError:
        return None
    return epc if epc.canonical == text else None
