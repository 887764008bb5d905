"""The `GraphStore` protocol every store implements, and the pieces the stores share.

A store knows how to keep nodes and edges with their versions and the audit chain, and how to
answer a handful of graph primitives fast (closure, one hop, edges among a set). The analyses
are written once, in terms of these primitives, so the two stores answer the same questions the
same way and only the heavy lifting (the closure) is store-specific.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import orjson

from tracegraph.model import Direction, Edge, EntityType, Node, RelType, iso


@dataclass(frozen=True)
class Version:
    """An earlier state of a node or edge, kept when a write changed it."""

    audit_seq: int
    recorded_at: dt.datetime
    props: dict[str, Any]


@dataclass(frozen=True)
class StoredNode:
    type: EntityType
    id: str
    props: dict[str, Any]
    created_at: dt.datetime
    recorded_at: dt.datetime
    audit_seq: int
    history: tuple[Version, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.type}:{self.id}"

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "type": str(self.type),
            "id": self.id,
            **{k: iso(v) for k, v in sorted(self.props.items())},
        }


@dataclass(frozen=True)
class StoredEdge:
    type: RelType
    src: str
    dst: str
    props: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "type": str(self.type),
            "from": self.src,
            "to": self.dst,
            **{k: iso(v) for k, v in sorted(self.props.items())},
        }


@dataclass(frozen=True)
class WriteRequest:
    """Who writes, and why: becomes the audit entry of the write."""

    actor: str
    operation: str
    source: str | None = None
    reason: str | None = None


@dataclass
class WriteSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    audit_seq: int | None = None

    def as_json(self) -> dict[str, int | None]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "audit_seq": self.audit_seq,
        }


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: dt.datetime
    actor: str
    operation: str
    source: str | None
    reason: str | None
    created: int
    updated: int
    unchanged: int
    changes_sha256: str
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The fields the hash covers (everything but the hash itself)."""
        return {
            "seq": self.seq,
            "at": iso(self.at),
            "actor": self.actor,
            "operation": self.operation,
            "source": self.source,
            "reason": self.reason,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "changes_sha256": self.changes_sha256,
            "prev_hash": self.prev_hash,
        }

    def as_json(self) -> dict[str, Any]:
        return {**self.body(), "hash": self.hash}


GENESIS = "0" * 64


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=iso)


def entry_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


def seal(
    request: WriteRequest,
    summary: WriteSummary,
    changes: Sequence[Change],
    *,
    seq: int,
    at: dt.datetime,
    prev_hash: str,
) -> AuditEntry:
    """Make the next audit entry of the chain for one write.

    ``changes`` are (identity, op, before, after) for every created or updated record; the entry
    carries their digest, and the versions themselves are kept on the records.
    """
    digest = hashlib.sha256(
        canonical(sorted([[i, op, b, dict(a)] for i, op, b, a in changes], key=lambda c: c[0]))
    ).hexdigest()
    draft = AuditEntry(
        seq=seq,
        at=at,
        actor=request.actor,
        operation=request.operation,
        source=request.source,
        reason=request.reason,
        created=summary.created,
        updated=summary.updated,
        unchanged=summary.unchanged,
        changes_sha256=digest,
        prev_hash=prev_hash,
        hash="",
    )
    return AuditEntry(**{**draft.__dict__, "hash": entry_hash(draft.body())})


def merged(before: Mapping[str, Any] | None, incoming: Mapping[str, Any]) -> dict[str, Any]:
    """Fields given overwrite, fields left out are kept: an import never loses data."""
    return {**(before or {}), **incoming}


def edge_ident(edge: Edge | StoredEdge) -> str:
    return f"{edge.type}:{edge.src}->{edge.dst}"


Change = tuple[str, str, Mapping[str, Any] | None, Mapping[str, Any]]


@dataclass
class WritePlan:
    """What one import does to the store, worked out from what the store holds now."""

    node_creates: list[Node] = field(default_factory=list)
    #: (node, props before, props after)
    node_updates: list[tuple[Node, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    edge_creates: list[Edge] = field(default_factory=list)
    edge_updates: list[tuple[Edge, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    unchanged: int = 0
    changes: list[Change] = field(default_factory=list)

    def summary(self) -> WriteSummary:
        return WriteSummary(
            created=len(self.node_creates) + len(self.edge_creates),
            updated=len(self.node_updates) + len(self.edge_updates),
            unchanged=self.unchanged,
        )


def plan_write(
    nodes: Sequence[Node],
    edges: Sequence[Edge],
    node_props: Mapping[str, Mapping[str, Any]],
    edge_props: Mapping[tuple[str, str, str], Mapping[str, Any]],
) -> WritePlan:
    """Sort each record into create / update / unchanged, given the props stored now."""
    plan = WritePlan()
    for node in nodes:
        before = node_props.get(node.key)
        if before is None:
            plan.node_creates.append(node)
            plan.changes.append((node.key, "create", None, node.props))
            continue
        after = merged(before, node.props)
        if after == before:
            plan.unchanged += 1
            continue
        plan.node_updates.append((node, dict(before), after))
        plan.changes.append((node.key, "update", before, after))
    for edge in edges:
        current = edge_props.get(edge.ident)
        if current is None:
            plan.edge_creates.append(edge)
            plan.changes.append((edge_ident(edge), "create", None, edge.props))
            continue
        after = merged(current, edge.props)
        if after == current:
            plan.unchanged += 1
            continue
        plan.edge_updates.append((edge, dict(current), after))
        plan.changes.append((edge_ident(edge), "update", current, after))
    return plan


@runtime_checkable
class GraphStore(Protocol):
    """What every store offers. Keys are ``Type:id`` strings throughout."""

    kind: str

    def describe(self) -> dict[str, str]:
        """Kind, location and version, for logs and `/readyz`."""
        ...

    def close(self) -> None: ...

    def write(
        self, nodes: Sequence[Node], edges: Sequence[Edge], request: WriteRequest
    ) -> WriteSummary:
        """Apply one import atomically: all of it or none of it, one audit entry."""
        ...

    def existing(self, keys: Iterable[str]) -> set[str]:
        """Which of these keys name a node in the store."""
        ...

    def nodes(self, keys: Iterable[str]) -> dict[str, StoredNode]:
        """The nodes with these keys (missing keys are left out)."""
        ...

    def keys_of_type(self, type_: EntityType) -> list[str]:
        """Every key of one type, sorted."""
        ...

    def hop(
        self, keys: Iterable[str], rel_types: Sequence[RelType], direction: Direction
    ) -> list[StoredEdge]:
        """Edges of these types leaving (down) or entering (up) these nodes, sorted."""
        ...

    def reach(
        self,
        seeds: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        max_depth: int | None = None,
    ) -> set[str]:
        """Distinct nodes reachable from the seeds in 1..max_depth hops (None: no limit)."""
        ...

    def edges_among(self, keys: Iterable[str], rel_types: Sequence[RelType]) -> list[StoredEdge]:
        """Edges of these types whose two ends are both in ``keys``, sorted."""
        ...

    def audit_entries(self) -> list[AuditEntry]:
        """The whole audit chain, oldest first."""
        ...


def sort_edges(edges: Iterable[StoredEdge]) -> list[StoredEdge]:
    return sorted(edges, key=lambda e: (e.src, e.type, e.dst))
