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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from tracegraph.model import ENDPOINTS, Direction, EntityType, RelType, iso
from tracegraph.store.base import GraphStore, StoredEdge, StoredNode
from tracegraph.words import plural

__all__ = ["Facts", "Finding", "Level", "Rule", "day", "gap", "listing", "plural", "rule"]


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


@dataclass
class Facts:
    """The store's nodes and edges as the rules read them, each type read once."""

    store: GraphStore
    #: the moment the check is made: the as-of time, or now
    now: dt.datetime
    #: how far ahead an expiry is worth a warning
    within_days: int = 30
    #: what a family works out once and its rules share (e.g. the devices' UDIs, read)
    memo: dict[str, Any] = field(default_factory=dict)
    _keys: dict[EntityType, list[str]] = field(default_factory=dict)
    _nodes: dict[EntityType, dict[str, StoredNode]] = field(default_factory=dict)
    _edges: dict[RelType, list[StoredEdge]] = field(default_factory=dict)
    _links: dict[RelType, list[tuple[str, str]]] = field(default_factory=dict)
    _targets: dict[RelType, dict[str, list[str]]] = field(default_factory=dict)
    _sources: dict[RelType, dict[str, list[str]]] = field(default_factory=dict)

    def keys(self, type_: EntityType) -> list[str]:
        """Every key of the type, sorted (read once a check)."""
        if type_ not in self._keys:
            self._keys[type_] = self.store.keys_of_type(type_)
        return self._keys[type_]

    def nodes(self, type_: EntityType) -> dict[str, StoredNode]:
        """Every node of the type, by key."""
        if type_ not in self._nodes:
            self._nodes[type_] = self.store.nodes(self.keys(type_))
        return self._nodes[type_]

    def _sources_of(self, rtype: RelType) -> list[str]:
        types = sorted({a for a, _ in ENDPOINTS[rtype]})
        return [k for t in types for k in self.keys(t)]

    def edges(self, rtype: RelType) -> list[StoredEdge]:
        """Every edge of the type with its fields (read from the nodes it may leave)."""
        if rtype not in self._edges:
            self._edges[rtype] = self.store.edges(self._sources_of(rtype), [rtype], Direction.down)
        return self._edges[rtype]

    def links(self, rtype: RelType) -> list[tuple[str, str]]:
        """Every edge of the type as (from, to), for rules that need only who is linked to
        whom: read without the fields (the edges' fields, when read already)."""
        if rtype not in self._links:
            if rtype in self._edges:
                self._links[rtype] = [(e.src, e.dst) for e in self._edges[rtype]]
            else:
                read = self.store.edges(
                    self._sources_of(rtype), [rtype], Direction.down, props=False
                )
                self._links[rtype] = [(link.src, link.dst) for link in read]
        return self._links[rtype]

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
