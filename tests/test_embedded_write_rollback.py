"""A failed write leaves the embedded store as it was: one transaction, all of it or none.

These tests fail writes at their last steps, after every row of the write is in the tables, and
compare everything a reader can see before and after: records, their history and the audit
chain, through the store that failed and through a new one on the same file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tracegraph.errors import StoreError, StoreUnavailable
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
        sorted((v.ident, repr(v)) for v in store.versions()),
        [a.as_json() for a in store.audit_entries()],
    )


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    store = EmbeddedStore(tmp_path / "store.tgdb")
    store.write([BATCH, LOT], [USED], REQ)
    store.write([Node(EntityType.Batch, "B-1", {"kind": "finished"})], [], REQ)  # some history
    return store


# Every kind of row this write makes is in the tables before it fails: a new node, a new edge,
# and updates of a node and an edge that keep their earlier versions.
NEXT_NODES = [
    Node(EntityType.Batch, "B-1", {"status": "released"}),
    Node(EntityType.Batch, "B-2", {"started_at": utc("2026-01-08")}),
    Node(EntityType.MaterialLot, "L-1", {"quantity": 12.0}),
]
NEXT_EDGES = [
    Edge(RelType.CONSUMED_IN, "MaterialLot:L-1", "Batch:B-1", {"quantity": 3.0}),
    Edge(RelType.CONSUMED_IN, "MaterialLot:L-1", "Batch:B-2", {"quantity": 1.0}),
]


def test_a_write_the_disk_refuses_changes_nothing_and_names_the_store(
    store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = state(store)

    def full_disk(*args: Any, **kwargs: Any) -> NoReturn:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(embedded, "seal", full_disk)  # after every row is in the tables
    with pytest.raises(StoreUnavailable, match=str(store.path)):
        store.write(NEXT_NODES, NEXT_EDGES, REQ)
    assert state(store) == before
    assert state(EmbeddedStore(store.path)) == before
    monkeypatch.undo()
    # The store still works, and the write succeeds when tried again.
    summary = store.write(NEXT_NODES, NEXT_EDGES, REQ)
    assert (summary.created, summary.updated) == (2, 3)
    assert state(EmbeddedStore(store.path)) == state(store)


def test_a_write_interrupted_part_way_changes_nothing(
    store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = state(store)

    def interrupted(*args: Any, **kwargs: Any) -> NoReturn:
        raise KeyboardInterrupt

    monkeypatch.setattr(embedded, "seal", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.write(NEXT_NODES, NEXT_EDGES, REQ)
    assert state(store) == before
    assert state(EmbeddedStore(store.path)) == before


def test_an_edge_to_nothing_is_refused_before_anything_is_written(store: EmbeddedStore) -> None:
    before = state(store)
    stray = Edge(RelType.PRODUCED, "Batch:B-1", "Device:nowhere")
    with pytest.raises(StoreError, match="neither stored nor imported"):
        store.write(NEXT_NODES, [*NEXT_EDGES, stray], REQ)
    assert state(store) == before


def test_an_unchanged_write_writes_nothing(store: EmbeddedStore) -> None:
    before = state(store)
    summary = store.write([LOT], [USED], REQ)
    assert (summary.created, summary.updated, summary.unchanged) == (0, 0, 2)
    assert summary.audit_seq is None
    assert state(store) == before
