"""What a data-quality rule is, what it finds, and the facts it reads.

A rule is a function over `Facts` that yields `Finding`s. `Facts` reads the store the way the
dashboard does — every node of a type (one ``keys_of_type`` and one ``nodes`` per type) and
every edge of a relationship type (one ``edges`` from the keys of its source types) — and keeps
what it read, so the rules of a run share one read of each type: a whole check is a fixed
number of set reads, never a read per node, and it is the same code on every store.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from tracegraph.model import ENDPOINTS, Direction, EntityType, RelType, iso
from tracegraph.store.base import GraphStore
from tracegraph.words import plural

__all__ = [
    "EdgeTable",
    "Facts",
    "Finding",
    "Level",
    "NodeRow",
    "NodeTable",
    "Rule",
    "day",
    "gap",
    "listing",
    "plural",
    "rule",
]


class Level(StrEnum):
    """How much a finding matters: an error is wrong data, a warning a risk, info a note."""

    error = "error"
    warning = "warning"
    info = "info"


#: Most severe first (the order reports list findings in).
LEVELS: Final = (Level.error, Level.warning, Level.info)
RANK: Final = {level: n for n, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Level
    #: every node the finding is about (for a lot consumed before it was received: the lot
    #: and the batch)
    keys: tuple[str, ...]
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": str(self.severity),
            "keys": list(self.keys),
            "message": self.message,
        }


@dataclass(frozen=True)
class Rule:
    id: str
    family: str
    severity: Level
    description: str
    find: Callable[[Facts], Iterable[tuple[tuple[str, ...], str]]]

    def run(self, facts: Facts) -> list[Finding]:
        return [
            Finding(self.id, self.severity, keys, message) for keys, message in self.find(facts)
        ]


#: Every rule, by id, in the order the families registered them.
REGISTRY: Final[dict[str, Rule]] = {}

Found = Iterator[tuple[tuple[str, ...], str]]


def rule(
    rule_id: str, severity: Level, description: str
) -> Callable[[Callable[[Facts], Found]], Callable[[Facts], Found]]:
    """Register the decorated function as the rule ``rule_id`` (``family.name``): it yields
    (keys, message) for each finding."""

    def register(find: Callable[[Facts], Found]) -> Callable[[Facts], Found]:
        if rule_id in REGISTRY:
            raise ValueError(f"rule {rule_id!r} registered twice")
        family = rule_id.partition(".")[0]
        REGISTRY[rule_id] = Rule(rule_id, family, severity, description, find)
        return find

    return register


#: How many keys one read of the store is given: a check of a million devices reads them in
#: pages, so the rows of one page, not of a whole type, are held as the store gives them.
PAGE: Final = 20_000
#: The same for the nodes whose edges are read: a lot may have been consumed in dozens of
#: batches, so fewer of them make a page.
EDGE_PAGE: Final = 2_000

#: The kinds of value a column keeps once however often they occur (of the kinds that take
#: room; none of them equals a value of another, as 1 equals True and 1.0), and the kind of
#: `_ABSENT`.
_SHAREABLE: Final = frozenset({str, dt.date, dt.datetime, object})

#: What a column holds for a record without that field.
_ABSENT: Final = object()


class NodeRow:
    """One node of a `NodeTable`, as the rules read it: its key and its fields (a dict made
    the first time they are asked for)."""

    __slots__ = ("_i", "_props", "_table", "key")

    def __init__(self, table: NodeTable, i: int, key: str) -> None:
        self._table, self._i, self.key = table, i, key
        self._props: dict[str, Any] | None = None

    @property
    def props(self) -> dict[str, Any]:
        if self._props is None:
            i = self._i
            self._props = {
                name: value
                for name, column in self._table.columns.items()
                if (value := column[i]) is not _ABSENT
            }
        return self._props


class _Columns:
    """Records' fields as one list per field name (`_ABSENT` where a record has none): a
    million devices' fields in a few lists, not a million dicts. Equal values of one field
    are kept once (a batch's consumption time on each of its lots' edges, a status)."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {}
        self.size = 0
        self._seen: dict[str, dict[Any, Any]] = {}

    def extend(self, page: list[dict[str, Any]]) -> None:
        """Add a page of records' fields, column by column."""
        n = self.size
        for name in set[str]().union(*page):
            if name not in self.columns:
                self.columns[name] = [_ABSENT] * n
                self._seen[name] = {}
        for name, column in self.columns.items():
            values = [p.get(name, _ABSENT) for p in page]
            if set(map(type, values)) <= _SHAREABLE:
                seen = self._seen[name]
                values = list(map(seen.setdefault, values, values))
            column += values
        self.size = n + len(page)

    def done(self) -> None:
        self._seen.clear()

    def column(self, name: str) -> list[Any]:
        """The field's value of every record, in order (None where a record has none)."""
        column = self.columns.get(name)
        if column is None:
            return [None] * self.size
        return [None if v is _ABSENT else v for v in column]


class NodeTable(_Columns, Mapping[str, NodeRow]):
    """Every node of one type, by key: what `Facts.nodes` gives."""

    def __init__(self) -> None:
        _Columns.__init__(self)
        self._index: dict[str, int] = {}

    def add(self, keys: list[str], props: list[dict[str, Any]]) -> None:
        """Add a page of nodes: their keys and their fields."""
        self._index.update(zip(keys, range(self.size, self.size + len(keys)), strict=True))
        self.extend(props)

    def __getitem__(self, key: str) -> NodeRow:
        return NodeRow(self, self._index[key], key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def value(self, key: str, name: str) -> Any:
        """One field of one node; None when the node or the field is missing."""
        i = self._index.get(key)
        column = self.columns.get(name)
        if i is None or column is None:
            return None
        value = column[i]
        return None if value is _ABSENT else value


class EdgeTable(_Columns):
    """Every edge of one type with its fields, sorted by (from, to): what `Facts.edges` gives,
    as lists: `src`, `dst` and a `column` per field."""

    def __init__(self) -> None:
        super().__init__()
        self.src: list[str] = []
        self.dst: list[str] = []

    def add(self, src: list[str], dst: list[str], props: list[dict[str, Any]]) -> None:
        """Add a page of edges: their ends and their fields."""
        self.src += src
        self.dst += dst
        self.extend(props)


@dataclass
class Facts:
    """The store's nodes and edges as the rules read them, each type read once (in pages) and
    kept as columns, every key string once."""

    store: GraphStore
    #: the moment the check is made: the as-of time, or now
    now: dt.datetime
    #: how far ahead an expiry is worth a warning
    within_days: int = 30
    #: what a family works out once and its rules share (e.g. the devices' UDIs, read)
    memo: dict[str, Any] = field(default_factory=dict)
    _keys: dict[EntityType, list[str]] = field(default_factory=dict)
    #: each key read, once: the ends of the edges read later are these same strings
    _canon: dict[str, str] = field(default_factory=dict)
    _nodes: dict[EntityType, NodeTable] = field(default_factory=dict)
    _edges: dict[RelType, EdgeTable] = field(default_factory=dict)
    _links: dict[RelType, tuple[list[str], list[str]]] = field(default_factory=dict)
    _targets: dict[RelType, dict[str, list[str]]] = field(default_factory=dict)
    _sources: dict[RelType, dict[str, list[str]]] = field(default_factory=dict)

    def keys(self, type_: EntityType) -> list[str]:
        """Every key of the type, sorted (read once a check)."""
        if type_ not in self._keys:
            keys = self.store.keys_of_type(type_)
            self._canon.update(zip(keys, keys, strict=True))
            self._keys[type_] = keys
        return self._keys[type_]

    def nodes(self, type_: EntityType) -> NodeTable:
        """Every node of the type, by key."""
        if type_ not in self._nodes:
            table = NodeTable()
            keys = self.keys(type_)
            for start in range(0, len(keys), PAGE):
                page = keys[start : start + PAGE]
                read = self.store.nodes(page)
                found = [key for key in page if key in read]
                table.add(found, [read[key].props for key in found])
            table.done()
            self._nodes[type_] = table
        return self._nodes[type_]

    def _sources_of(self, rtype: RelType) -> list[str]:
        types = sorted({a for a, _ in ENDPOINTS[rtype]})
        return [k for t in types for k in self.keys(t)]

    def _one(self, keys: list[str]) -> list[str]:
        """The keys as the strings read first (each key string held once)."""
        return list(map(self._canon.setdefault, keys, keys))

    def edges(self, rtype: RelType) -> EdgeTable:
        """Every edge of the type with its fields (read from the nodes it may leave)."""
        if rtype not in self._edges:
            table, one = EdgeTable(), self._one
            sources = self._sources_of(rtype)
            for start in range(0, len(sources), EDGE_PAGE):
                page = sources[start : start + EDGE_PAGE]
                read = self.store.edges(page, [rtype], Direction.down)
                src, dst = one([e.src for e in read]), one([e.dst for e in read])
                table.add(src, dst, [e.props for e in read])
            table.done()
            self._edges[rtype] = table
        return self._edges[rtype]

    def links(self, rtype: RelType) -> Iterator[tuple[str, str]]:
        """Every edge of the type as (from, to), for rules that need only who is linked to
        whom: read without the fields (the edges' fields, when read already). Kept as two
        lists of keys, not a tuple an edge (a million devices' lots hold 6M of them)."""
        if rtype not in self._links:
            if rtype in self._edges:
                table = self._edges[rtype]
                self._links[rtype] = (table.src, table.dst)
            else:
                one, src, dst = self._one, list[str](), list[str]()
                sources = self._sources_of(rtype)
                for start in range(0, len(sources), EDGE_PAGE):
                    read = self.store.edges(
                        sources[start : start + EDGE_PAGE], [rtype], Direction.down, props=False
                    )
                    src += one([link.src for link in read])
                    dst += one([link.dst for link in read])
                self._links[rtype] = (src, dst)
        src, dst = self._links[rtype]
        return zip(src, dst, strict=True)

    def targets(self, rtype: RelType) -> dict[str, list[str]]:
        """For each node an edge of the type leaves, the nodes it goes to, sorted."""
        if rtype not in self._targets:
            out: dict[str, list[str]] = defaultdict(list)
            for src, dst in self.links(rtype):
                out[src].append(dst)
            self._targets[rtype] = {k: sorted(v) for k, v in out.items()}
        return self._targets[rtype]

    def sources(self, rtype: RelType) -> dict[str, list[str]]:
        """For each node an edge of the type enters, the nodes it comes from, sorted."""
        if rtype not in self._sources:
            out: dict[str, list[str]] = defaultdict(list)
            for src, dst in self.links(rtype):
                out[dst].append(src)
            self._sources[rtype] = {k: sorted(v) for k, v in out.items()}
        return self._sources[rtype]


def day(value: Any) -> str:
    """An instant or date as the day a quality engineer reads (YYYY-MM-DD)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(iso(value))


def gap(earlier: Any, later: Any) -> str:
    """How long from one instant or date to a later one, as a person says it: in days, or in
    hours or minutes when it is less than a day."""
    delta = _instant(later) - _instant(earlier)
    if delta >= dt.timedelta(days=1):
        return plural(delta.days, "day")
    if delta >= dt.timedelta(hours=1):
        return plural(delta.seconds // 3600, "hour")
    return plural(max(delta.seconds // 60, 1), "minute")


def _instant(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    raise TypeError(f"not a date: {value!r}")


def instant(value: Any) -> dt.datetime | None:
    """An instant for comparing: a date is 00:00 UTC that day; None for anything else."""
    if isinstance(value, dt.date):
        return _instant(value)
    return None


def listing(keys: list[str], shown: int = 5) -> str:
    """Keys for a sentence: the first few, then how many more (the finding's keys hold all)."""
    more = len(keys) - shown
    return ", ".join(keys[:shown]) + (f" and {more} more" if more > 0 else "")
