"""Find nodes by what a user has at hand: a key, an id, a device serial, a UDI in any form (as
printed or as scanned: see `tracegraph.udi`), or a piece of a name.

Matches come in tiers, best first; within a tier, by key:

1. ``key`` — the text is a key (``Device:D-000117``) of a node in the store;
2. ``id`` — the text is the id of a node of any type (``D-000117``, ``L-2026-0042``);
3. ``udi`` — the text is a UDI naming a device by DI and serial: the device whose own UDI (in any
   form) has that DI and serial, and no other part that differs;
4. ``udi lot`` — the text is a UDI with a DI and a lot, and no device has its serial (or it has
   none): the devices whose UDI has that DI and lot;
5. ``udi di`` — the text is a UDI that names no device or lot in the store: the products whose
   GTIN is its DI;
6. ``serial`` — the text is a device's serial (its UDI's serial, or its ``source_ref``), or a UDI
   whose serial is a device's but whose other parts differ (or which is not valid);
7. ``serial contains`` — the text (not a UDI) is part of a device's serial or ``source_ref``,
   ignoring case (``SN00001`` finds ``SN0000132``);
8. ``id contains`` / ``text contains`` — the text is part of an id (any type), or of a name,
   title or description (master data and complaints), ignoring case.

An exact match (tiers 1-5) ends the search: who scans a device wants that device, not its lot.
Parts are compared, never strings: a device whose UDI is stored as a Digital Link is found by a
scan of its Data Matrix. A UDI names its product by its DI, so only that product's devices are
read first; every device is read (in chunks) only when none of them matches, or for a bare
serial or a piece of text: the cost is one ``keys_of_type`` per type and one ``nodes`` per chunk
of candidates, and a device's UDI is parsed only when it contains the serial or lot looked for.
A text that is a UDI but not a valid one (a wrong check digit, month 13) still finds a device
by its serial, and the answer's ``notes`` say what is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

from tracegraph import epc
from tracegraph.errors import BadInput
from tracegraph.layout import describe
from tracegraph.model import Direction, EntityType, RelType
from tracegraph.store.base import GraphStore, StoredNode
from tracegraph.udi import Udi, UdiError, parse_udi

E = EntityType
R = RelType

DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 200
MAX_QUERY: Final = 500
CHUNK: Final = 5_000

#: Which tier each kind of match is in (lower is better).
TIERS: Final = (
    "key",
    "id",
    "udi",
    "udi lot",
    "udi di",
    "serial",
    "serial contains",
    "id contains",
    "text contains",
    "type",
)

#: Fields whose text a search looks into, by type (only types with few nodes, and complaints).
TEXT_FIELDS: Final = {
    E.Supplier: ("name", "country"),
    E.Customer: ("name", "country"),
    E.Material: ("name", "category"),
    E.Product: ("name", "gtin"),
    E.Equipment: ("name",),
    E.Process: ("name",),
    E.Document: ("title",),
    E.ChangeOrder: ("title",),
    E.Certificate: ("kind",),
    E.Complaint: ("description",),
}

_AI = re.compile(r"\((\d{2,4})\)([^(]*)")


def udi_parts(text: str) -> dict[str, str]:
    """The application identifiers of a GS1 UDI in human-readable form: ``{"01": gtin, "21":
    serial, ...}``; empty if the text is not one. (Only the parenthesised form, unchecked:
    `tracegraph.udi.parse_udi` reads every form.)"""
    compact = "".join(text.split())
    if not compact.startswith("("):
        return {}
    parts = dict(_AI.findall(compact))
    if "".join(f"({k}){v}" for k, v in _AI.findall(compact)) != compact:
        return {}
    return parts


@dataclass(frozen=True)
class Match:
    node: StoredNode
    how: str
    #: Why it matched, in words: "UDI DI 09501101530003 and serial SN1".
    why: str = ""

    def as_json(self) -> dict[str, Any]:
        n = self.node
        return {
            "key": n.key,
            "type": str(n.type),
            "id": n.id,
            "label": describe(n),
            "match": self.how,
            "why": self.why or self.how,
        }


@dataclass(frozen=True)
class SearchResult:
    query: str
    type: EntityType | None
    #: The best ``limit`` matches from ``offset`` on, best first.
    matches: list[Match]
    #: How many matched in all.
    total: int
    #: The parts of the query, when it is a UDI.
    udi: Udi | None = None
    #: What the answer should make clear (a UDI that is not valid).
    notes: tuple[str, ...] = ()
    #: How many better matches were left out before ``matches`` (the page shows the next ones).
    offset: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "type": str(self.type) if self.type else None,
            "total": self.total,
            "matches": [m.as_json() for m in self.matches],
            "counts": {"matches": self.total, "shown": len(self.matches)},
            "offset": self.offset,
            "udi": self.udi.derived() if self.udi else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Wanted:
    """What the devices are compared with: a UDI's parts, or a bare serial."""

    #: The query's UDI; None for a bare serial.
    udi: Udi | None
    #: The UDI is valid, so its DI, lot and serial can name a device or a lot exactly.
    exact: bool
    #: The serial to look for (casefolded): the UDI's, or the text itself.
    serial: str | None

    @property
    def needles(self) -> list[str]:
        """Texts a device's UDI must contain to be worth parsing."""
        lot = self.udi.lot if self.udi and self.exact else None
        return [t.casefold() for t in (self.serial, lot) if t]


def _chunks(keys: Sequence[str]) -> Iterator[Sequence[str]]:
    for at in range(0, len(keys), CHUNK):
        yield keys[at : at + CHUNK]


def _di_of(value: Any) -> str:
    """A product's ``gtin`` as a UDI's DI: a GS1 GTIN as 14 digits, anything else (an HIBCC
    DI) in capitals without a leading ``+``."""
    text = "".join(str(value or "").split())
    if text.isdigit() and len(text) in (8, 12, 13, 14):
        return text.zfill(14)
    return text.upper().removeprefix("+")


def _products_of_di(store: GraphStore, di: str) -> list[StoredNode]:
    products = store.nodes(store.keys_of_type(E.Product))
    return [p for _, p in sorted(products.items()) if _di_of(p.props.get("gtin")) == di]


def _devices_of(store: GraphStore, products: Sequence[StoredNode]) -> list[str]:
    batches = [e.dst for e in store.edges([p.key for p in products], [R.HAS_BATCH], Direction.down)]
    return sorted({e.dst for e in store.edges(batches, [R.PRODUCED], Direction.down)})


def _device_udi(node: StoredNode, needles: Sequence[str]) -> Udi | None:
    """The parts of a device's UDI, read leniently; None if it has none, if it cannot be read,
    or if it contains none of the needles (so most devices are never parsed)."""
    text = str(node.props.get("udi") or "")
    if not text:
        return None
    hay = text.casefold()
    if "%" in hay:
        hay += " " + unquote(hay)  # a Digital Link escapes some characters
    if not any(n in hay for n in needles):
        return None
    try:
        return parse_udi(text, strict=False)
    except UdiError:
        return None


def _agree(a: Udi, b: Udi) -> bool:
    """The two UDIs name the same unit: same DI and serial, and no part that both have differs."""
    return (
        a.issuer == b.issuer
        and a.di == b.di
        and a.serial is not None
        and a.serial == b.serial
        and all(
            x is None or y is None or x == y
            for x, y in (
                (a.lot, b.lot),
                (a.expires, b.expires),
                (a.manufactured, b.manufactured),
            )
        )
    )


def _device_matches(store: GraphStore, wanted: Wanted, keys: Sequence[str]) -> Iterator[Match]:
    """Devices the UDI names (by DI and serial, or by DI and lot), or whose serial (UDI serial
    or ``source_ref``) is the serial looked for."""
    needles = wanted.needles
    scanned = wanted.udi if wanted.exact else None
    for chunk in _chunks(keys):
        for _, node in sorted(store.nodes(chunk).items()):
            own = _device_udi(node, needles) if needles else None
            if scanned is not None and own is not None and _agree(scanned, own):
                yield Match(node, "udi", f"UDI DI {own.di} and serial {own.serial}")
                continue
            if (
                scanned is not None
                and own is not None
                and scanned.lot is not None
                and (own.issuer, own.di, own.lot) == (scanned.issuer, scanned.di, scanned.lot)
            ):
                yield Match(node, "udi lot", f"UDI DI {own.di} and lot {own.lot}")
                continue
            if not wanted.serial:
                continue
            ref = str(node.props.get("source_ref") or "")
            if own is not None and own.serial and own.serial.casefold() == wanted.serial:
                yield Match(node, "serial", f"serial {own.serial} (its UDI)")
            elif ref.casefold() == wanted.serial:
                yield Match(node, "serial", f"serial {ref} (its source_ref)")
            elif wanted.udi is not None:
                continue
            elif own is not None and own.serial and wanted.serial in own.serial.casefold():
                yield Match(node, "serial contains", f"serial {own.serial} (its UDI)")
            elif wanted.serial in ref.casefold():
                yield Match(node, "serial contains", f"serial {ref} (its source_ref)")


def _contains(store: GraphStore, needle: str, types: Iterable[EntityType]) -> Iterator[Match]:
    lowered = needle.casefold()
    for type_ in types:
        keys = store.keys_of_type(type_)
        hits = [k for k in keys if lowered in k.partition(":")[2].casefold()]
        for node in sorted(store.nodes(hits).values(), key=lambda n: n.key):
            yield Match(node, "id contains", f"id contains {needle!r}")
        fields = TEXT_FIELDS.get(type_)
        if not fields:
            continue
        rest = sorted(set(keys) - set(hits))
        for chunk in _chunks(rest):
            for node in sorted(store.nodes(chunk).values(), key=lambda n: n.key):
                field = next(
                    (f for f in fields if lowered in str(node.props.get(f, "")).casefold()), None
                )
                if field is not None:
                    yield Match(node, "text contains", f"{field} contains {needle!r}")


def _type(text: str | None) -> EntityType | None:
    if text is None or not text.strip():
        return None
    try:
        return EntityType(text.strip())
    except ValueError:
        raise BadInput(f"type {text!r}: one of {', '.join(EntityType)}") from None


def _scanned(text: str) -> tuple[Udi | None, bool, str | None]:
    """The text read as a UDI: (its parts, whether it is valid, what is wrong with it). Parts
    None: the text is no UDI at all."""
    try:
        return parse_udi(text), True, None
    except UdiError as exc:
        try:
            return parse_udi(text, strict=False), False, exc.message
        except UdiError:
            return None, False, None


def search(
    store: GraphStore,
    query: str,
    *,
    type_: str | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> SearchResult:
    """Nodes matching ``query`` (see the module docstring), of one type if ``type_`` is given;
    an empty query with a type lists that type's nodes. The answer holds the ``limit`` best
    matches after the first ``offset`` (the next page of a long list) and how many there are."""
    text = query.strip()
    only = _type(type_)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit {limit}: must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise BadInput(f"offset {offset}: must be 0 or more")
    window = slice(offset, offset + limit)
    if len(text) > MAX_QUERY:
        raise BadInput(f"q: at most {MAX_QUERY} characters")
    types = [only] if only else list(EntityType)
    if not text:
        if only is None:
            raise BadInput("q: empty; give a key, an id, a serial, a UDI or a name")
        keys = store.keys_of_type(only)
        listed = store.nodes(keys[window])
        shown = [Match(listed[k], "type", f"a {only}") for k in keys[window]]
        return SearchResult(text, only, shown, len(keys), offset=offset)

    found: dict[str, Match] = {}

    def keep(matches: Iterable[Match]) -> None:
        for m in matches:
            if m.node.key not in found:
                found[m.node.key] = m

    kind, sep, ident = text.partition(":")
    if sep and kind in EntityType.__members__ and ident and (only is None or kind == only):
        keep(Match(n, "key", "its key") for n in store.nodes([text]).values())
    keep(Match(n, "id", "its id") for n in store.nodes(f"{t}:{text}" for t in types).values())
    if not found and text[:8].lower() == "urn:epc:":
        # An EPC URN names the node EPCIS capture made of it: its id is the canonical id the
        # URN and its Digital Link share (docs/epcis.md).
        canonical: str | None
        try:
            canonical = epc.canonical(text)
        except epc.EpcError:
            canonical = None
        if canonical is not None:
            named = store.nodes(f"{t}:{canonical}" for t in types).values()
            keep(Match(n, "id", "its EPC (URN)") for n in named)
    want_devices = only in (None, E.Device)
    udi, exact, problem = _scanned(text) if not found else (None, False, None)
    if udi is not None:
        products = _products_of_di(store, udi.di) if exact else []
        wanted = Wanted(udi, exact, udi.serial.casefold() if udi.serial else None)
        if want_devices and wanted.needles:  # a bare DI names no device
            first = _devices_of(store, products) if products else []
            keep(_device_matches(store, wanted, first))
            if not found:
                rest = sorted(set(store.keys_of_type(E.Device)) - set(first))
                keep(_device_matches(store, wanted, rest))
        if not found and only in (None, E.Product):
            keep(Match(p, "udi di", f"its gtin is the UDI's DI {udi.di}") for p in products)
    elif not found:
        if want_devices:
            every = store.keys_of_type(E.Device)
            keep(_device_matches(store, Wanted(None, False, text.casefold()), every))
        keep(_contains(store, text, types))
    ranked = sorted(found.values(), key=lambda m: (TIERS.index(m.how), m.node.key))
    if ranked and ranked[0].how == "udi":
        # The unit scanned is the answer; its lot's devices or namesakes would only hide it.
        ranked = [m for m in ranked if m.how == "udi"]
    notes: tuple[str, ...] = ()
    if problem:
        notes = (f"{problem}; only its serial was looked for" if udi and udi.serial else problem,)
    return SearchResult(text, only, ranked[window], len(ranked), udi, notes, offset)
