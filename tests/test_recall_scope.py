"""The one-pass read of a recall's closure (`ReadsScope`) answers what the protocol's own reads
answer: the same fields as JSON text, the same genealogy edges, the same batch per device."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import GENEALOGY, Direction, EntityType, RelType
from tracegraph.recall import Seed, _in_sections, reasons, recall
from tracegraph.store.base import (
    GraphStore,
    Links,
    ReadsScope,
    Scope,
    WriteRequest,
    read_scope,
    scope_by_reads,
)
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore

REQ = WriteRequest(actor="test", operation="import")


def n(type_: str, id_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": id_, **fields}


def e(type_: str, src: str, dst: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "from": src, "to": dst, **fields}


# Instants with and without a fraction of a second and given with an offset, dates, a free-form
# object, a device two batches produced (the smaller key is its batch), a device none did, a
# component installed in another device, and a lot that a second import changes (its history
# must not show).
RECORDS: list[dict[str, Any]] = [
    n("Material", "M-1", name="Resistor"),
    n("MaterialLot", "L-1", received_at="2026-01-10T09:00:00.250Z", quantity=5.5),
    n("Batch", "B-2", started_at="2026-01-11T08:00:00+02:00"),
    n("Batch", "B-1", started_at="2026-01-11", attributes={"line": "A", "nested": {"z": 1}}),
    n("Device", "D-1", manufactured_at="2026-01-12T10:00:00.000001Z", udi="(01)1(21)D1"),
    n("Device", "D-2", manufactured_at="2026-01-12"),
    n("Device", "D-3", manufactured_at="2026-01-12T23:59:59Z"),
    n("Shipment", "SH-1", shipped_at="2026-01-20T12:00:00.5Z"),
    n("Customer", "C-1", name="Hospital", country="DE"),
    n("Complaint", "CMP-1", reported_at="2026-02-01", description="no display", severity="other"),
    e("HAS_LOT", "Material:M-1", "MaterialLot:L-1"),
    e("CONSUMED_IN", "MaterialLot:L-1", "Batch:B-2"),
    e("CONSUMED_IN", "MaterialLot:L-1", "Batch:B-1"),
    e("PRODUCED", "Batch:B-2", "Device:D-1"),
    e("PRODUCED", "Batch:B-1", "Device:D-1"),
    e("PRODUCED", "Batch:B-2", "Device:D-3"),
    e("INSTALLED_IN", "Device:D-3", "Device:D-2"),
    e("SHIPPED_IN", "Device:D-1", "Shipment:SH-1"),
    e("DELIVERED_TO", "Shipment:SH-1", "Customer:C-1"),
    e("HAS_COMPLAINT", "Device:D-1", "Complaint:CMP-1"),
]


def _load(store: GraphStore) -> None:
    import_records(store, _read(RECORDS), REQ)
    changed = [n("MaterialLot", "L-1", received_at="2026-01-10T09:00:00.250Z", quantity=7.0)]
    import_records(store, _read(changed), REQ)


def _read(records: list[dict[str, Any]]) -> Any:
    return read_jsonl("scope.jsonl", [orjson.dumps(r) for r in records])


def _plain(scope: Scope) -> dict[str, Any]:
    return {
        "fields": orjson.loads(orjson.dumps(scope.fields)),
        "links": sorted((str(t), s, d) for t, s, d in scope.links),
        "device_batch": scope.device_batch,
    }


def test_the_one_pass_read_answers_what_the_protocol_reads_answer(store: GraphStore) -> None:
    _load(store)
    assert isinstance(store, ReadsScope)
    keys = {"Material:M-1"} | store.reach(["Material:M-1"], GENEALOGY, Direction.down)
    keys |= {"Complaint:CMP-1", "Device:NOT-THERE"}
    fast, slow = read_scope(store, keys), scope_by_reads(store, keys)
    assert _plain(fast) == _plain(slow)
    assert set(fast.fields) <= set(fast.links.names)
    assert set(slow.fields) <= set(slow.links.names)
    # What each part says, not only that both agree.
    assert fast.device_batch == {"Device:D-1": "Batch:B-1", "Device:D-3": "Batch:B-2"}
    lot = fast.fields["MaterialLot:L-1"]
    assert list(lot)[:2] == ["id", "key"]
    assert list(lot)[2:] == sorted(list(lot)[2:])
    assert lot["quantity"] == 7.0
    assert lot["received_at"] == "2026-01-10T09:00:00.250000Z"
    assert fast.fields["Batch:B-2"]["started_at"] == "2026-01-11T06:00:00Z"
    assert fast.fields["Batch:B-1"]["attributes"] == {"line": "A", "nested": {"z": 1}}
    assert fast.fields["Device:D-1"]["manufactured_at"] == "2026-01-12T10:00:00.000001Z"
    assert not any(k.startswith("_") for f in fast.fields.values() for k in f)
    assert "Device:NOT-THERE" not in fast.fields
    assert ("INSTALLED_IN", "Device:D-3", "Device:D-2") in _plain(fast)["links"]


def test_a_scope_whose_edges_leave_it_names_their_far_ends_in_order(store: GraphStore) -> None:
    """Keys that are not closed downstream: the edges leave to keys not asked for, which the
    links still name, in sorted order with the rest."""
    _load(store)
    keys = {"MaterialLot:L-1", "Device:D-3", "Customer:C-1"}
    fast, slow = read_scope(store, keys), scope_by_reads(store, keys)
    assert _plain(fast) == _plain(slow)
    assert ("CONSUMED_IN", "MaterialLot:L-1", "Batch:B-1") in _plain(fast)["links"]
    assert ("INSTALLED_IN", "Device:D-3", "Device:D-2") in _plain(fast)["links"]
    names = list(fast.links.names)
    assert names == sorted(set(names))
    assert set(fast.fields) == keys
    assert fast.links.smallest(RelType.INSTALLED_IN) == {"Device:D-3": "Device:D-2"}


def test_recall_lists_only_the_types_of_its_sections(store: GraphStore) -> None:
    _load(store)
    closure = read_scope(store, {"MaterialLot:L-1", "Batch:B-1", "Device:D-1"})
    assert _in_sections(closure) is closure.fields  # nothing to leave out: not copied
    mixed = read_scope(store, {"Material:M-1", "MaterialLot:L-1", "Complaint:CMP-1"})
    assert set(_in_sections(mixed)) == {"MaterialLot:L-1", "Complaint:CMP-1"}


def test_fields_longer_than_sqlite_takes_in_one_text_are_read_in_pieces(
    embedded_store: EmbeddedStore,
) -> None:
    """The embedded scope reads a chunk's fields as one joined JSON text; past SQLite's length
    limit (records of long texts) it reads the chunk in halves, and nothing is lost."""
    _load(embedded_store)
    keys = {"Material:M-1"} | embedded_store.reach(["Material:M-1"], GENEALOGY, Direction.down)
    whole = _plain(read_scope(embedded_store, keys))
    db = embedded_store._db()
    before = db.getlimit(sqlite3.SQLITE_LIMIT_LENGTH)
    db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 400)  # a record or two a piece
    try:
        pieces = _plain(read_scope(embedded_store, keys))
    finally:
        db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, before)
    assert pieces == whole
    assert len(pieces["fields"]) == len(keys)


KEYS = [f"{t}:{i}" for t in ("Batch", "Device") for i in "abcdefgh"]


@settings(max_examples=200, deadline=None)
@given(
    edges=st.sets(st.tuples(st.sampled_from(KEYS), st.sampled_from(KEYS)), max_size=30),
    seeds=st.lists(
        st.tuples(st.sampled_from(KEYS), st.lists(st.sampled_from("pqr"), max_size=3)),
        min_size=1,
        max_size=4,
    ),
)
# A seed that another seed reaches sooner, above two devices: both take the nearer chain.
@example(
    edges={("Batch:b", "Batch:a"), ("Batch:a", "Device:a"), ("Batch:a", "Device:b")},
    seeds=[("Batch:a", ["p", "q", "r"]), ("Batch:b", [])],
)
def test_reasons_are_the_shortest_chains_through_the_smallest_parent(
    edges: set[tuple[str, str]], seeds: list[tuple[str, list[str]]]
) -> None:
    """What `reasons` means, computed the slow way: a device's distance is the least of a
    seed's chain length plus hops; its chain is its own seed chain if no edge brings it
    closer, else the chain of the smallest key one step nearer, and one key more."""
    given_seeds = [Seed(key, (*("Suspect:" + c for c in chain), key)) for key, chain in seeds]
    edges = {(a, b) for a, b in edges if a != b}
    links = Links.of(((RelType.INSTALLED_IN, a, b) for a, b in edges), KEYS)
    start: dict[str, tuple[str, ...]] = {}
    for s in given_seeds:
        if s.key not in start or (len(s.chain), s.chain) < (len(start[s.key]), start[s.key]):
            start[s.key] = s.chain
    dist = {k: len(c) - 1 for k, c in start.items()}
    for _ in KEYS:  # Bellman-Ford: a distance settles within as many rounds as nodes
        for a, b in edges:
            if a in dist and dist[a] + 1 < dist.get(b, len(KEYS) + 9):
                dist[b] = dist[a] + 1

    def chain(k: str) -> tuple[str, ...]:
        if k in start and len(start[k]) - 1 == dist[k]:
            return start[k]
        parent = min(a for a, b in edges if b == k and dist.get(a) == dist[k] - 1)
        return (*chain(parent), k)

    expected = {k: chain(k) for k in KEYS if k.startswith("Device:") and k in dist}
    assert reasons(given_seeds, links, EntityType.Device) == expected


def test_an_as_of_view_reads_the_scope_as_it_stood(store: GraphStore) -> None:
    _load(store)
    first = max(entry.at for entry in store.audit_entries()[:1])
    then = store.at(first + dt.timedelta(microseconds=1))
    scope = read_scope(then, ["MaterialLot:L-1"])
    assert scope.fields["MaterialLot:L-1"]["quantity"] == 5.5
    answer = recall(then, ["MaterialLot:L-1"]).as_json()
    assert answer["lots"][0]["quantity"] == 5.5


def test_recall_rows_come_from_the_scope(store: GraphStore) -> None:
    _load(store)
    answer = orjson.loads(orjson.dumps(recall(store, ["Material:M-1"]).as_json()))
    rows = {d["key"]: d for d in answer["devices"]}
    assert rows["Device:D-1"]["batch"] == "Batch:B-1"
    assert rows["Device:D-1"]["customer"] == "Customer:C-1"
    assert rows["Device:D-1"]["shipped_at"] == "2026-01-20T12:00:00.500000Z"
    assert rows["Device:D-2"]["batch"] is None  # installed component's host: no batch made it
    assert rows["Device:D-2"]["path"][-2:] == ["Device:D-3", "Device:D-2"]


@pytest.mark.neo4j
def test_neo4j_reads_a_large_scope_in_overlapped_chunks(neo4j_store: Neo4jStore) -> None:
    """Past one chunk of keys the next chunk is asked for while the last is decoded: every row
    arrives once, in order, whatever the chunk size."""
    _load(neo4j_store)
    keys = {"Material:M-1"} | neo4j_store.reach(["Material:M-1"], GENEALOGY, Direction.down)
    whole = _plain(read_scope(neo4j_store, keys))
    neo4j_store._CHUNK = 2
    try:
        chunked = read_scope(neo4j_store, keys)
    finally:
        del neo4j_store._CHUNK
    assert len(keys) > 2 * 2
    assert _plain(chunked) == whole
    assert len(chunked.links) == len(whole["links"])
