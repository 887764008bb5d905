"""Trace: the upstream or downstream closure of a node over genealogy edges."""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tracegraph.errors import BadInput, NotFound
from tracegraph.model import GENEALOGY, Direction, Key, iso
from tracegraph.store.base import GraphStore, StoredEdge


@dataclass(frozen=True)
class TraceResult:
    start: str
    direction: Direction
    depth_limit: int | None
    depths: dict[str, int]
    edges: list[StoredEdge]

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "direction": str(self.direction),
            "depth_limit": self.depth_limit,
            "nodes": [
                {"key": k, "type": k.partition(":")[0], "depth": d}
                for k, d in sorted(self.depths.items())
            ],
            "edges": [{"type": str(e.type), "from": e.src, "to": e.dst} for e in self.edges],
            "counts": {"nodes": len(self.depths), "edges": len(self.edges)},
        }


def require(store: GraphStore, keys: Iterable[str]) -> list[str]:
    """Parse keys and check each names a node; unknown keys are bad input (exit 2, HTTP 404)."""
    parsed = [str(Key.parse(k)) for k in keys]
    missing = sorted(set(parsed) - store.existing(parsed))
    # An as-of view (`GraphStore.at`) keeps the live store and its time: a node recorded later
    # is not unknown, it did not exist yet, and the answer says since when it does.
    live: GraphStore | None = getattr(store, "store", None)
    as_of = getattr(store, "as_of", None)
    if missing and live is not None and isinstance(as_of, dt.datetime):
        later = live.nodes(missing)
        if later:
            key = min(later)
            raise NotFound(
                f"{key}: not in the store as of {iso(as_of)}; it was first recorded "
                f"{iso(later[key].created_at)}"
            )
    if missing:
        raise NotFound(
            f"{missing[0]}: no such node in the store"
            + (f" (and {len(missing) - 1} more unknown keys)" if len(missing) > 1 else "")
        )
    return parsed


def depths_from(
    starts: Iterable[str], edges: Iterable[StoredEdge], direction: Direction
) -> dict[str, int]:
    """Breadth-first hop counts from the starts over the given edges, in the given direction."""
    step: dict[str, list[str]] = {}
    for e in edges:
        a, b = (e.src, e.dst) if direction is Direction.down else (e.dst, e.src)
        step.setdefault(a, []).append(b)
    depth = {s: 0 for s in starts}
    queue = deque(depth)
    while queue:
        node = queue.popleft()
        for nxt in step.get(node, ()):
            if nxt not in depth:
                depth[nxt] = depth[node] + 1
                queue.append(nxt)
    return depth


def trace(
    store: GraphStore, key: str, direction: Direction, depth: int | None = None
) -> TraceResult:
    if depth is not None and depth < 1:
        raise BadInput(f"depth {depth}: must be 1 or more")
    (start,) = require(store, [key])
    closure = store.reach([start], GENEALOGY, direction, depth=depth) | {start}
    edges = store.edges(closure, GENEALOGY, None)
    depths = depths_from([start], edges, direction)
    return TraceResult(start, direction, depth, depths, edges)
