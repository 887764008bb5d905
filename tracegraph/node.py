"""One node as the store knows it: its fields, every kept version, and its links in and out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracegraph.model import Direction, RelType, iso
from tracegraph.store.base import GraphStore, StoredEdge, StoredNode
from tracegraph.trace import require


@dataclass(frozen=True)
class NodeView:
    node: StoredNode
    links_in: list[StoredEdge]
    links_out: list[StoredEdge]

    def as_json(self) -> dict[str, Any]:
        n = self.node
        return {
            **n.as_json(),
            "record": {
                "created_at": iso(n.created_at),
                "recorded_at": iso(n.recorded_at),
                "audit_seq": n.audit_seq,
            },
            # Oldest first; the last is the current one (the fields above).
            "versions": [
                {
                    "audit_seq": v.audit_seq,
                    "recorded_at": iso(v.recorded_at),
                    "fields": {k: iso(x) for k, x in sorted(v.props.items())},
                }
                for v in n.record_versions().versions
            ],
            "links": {
                "in": [e.as_json() for e in self.links_in],
                "out": [e.as_json() for e in self.links_out],
            },
            "counts": {
                "versions": len(n.history) + 1,
                "in": len(self.links_in),
                "out": len(self.links_out),
            },
        }


def node_view(store: GraphStore, key: str) -> NodeView:
    """The node ``key`` with its versions and every edge (all families) entering and leaving."""
    (found,) = require(store, [key])
    node = store.nodes([found])[found]
    every = list(RelType)
    return NodeView(
        node,
        links_in=store.edges([found], every, Direction.up),
        links_out=store.edges([found], every, Direction.down),
    )
