"""Find nodes by what a user has at hand: a key, an id, a device serial or a full GS1 UDI string,
or a piece of a name.

Matches come in tiers, best first; within a tier, by key:

1. ``key`` — the text is a key (``Device:D-000117``) of a node in the store;
2. ``id`` — the text is the id of a node of any type (``D-000117``, ``L-2026-0042``);
3. ``udi`` — the text is a device's UDI (``(01)09501101530003(11)260113(21)SN000117``); a UDI
   whose serial ``(21)`` matches but whose other parts differ is a ``serial`` match;
4. ``serial`` — the text is a device's serial: its UDI's ``(21)`` part or its ``source_ref``;
5. ``id contains`` / ``text contains`` — the text is part of an id (any type), or of a name,
   title or description (master data and complaints), ignoring case.

An exact match (tiers 1-3) ends the search: who types an id wants that node, not its namesakes.
A UDI names its product by its GTIN ``(01)``, so only that product's devices are read; a bare
serial or a piece of text reads every device (in chunks), which on a large store takes a while:
the cost is one ``keys_of_type`` per type and one ``nodes`` per chunk of candidates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tracegraph.errors import BadInput
from tracegraph.layout import describe
from tracegraph.model import Direction, EntityType, RelType
from tracegraph.store.base import GraphStore, StoredNode

E = EntityType

DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 200
MAX_QUERY: Final = 500
CHUNK: Final = 5_000

#: Which tier each kind of match is in (lower is better).
TIERS: Final = ("key", "id", "udi", "serial", "id contains", "text contains", "type")

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
    serial, ...}``; empty if the text is not one."""
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

    def as_json(self) -> dict[str, Any]:
        n = self.node
        return {
            "key": n.key,
            "type": str(n.type),
            "id": n.id,
            "label": describe(n),
            "match": self.how,
        }


@dataclass(frozen=True)
class SearchResult:
    query: str
    type: EntityType | None
    #: The best ``limit`` matches, best first.
    matches: list[Match]
    #: How many matched in all.
    total: int

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "type": str(self.type) if self.type else None,
            "matches": [m.as_json() for m in self.matches],
            "counts": {"matches": self.total, "shown": len(self.matches)},
        }


def _chunks(keys: Sequence[str]) -> Iterator[Sequence[str]]:
    for at in range(0, len(keys), CHUNK):
        yield keys[at : at + CHUNK]


def _devices_of_gtin(store: GraphStore, gtin: str) -> list[str] | None:
    """The devices of the products with this GTIN; None if no product has it."""
    products = store.nodes(store.keys_of_type(E.Product))
    chosen = [k for k, p in products.items() if str(p.props.get("gtin", "")).strip() == gtin]
    if not chosen:
        return None
    batches = [e.dst for e in store.edges(chosen, [RelType.HAS_BATCH], Direction.down)]
    return sorted({e.dst for e in store.edges(batches, [RelType.PRODUCED], Direction.down)})


def _serial(node: StoredNode) -> str | None:
    return udi_parts(str(node.props.get("udi", ""))).get("21")


def _device_matches(store: GraphStore, text: str, keys: Sequence[str]) -> Iterator[Match]:
    """Devices whose UDI is the text, or whose serial (UDI (21) or source_ref) is its serial."""
    parts = udi_parts(text)
    wanted_udi = "".join(text.split()) if parts else None
    serial = (parts.get("21", "") if parts else text).casefold()
    for chunk in _chunks(keys):
        for _, node in sorted(store.nodes(chunk).items()):
            udi = "".join(str(node.props.get("udi", "")).split())
            if wanted_udi is not None and udi == wanted_udi:
                yield Match(node, "udi")
            elif serial and serial in {
                str(v).casefold() for v in (_serial(node), node.props.get("source_ref")) if v
            }:
                yield Match(node, "serial")


def _contains(store: GraphStore, needle: str, types: Iterable[EntityType]) -> Iterator[Match]:
    lowered = needle.casefold()
    for type_ in types:
        keys = store.keys_of_type(type_)
        hits = [k for k in keys if lowered in k.partition(":")[2].casefold()]
        for node in sorted(store.nodes(hits).values(), key=lambda n: n.key):
            yield Match(node, "id contains")
        fields = TEXT_FIELDS.get(type_)
        if not fields:
            continue
        rest = sorted(set(keys) - set(hits))
        for chunk in _chunks(rest):
            for node in sorted(store.nodes(chunk).values(), key=lambda n: n.key):
                if any(lowered in str(node.props.get(f, "")).casefold() for f in fields):
                    yield Match(node, "text contains")


def _type(text: str | None) -> EntityType | None:
    if text is None or not text.strip():
        return None
    try:
        return EntityType(text.strip())
    except ValueError:
        raise BadInput(f"type {text!r}: one of {', '.join(EntityType)}") from None


def search(
    store: GraphStore, query: str, *, type_: str | None = None, limit: int = DEFAULT_LIMIT
) -> SearchResult:
    """Nodes matching ``query`` (see the module docstring), of one type if ``type_`` is given;
    an empty query with a type lists that type's nodes."""
    text = query.strip()
    only = _type(type_)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit {limit}: must be between 1 and {MAX_LIMIT}")
    if len(text) > MAX_QUERY:
        raise BadInput(f"q: at most {MAX_QUERY} characters")
    types = [only] if only else list(EntityType)
    if not text:
        if only is None:
            raise BadInput("q: empty; give a key, an id, a serial, a UDI or a name")
        keys = store.keys_of_type(only)
        listed = store.nodes(keys[:limit])
        return SearchResult(text, only, [Match(listed[k], "type") for k in keys[:limit]], len(keys))

    found: dict[str, Match] = {}

    def keep(matches: Iterable[Match]) -> None:
        for m in matches:
            if m.node.key not in found:
                found[m.node.key] = m

    kind, sep, ident = text.partition(":")
    if sep and kind in EntityType.__members__ and ident and (only is None or kind == only):
        keep(Match(n, "key") for n in store.nodes([text]).values())
    keep(Match(n, "id") for n in store.nodes(f"{t}:{text}" for t in types).values())
    want_devices = only in (None, E.Device)
    parts = udi_parts(text)
    if not found and want_devices and parts.get("01"):
        scope = _devices_of_gtin(store, parts["01"])
        keep(_device_matches(store, text, scope or []))
    if not found:
        if want_devices:
            keep(_device_matches(store, text, store.keys_of_type(E.Device)))
        keep(_contains(store, text, types))
    ranked = sorted(found.values(), key=lambda m: (TIERS.index(m.how), m.node.key))
    return SearchResult(text, only, ranked[:limit], len(ranked))
