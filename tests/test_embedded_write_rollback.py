"""A failed write leaves the embedded store as it was, in memory and on disk.

The store puts back what a failed write changed (it no longer copies the graph per write), so
these tests fail writes at their last steps, after every change is made in memory, and compare
the whole state before and after: records, their history, the audit chain and the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import pytest

from tracegraph.errors import StoreUnavailable
from tracegraph.model import Edge, EntityType, Node, RelType, utc
from tracegraph.store import embedded
from tracegraph.store.base import WriteRequest
from tracegraph.store.embedded import EmbeddedStore

REQ = WriteRequest(actor="test", operation="import", source="MES", reason="rollback test")

LOT = Node(EntityType.MaterialLot, "L-1", {"received_at": utc("2026-01-05"), "quantity": 10.0})
BATCH = Node(EntityType.Batch, "B-1", {"started_at": utc("2026-01-07")})
USED = Edge(RelType.CONSUMED_IN, "MaterialLot:L-1", "Batch:B-1", {"quantity": 2.0})


def state(store: EmbeddedStore) -> Any:
    """Everything a reader can see, in a form that compares by value."""
    return (
        sorted((k, repr(d)) for k, d in store.graph.nodes(data=True)),
        sorted((s, o, t, repr(d)) for s, o, t, d in store.graph.edges(keys=True, data=True)),
        [a.as_json() for a in store.audit_entries()],
    )


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    store = EmbeddedStore(tmp_path / "store.tgdb")
    store.write([BATCH, LOT], [USED], REQ)
    return store


# Every change of this write is made in memory before it fails: a new node, a new edge, and
# an update to a node and an edge that already have a history entry to keep.
NEXT_NODES = [
    Node(EntityType.Batch, "B-1", {"status": "released"}),
    Node(EntityType.Batch, "B-2", {"started_at": utc("2026-01-08")}),
    Node(EntityType.MaterialLot, "L-1", {"quantity": 12.0}),
]
NEXT_EDGES = [
    Edge(RelType.CONSUMED_IN, "MaterialLot:L-1", "Batch:B-1", {"quantity": 3.0}),
    Edge(RelType.CONSUMED_IN, "MaterialLot:L-1", "Batch:B-2", {"quantity": 1.0}),
]


def test_a_write_that_cannot_reach_the_disk_changes_nothing(
    store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write([Node(EntityType.Batch, "B-1", {"kind": "finished"})], [], REQ)  # some history
    before, on_disk = state(store), store.path.read_bytes()

    def full_disk() -> NoReturn:
        raise StoreUnavailable(f"{store.path}: cannot write the store: No space left on device")

    monkeypatch.setattr(store, "_persist", full_disk)
    with pytest.raises(StoreUnavailable):
        store.write(NEXT_NODES, NEXT_EDGES, REQ)
    assert state(store) == before
    assert store.path.read_bytes() == on_disk
    monkeypatch.undo()
    assert state(EmbeddedStore(store.path)) == before
    # The store still works, and the write succeeds when tried again.
    summary = store.write(NEXT_NODES, NEXT_EDGES, REQ)
    assert (summary.created, summary.updated) == (2, 3)
    assert state(EmbeddedStore(store.path)) == state(store)


def test_a_write_interrupted_part_way_changes_nothing(
    store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, on_disk = state(store), store.path.read_bytes()

    def interrupted(*args: Any, **kwargs: Any) -> NoReturn:
        raise KeyboardInterrupt

    monkeypatch.setattr(embedded, "seal", interrupted)  # after the graph is changed
    with pytest.raises(KeyboardInterrupt):
        store.write(NEXT_NODES, NEXT_EDGES, REQ)
    assert state(store) == before
    assert store.path.read_bytes() == on_disk


def test_an_unchanged_write_persists_nothing(store: EmbeddedStore) -> None:
    on_disk, stamp = store.path.read_bytes(), store.path.stat().st_mtime_ns
    summary = store.write([BATCH, LOT], [USED], REQ)
    assert (summary.created, summary.updated, summary.unchanged) == (0, 0, 3)
    assert store.path.read_bytes() == on_disk
    assert store.path.stat().st_mtime_ns == stamp
