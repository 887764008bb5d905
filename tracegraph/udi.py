"""A UDI (unique device identification) as printed or scanned, read into its parts.

A UDI names a device model (the DI) and, for one unit, its production identifiers (PI): lot,
serial, expiry and manufacture dates. `parse_udi` reads every form a label or a scanner gives:

- GS1 human-readable text with parentheses: ``(01)09501101530003(17)261231(10)LOT1(21)SN1``;
- a GS1 element string as a scanner sends it, its variable-length fields ended by the group
  separator (GS, ``\\x1d``, which is how FNC1 reaches the host), with or without a symbology
  identifier (``]d2`` Data Matrix, ``]C1`` GS1-128, ``]Q3`` QR, ``]e0`` DataBar, ``]J1``
  DotCode); ``␝`` (U+241D) and the stand-ins ``<GS>``, ``{GS}``, ``[GS]``, ``<FNC1>``,
  ``{FNC1}``, ``[FNC1]`` are read as GS, for scans pasted from other tools;
- a GS1 Digital Link URI on any host, with any path before ``/01/``:
  ``https://id.gs1.org/01/09501101530003/10/LOT1/21/SN1?17=261231``;
- HIBCC (HIBC LIC, ANSI/HIBC 2.6): a primary symbol ``+A123BJC5D6E71G``, the primary and the
  secondary in one symbol ``+A123BJC5D6E71/$$3261231LOT1/SSN1`` plus its check character, or
  the two symbols as scanned one after the other, separated by white space.

GS1 is read with biip (https://pypi.org/project/biip/): its table of application identifiers
(AIs) says where a raw element string's fields end and what each value must look like, its
GS1 check digit checks the GTIN, and it reads the symbology identifier. The text is split into
(AI, value) pairs here rather than by biip's whole-message parsers, for two reasons: a problem
is named in a sentence (the GTIN's check digit, a date that does not exist — YYMMDD, month 13,
DD=00 being the month's last day —, a value that does not fit its AI) where biip quotes a
regular expression; and a damaged UDI can be read leniently (``strict=False``): what can be
read is kept, the rest left out, so a search still finds a device by the serial of a UDI with
a wrong date. A test checks that every valid form reads as biip's own parsers read it.

HIBCC is read here (no library reads it): LIC (4 characters, the first a letter), product
code (1-18), unit of measure (one digit), then a check character (mod 43). Secondary data: ``$``
lot, ``$$`` expiry and lot, ``$+`` serial, ``$$+`` expiry and serial, the expiry in any of the
formats 0-7 (MMYY, MMDDYY, YYMMDD, YYMMDDHH, YYJJJ, YYJJJHH, none); the old form with a
5-digit Julian date (YYJJJ) then the lot; and the supplemental fields ``/S`` serial, ``/14D``
expiry and ``/16D`` manufacture date (YYYYMMDD). Not read: quantity fields (``$$8``, ``$$9``),
other supplemental fields, a secondary symbol on its own (it carries no DI), HIBC UPN (``+/``)
and ISBT 128. A UDI in one of those is refused, naming what is not supported.

The DI of a GS1 UDI is its GTIN as 14 digits; of an HIBCC UDI, LIC + product code + unit of
measure (without the ``+`` and the check character).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.symbology import SymbologyIdentifier

from tracegraph.errors import BadInput

__all__ = ["Udi", "UdiError", "check_gtin", "gtin_check_digit", "parse_udi"]

Issuer = Literal["GS1", "HIBCC"]

GS: Final = "\x1d"
#: What scans pasted from other tools put where the scanner sent GS (FNC1).
_GS_STAND_INS: Final = ("\u241d", "<GS>", "{GS}", "[GS]", "<FNC1>", "{FNC1}", "[FNC1]")
#: GS1 AIs whose value is a date YYMMDD.
_DATE_AIS: Final = frozenset({"11", "12", "13", "15", "16", "17"})
#: Digital Link path qualifiers of a GTIN, in the order the standard requires.
_DL_QUALIFIERS: Final = ("22", "10", "21")
_HIBC_CHARS: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"
_HIBC_PRIMARY = re.compile(r"([A-Z][A-Z0-9]{3})([A-Z0-9]{1,18})([0-9])")
_HIBC_ID = re.compile(r"[A-Z0-9]{0,18}")


class UdiError(BadInput):
    """A UDI that cannot be read; the message names the UDI and what is wrong with it."""

    type = "/problems/bad-udi"
    title = "Bad UDI"


@dataclass(frozen=True)
class Udi:
    """The parts of one UDI. Two UDIs of the same device in different forms are equal."""

    issuer: Issuer
    #: GS1: the GTIN as 14 digits; HIBCC: LIC + product code + unit of measure.
    di: str
    lot: str | None = None
    serial: str | None = None
    expires: dt.date | None = None
    manufactured: dt.date | None = None

    def derived(self) -> dict[str, str]:
        """The Device fields derived from its UDI (§7): ``udi_di``, ``udi_lot``, ``udi_serial``,
        ``udi_expires``, ``udi_manufactured`` (ISO dates), only those the UDI has."""
        out = {"udi_di": self.di}
        if self.lot is not None:
            out["udi_lot"] = self.lot
        if self.serial is not None:
            out["udi_serial"] = self.serial
        if self.expires is not None:
            out["udi_expires"] = self.expires.isoformat()
        if self.manufactured is not None:
            out["udi_manufactured"] = self.manufactured.isoformat()
        return out


def gtin_check_digit(payload: str) -> int:
    """The GS1 check digit of a GTIN's first digits (all but the check digit)."""
    if not payload.isascii() or not payload.isdigit():
        raise UdiError(f"GTIN {payload!r}: only digits can have a GS1 check digit")
    return gs1_standard_check_digit(payload)


def check_gtin(gtin: str) -> str:
    """The GTIN as 14 digits, once its length and check digit are right; `UdiError` naming
    the problem otherwise (``GTIN '09501101530004': check digit is 4, expected 3``)."""
    text = gtin.strip()
    problem = _gtin_problem(text)
    if problem:
        raise UdiError(f"GTIN {gtin!r}: {problem}")
    return text.zfill(14)


@functools.lru_cache(maxsize=4096)
def _gtin_problem(text: str) -> str | None:
    """What is wrong with a GTIN, or None. Kept for the last few thousand asked: an import
    asks once per device, and the devices of one product share a GTIN."""
    if not text.isascii() or not text.isdigit() or len(text) not in (8, 12, 13, 14):
        return "a GTIN is 8, 12, 13 or 14 digits"
    expected = gs1_standard_check_digit(text[:-1])
    if int(text[-1]) != expected:
        return f"check digit is {text[-1]}, expected {expected}"
    return None


def parse_udi(text: str, *, strict: bool = True) -> Udi:
    """The parts of a UDI in any form the module docstring lists.

    ``strict`` (the default): any problem raises `UdiError`, a sentence naming the UDI and the
    problem. ``strict=False`` reads what it can: a DI with a wrong check digit or character is
    kept as written, a part that is wrong (a date that does not exist, an unknown AI, a value
    that does not fit its AI) is left out; it still raises when the text is in no UDI form or
    names no DI, and for what is not supported.
    """
    shown = text if len(text) <= 120 else text[:117] + "..."
    read = _Reader(shown, strict)
    body = text.strip()
    if body.startswith("]"):
        try:
            symbology = SymbologyIdentifier.extract(body)
        except (ParseError, IndexError):
            raise read.fail(f"{body[:3]!r} is not a symbology identifier") from None
        body = body[len(symbology) :]
    for stand_in in _GS_STAND_INS:
        body = body.replace(stand_in, GS)
    body = body.lstrip(GS)  # a leading FNC1 only says "GS1 data follows"
    if body.startswith("+"):
        return _hibcc(body.upper(), read)
    if body[:8].lower().startswith(("http://", "https://")):
        return _gs1(body, "link", read)
    if body.startswith("("):
        return _gs1(body, "hri", read)
    if body[:2].isdigit():
        return _gs1(body, "raw", read)
    raise read.fail(
        "not a UDI: expected GS1 text with (AI)s, a scanned GS1 element string, a GS1 Digital "
        "Link URI or an HIBCC code starting with '+'"
    )


class _Reader:
    """Where the problems of one UDI go: raised when strict, passed over when not."""

    def __init__(self, shown: str, strict: bool) -> None:
        self.shown = shown
        self.strict = strict

    def fail(self, message: str) -> UdiError:
        return UdiError(f"UDI {self.shown!r}: {message}")

    def problem(self, message: str) -> None:
        if self.strict:
            raise self.fail(message)


# --------------------------------------------------------------------------- GS1

Form = Literal["hri", "raw", "link"]


def _gs1(body: str, form: Form, read: _Reader) -> Udi:
    pairs = _pairs_checked(body, form, read)
    if "01" not in pairs:
        raise read.fail(_no_gtin(pairs))
    return Udi(
        "GS1",
        pairs["01"],
        lot=pairs.get("10"),
        serial=pairs.get("21"),
        expires=_gs1_date(pairs["17"]) if "17" in pairs else None,
        manufactured=_gs1_date(pairs["11"]) if "11" in pairs else None,
    )


def _no_gtin(pairs: dict[str, str]) -> str:
    if "00" in pairs:
        return "an SSCC (00) names a logistic unit, not a device; a UDI starts with (01) GTIN"
    return "no (01) GTIN, so no device identifier (DI)"


def _pairs_checked(body: str, form: Form, read: _Reader) -> dict[str, str]:
    """The (AI, value) pairs of a GS1 UDI, each checked; a wrong one is a problem, and left
    out when not strict."""
    # Problems of the layout are named after those of the values read before them.
    layout: list[str] = []
    if form == "hri":
        pairs = _hri_pairs(body, layout)
    elif form == "link":
        pairs = _link_pairs(body, layout, read)
    else:
        pairs = _raw_pairs(body, layout)
    kept: dict[str, str] = {}
    for code, value in pairs:
        ai = _ai(code)
        if ai is None:
            read.problem(f"({code}) is not a GS1 application identifier")
            continue
        problem = _element_problem(ai, value)
        if problem:
            read.problem(problem)
            # A GTIN with a wrong check digit is still the DI the label carries.
            if code != "01" or not (value.isdigit() and len(value) == 14):
                continue
        if kept.get(code, value) != value:
            read.problem(f"({code}) is given twice, as {kept[code]!r} and {value!r}")
            continue
        kept[code] = value
    for problem in layout:
        read.problem(problem)
    return kept


def _element_problem(ai: GS1ApplicationIdentifier, value: str) -> str | None:
    """What is wrong with one element string, as a sentence; None if nothing."""
    if ai.ai == "01":
        if not value.isascii() or not value.isdigit() or len(value) != 14:
            return f"(01) {value!r}: a GTIN in a UDI is 14 digits"
        problem = _gtin_problem(value)
        return f"GTIN {problem}" if problem else None
    if ai.ai in _DATE_AIS:
        try:
            _gs1_date(value)
        except ValueError as exc:
            return f"({ai.ai}) {value!r} is not a date YYMMDD: {exc}"
        return None
    if not _pattern(ai.pattern).fullmatch(ai.ai + value):
        return f"({ai.ai}) {value!r} does not fit {ai.data_title}, format {ai.format}"
    return None


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _hri_pairs(body: str, layout: list[str]) -> list[tuple[str, str]]:
    compact = "".join(body.split())
    pairs: list[tuple[str, str]] = re.findall(r"\((\d{2,4})\)([^(]*)", compact)
    if "".join(f"({a}){v}" for a, v in pairs) != compact:
        layout.append("not in the form (AI)value(AI)value...")
    return pairs


def _link_pairs(body: str, layout: list[str], read: _Reader) -> list[tuple[str, str]]:
    url = urlsplit(body)
    parts = url.path.split("/")
    if "01" not in parts:
        raise read.fail("a Digital Link names a device by /01/ followed by its GTIN")
    path = parts[parts.index("01") :]
    if path and path[-1] == "":
        path.pop()  # a trailing slash
    if len(path) % 2:
        layout.append(f"the path after /01/ is not in /AI/value pairs: {'/'.join(path)!r}")
        path.pop()
    pairs = [(path[i], unquote(path[i + 1])) for i in range(0, len(path), 2)]
    code, gtin = pairs[0]
    if gtin.isdigit() and len(gtin) in (8, 12, 13):
        pairs[0] = (code, gtin.zfill(14))  # a Digital Link may shorten the GTIN
    qualifiers = [a for a, _ in pairs[1:]]
    if qualifiers != [q for q in _DL_QUALIFIERS if q in qualifiers]:
        layout.append(
            "the path after /01/{GTIN} takes /22/, /10/ and /21/ in that order, each at most once"
        )
    for key, values in parse_qs(url.query, keep_blank_values=True).items():
        if key.isdigit() and _ai(key) is not None:
            pairs.append((key, values[-1]))
    return pairs


def _raw_pairs(body: str, layout: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    rest = body
    while rest:
        ai = _ai_at(rest)
        if ai is None:
            layout.append(f"no GS1 application identifier at {rest[:6]!r}")
            break
        data = rest[len(ai.ai) :]
        width = _fixed_width(ai)
        if width is None:
            value, _, rest = data.partition(GS)
        else:
            value, rest = data[:width], data[width:]
        pairs.append((ai.ai, value))
        rest = rest.lstrip(GS)
    return pairs


@functools.cache
def _ai(code: str) -> GS1ApplicationIdentifier | None:
    """The GS1 AI ``code`` exactly, from biip's table; None if there is none."""
    try:
        found = GS1ApplicationIdentifier.extract(code)
    except ParseError:
        return None
    return found if found.ai == code else None


def _ai_at(text: str) -> GS1ApplicationIdentifier | None:
    """The AI a raw element string starts with (AIs are prefix-free: at most one fits)."""
    for size in (2, 3, 4):
        ai = _ai(text[:size]) if text[:size].isdigit() else None
        if ai is not None:
            return ai
    return None


def _fixed_width(ai: GS1ApplicationIdentifier) -> int | None:
    """How many characters follow a predefined-length AI (``N2+N14``: 14); None if the AI's
    value runs to the next GS."""
    if ai.separator_required:
        return None
    match = re.fullmatch(r"N\d\+N(\d+)", ai.format)
    return int(match.group(1)) if match else None


@functools.lru_cache(maxsize=8192)  # a store's UDIs share few dates: read each once
def _gs1_date(value: str) -> dt.date:
    """A GS1 date YYMMDD: the century by the GS1 sliding window (General Specifications
    7.12: up to 49 years back and 50 ahead), and DD=00 the month's last day."""
    if len(value) != 6 or not value.isascii() or not value.isdigit():
        raise ValueError("six digits are needed")
    yy, mm, dd = int(value[:2]), int(value[2:4]), int(value[4:])
    this_year = dt.datetime.now(dt.UTC).year
    century = this_year - this_year % 100
    if 51 <= yy - this_year % 100 <= 99:
        century -= 100
    elif -99 <= yy - this_year % 100 <= -50:
        century += 100
    return _day(century + yy, mm, dd)


def _day(year: int, month: int, day: int) -> dt.date:
    if not 1 <= month <= 12:
        raise ValueError(f"there is no month {month:02d}")
    last = calendar.monthrange(year, month)[1]
    if day == 0:
        return dt.date(year, month, last)
    if day > last:
        raise ValueError(f"{calendar.month_name[month]} {year} has {last} days, not {day}")
    return dt.date(year, month, day)


# --------------------------------------------------------------------------- HIBCC


def _hibc_check(data: str) -> str:
    """The mod-43 check character of HIBC data (everything before it, the leading ``+`` too),
    every character of which is one of `_HIBC_CHARS`."""
    return _HIBC_CHARS[sum(_HIBC_CHARS.index(c) for c in data) % 43]


@dataclass
class _Secondary:
    lot: str | None = None
    serial: str | None = None
    expires: dt.date | None = None
    manufactured: dt.date | None = None


def _hibcc(body: str, read: _Reader) -> Udi:
    # Two symbols are split where a secondary one starts ("+$", or "+" and a digit).
    symbols = re.split(r"\s+(?=\+[$0-9])", body)
    if len(symbols) > 2:
        raise read.fail("an HIBCC UDI is one symbol, or a primary and a secondary symbol")
    first = symbols[0]
    if first.startswith("+/"):
        raise read.fail("HIBC UPN codes (+/) are not supported; use the LIC primary symbol")
    if first[1:2].isdigit() or first[1:2] == "$":
        raise read.fail(
            "this is a secondary HIBCC symbol (lot, serial, dates) without its primary "
            "symbol: scan the primary too, it carries the DI"
        )
    data: list[str] = []
    checks: list[str] = []
    for symbol in symbols:
        if not symbol.startswith("+") or len(symbol) < 3:
            raise read.fail(f"{symbol!r} is not an HIBCC symbol (+data, check character)")
        bad = sorted({c for c in symbol if c not in _HIBC_CHARS})
        if bad:
            raise read.fail(f"{bad[0]!r} is not an HIBC character (0-9, A-Z, - . space $ / + %)")
        body_of, check = _hibc_checked(symbol, read)
        data.append(body_of)
        checks.append(check)
    primary, slash, secondary = data[0][1:].partition("/")
    match = _HIBC_PRIMARY.fullmatch(primary)
    if match is None:
        raise read.fail(
            f"HIBC primary {primary!r} is not LIC (a letter and 3 letters or digits), product "
            "code (1-18 letters or digits) and unit of measure (a digit)"
        )
    if len(symbols) == 2:
        if slash:
            raise read.fail("a primary symbol with its own secondary data is followed by another")
        link, secondary = data[1][-1], data[1][1:-1]
        if link != checks[0]:
            read.problem(
                f"the secondary symbol links to a primary whose check character is {link!r}, "
                f"not {checks[0]!r}: the two symbols are from different labels"
            )
    found = _hibc_secondary(secondary, read) if (slash or len(symbols) == 2) else _Secondary()
    return Udi(
        "HIBCC",
        "".join(match.groups()),
        lot=found.lot,
        serial=found.serial,
        expires=found.expires,
        manufactured=found.manufactured,
    )


def _hibc_checked(symbol: str, read: _Reader) -> tuple[str, str]:
    """A symbol's data (with its ``+``) and its check character, checked. A check character
    that is a space is often trimmed away (by the scan, a spreadsheet, an import): a symbol
    whose whole text checks to a space is read as having lost it."""
    expected = _hibc_check(symbol[:-1])
    if symbol[-1] == expected:
        return symbol[:-1], expected
    if _hibc_check(symbol) == " ":
        return symbol, " "
    read.problem(f"HIBC check character is {symbol[-1]!r}, expected {expected!r}")
    return symbol[:-1], symbol[-1]


#: HIBC expiry formats by the digit after ``$$``: (width of the date, how to read it); the
#: digits 0 and 1 are the first digit of MMYY itself.
_HIBC_DATES: dict[str, tuple[int, Callable[[str], dt.date]]] = {
    "0": (4, lambda v: _hibc_ymd(v[2:4], v[:2], "00")),
    "1": (4, lambda v: _hibc_ymd(v[2:4], v[:2], "00")),
    "2": (6, lambda v: _hibc_ymd(v[4:6], v[:2], v[2:4])),
    "3": (6, lambda v: _hibc_ymd(v[:2], v[2:4], v[4:6])),
    "4": (8, lambda v: _hibc_ymd(v[:2], v[2:4], v[4:6])),
    "5": (5, lambda v: _julian(v[:2], v[2:5])),
    "6": (7, lambda v: _julian(v[:2], v[2:5])),
}


def _hibc_ymd(yy: str, mm: str, dd: str) -> dt.date:
    if not (yy + mm + dd).isdigit():
        raise ValueError("the date is not all digits")
    return _day(2000 + int(yy), int(mm), int(dd))


def _julian(yy: str, jjj: str) -> dt.date:
    if not (yy + jjj).isdigit():
        raise ValueError("the date is not all digits")
    year, day = 2000 + int(yy), int(jjj)
    if not 1 <= day <= (366 if calendar.isleap(year) else 365):
        raise ValueError(f"{year} has no day {day}")
    return dt.date(year, 1, 1) + dt.timedelta(days=day - 1)


def _yyyymmdd(value: str) -> dt.date:
    if len(value) != 8 or not value.isdigit():
        raise ValueError("YYYYMMDD is eight digits")
    return _day(int(value[:4]), int(value[4:6]), int(value[6:]))


def _hibc_secondary(data: str, read: _Reader) -> _Secondary:
    """Lot, serial and dates of HIBC secondary data (without its ``+``, link and check)."""
    out = _Secondary()
    main, *supplements = data.split("/")
    serial = main.startswith(("$+", "$$+"))
    if main.startswith("$$"):
        rest = main[3:] if serial else main[2:]
        flag = rest[:1]
        if flag in ("8", "9"):
            raise read.fail("HIBC quantity fields ($$8, $$9) are not supported")
        if flag == "7":
            rest = rest[1:]
        elif flag in _HIBC_DATES:
            width, reader = _HIBC_DATES[flag]
            start = 0 if flag in "01" else 1
            value, rest = rest[start : start + width], rest[start + width :]
            try:
                out.expires = reader(value)
            except ValueError as exc:
                read.problem(f"HIBC expiry {value!r} is not a date: {exc}")
        else:
            raise read.fail(f"HIBC secondary data {data!r}: no expiry format {flag!r}")
    elif main.startswith("$"):
        rest = main[2:] if serial else main[1:]
    elif main[:5].isdigit():  # the old form: YYJJJ, then the lot
        try:
            out.expires = _julian(main[:2], main[2:5])
        except ValueError as exc:
            read.problem(f"HIBC expiry {main[:5]!r} is not a date: {exc}")
        rest = main[5:]
    else:
        raise read.fail(f"HIBC secondary data {data!r} starts with neither '$' nor a date")
    if not _HIBC_ID.fullmatch(rest):
        read.problem(f"HIBC {'serial' if serial else 'lot'} {rest!r} is not 0-18 letters or digits")
    elif rest:
        out.serial, out.lot = (rest, None) if serial else (None, rest)
    for field in supplements:
        if field.startswith("S") and _HIBC_ID.fullmatch(field[1:]) and field[1:]:
            out.serial = field[1:]
        elif field.startswith(("14D", "16D")):
            try:
                day = _yyyymmdd(field[3:])
            except ValueError as exc:
                read.problem(f"HIBC date /{field}: {exc}")
                continue
            if field.startswith("14D"):
                out.expires = day
            else:
                out.manufactured = day
        else:
            raise read.fail(
                f"HIBC supplemental field /{field} is not supported (only /S serial, "
                "/14D expiry and /16D manufacture date)"
            )
    return out
