"""The store contract: every test here runs on the embedded store and on the real Neo4j."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tracegraph.errors import BadInput, InvalidImport, NotFound
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import GENEALOGY, MAKING, MAX_HOPS, Direction, EntityType, RelType
from tracegraph.store.base import (
    GENESIS,
    GraphStore,
    ReadsAuditHead,
    ReadsFields,
    WriteRequest,
    entry_hash,
)
from tracegraph.trace import trace

REQ = WriteRequest(actor="test", operation="import", source="MES", reason="contract test")

# A small genealogy with a diamond (two lots into one batch) and a sub-assembly batch.
LINES: list[dict[str, Any]] = [
    {"type": "Supplier", "id": "S-1", "name": "Acme", "status": "approved"},
    {"type": "Material", "id": "M-1", "name": "Capacitor"},
    {"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-05", "quantity": 100},
    {"type": "MaterialLot", "id": "L-2", "received_at": "2026-01-06T12:00:00+02:00"},
    {"type": "Batch", "id": "SUB-1", "started_at": "2026-01-07", "kind": "subassembly"},
    {"type": "Batch", "id": "B-1", "started_at": "2026-01-08", "status": "released"},
    {"type": "Device", "id": "D-1", "manufactured_at": "2026-01-09", "attributes": {"fw": "1.2"}},
    {"type": "Device", "id": "D-2", "manufactured_at": "2026-01-09"},
    {"type": "Shipment", "id": "SH-1", "shipped_at": "2026-01-10"},
    {"type": "Customer", "id": "C-1", "name": "St. Mary", "country": "DE"},
    {"type": "Equipment", "id": "EQ-1", "name": "Solder station"},
    {"type": "SUPPLIED", "from": "Supplier:S-1", "to": "MaterialLot:L-1"},
    {"type": "SUPPLIED", "from": "Supplier:S-1", "to": "MaterialLot:L-2"},
    {"type": "HAS_LOT", "from": "Material:M-1", "to": "MaterialLot:L-1"},
    {"type": "CONSUMED_IN", "from": "MaterialLot:L-1", "to": "Batch:SUB-1", "quantity": 20},
    {"type": "CONSUMED_IN", "from": "MaterialLot:L-2", "to": "Batch:SUB-1"},
    {"type": "CONSUMED_IN", "from": "Batch:SUB-1", "to": "Batch:B-1", "at": "2026-01-08T09:00"},
    {"type": "PROCESSED", "from": "Equipment:EQ-1", "to": "Batch:B-1", "at": "2026-01-08T10:00Z"},
    {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-1"},
    {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-2"},
    {"type": "SHIPPED_IN", "from": "Device:D-1", "to": "Shipment:SH-1"},
    {"type": "DELIVERED_TO", "from": "Shipment:SH-1", "to": "Customer:C-1"},
]


def jsonl(records: list[dict[str, Any]]) -> list[bytes]:
    import orjson

    return [orjson.dumps(r) for r in records]


def load(store: GraphStore, records: list[dict[str, Any]] = LINES) -> Any:
    return import_records(store, read_jsonl("data.jsonl", jsonl(records)), REQ)


def test_import_creates_every_record_and_reads_back_typed_values(store: GraphStore) -> None:
    report = load(store)
    assert (report.summary.created, report.summary.updated) == (len(LINES), 0)
    nodes = store.nodes(["MaterialLot:L-2", "Device:D-1", "MaterialLot:L-1"])
    # A date-time with an offset is kept as the same instant in UTC.
    assert nodes["MaterialLot:L-2"].props["received_at"] == dt.datetime(
        2026, 1, 6, 10, tzinfo=dt.UTC
    )
    assert nodes["MaterialLot:L-1"].props == {
        "received_at": dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        "quantity": 100.0,
    }
    assert nodes["Device:D-1"].props["attributes"] == {"fw": "1.2"}
    assert store.existing(["Device:D-1", "Device:nope"]) == {"Device:D-1"}
    assert store.keys_of_type(EntityType.MaterialLot) == [
        "MaterialLot:L-1",
        "MaterialLot:L-2",
    ]


def test_a_few_fields_of_many_nodes_read_as_the_whole_records_give_them(
    store: GraphStore,
) -> None:
    load(store)
    assert isinstance(store, ReadsFields)
    keys = ["MaterialLot:L-1", "MaterialLot:L-2", "Device:D-1", "Device:D-2", "Batch:B-1"]
    names = ["received_at", "quantity", "attributes", "manufactured_at", "status", "nope"]
    nodes = store.nodes(keys)
    got = store.fields([*keys, "Device:missing", keys[0]], names)
    assert got == {k: tuple(nodes[k].props.get(n) for n in names) for k in keys}
    # Instants in UTC, free-form attributes as objects, absent as None.
    assert got["MaterialLot:L-2"][0] == dt.datetime(2026, 1, 6, 10, tzinfo=dt.UTC)
    assert got["Device:D-1"][2:4] == ({"fw": "1.2"}, dt.datetime(2026, 1, 9, tzinfo=dt.UTC))
    assert store.fields(["Batch:B-1"], ["status"]) == {"Batch:B-1": ("released",)}
    assert store.fields([], names) == {}


def test_importing_twice_changes_nothing(store: GraphStore) -> None:
    load(store)
    entries_before = store.audit_entries()
    again = load(store)
    assert (again.summary.created, again.summary.updated) == (0, 0)
    assert again.summary.unchanged == len(LINES)
    assert store.audit_entries() == entries_before  # no write, no audit entry


def test_changed_values_update_and_keep_the_previous_version(store: GraphStore) -> None:
    load(store)
    changed = [
        {"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-05", "quantity": 80},
        {"type": "CONSUMED_IN", "from": "MaterialLot:L-1", "to": "Batch:SUB-1", "quantity": 25},
    ]
    report = load(store, changed)
    assert (report.summary.created, report.summary.updated, report.summary.unchanged) == (0, 2, 0)
    lot = store.nodes(["MaterialLot:L-1"])["MaterialLot:L-1"]
    assert lot.props["quantity"] == 80.0
    assert [v.props["quantity"] for v in lot.history] == [100.0]
    assert lot.history[0].audit_seq == 1
    assert lot.audit_seq == 2
    edge = store.edges(["MaterialLot:L-1"], [RelType.CONSUMED_IN], Direction.down)
    assert [e.props for e in edge] == [{"quantity": 25.0}]
    # Fields left out of a record are kept, not erased.
    load(store, [{"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-05"}])
    assert store.nodes(["MaterialLot:L-1"])["MaterialLot:L-1"].props["quantity"] == 80.0


def test_instants_and_dates_read_back_exactly(store: GraphStore) -> None:
    """Neo4j gets temporal values as integers and gives them as text (the store rebuilds them
    from the model's temporal fields): every microsecond, instants before 1970 and dates must
    survive, on nodes and on edges, created and updated; text that looks like a time but is in
    a field that is not one stays text."""
    records = [
        {"type": "Supplier", "id": "S-9", "name": "1969-12-31T23:59:59Z"},
        {
            "type": "Certificate",
            "id": "C-9",
            "kind": "ISO 13485",
            "valid_from": "1969-12-31",
            "valid_to": "2031-02-28",
        },
        {"type": "MaterialLot", "id": "L-9", "received_at": "1969-12-31T23:59:59.999999Z"},
        {"type": "Equipment", "id": "EQ-9", "name": "Oven"},
        {"type": "Batch", "id": "B-9", "started_at": "2026-03-01T08:00:00.000001Z"},
        {"type": "CERTIFIES", "from": "Certificate:C-9", "to": "Supplier:S-9"},
        {
            "type": "PROCESSED",
            "from": "Equipment:EQ-9",
            "to": "Batch:B-9",
            "at": "1901-06-30T12:34:56.5Z",
        },
    ]
    load(store, records)
    got = store.nodes(["Certificate:C-9", "MaterialLot:L-9", "Batch:B-9", "Supplier:S-9"])
    assert got["Supplier:S-9"].props["name"] == "1969-12-31T23:59:59Z"
    assert got["Certificate:C-9"].props["valid_from"] == dt.date(1969, 12, 31)
    assert got["Certificate:C-9"].props["valid_to"] == dt.date(2031, 2, 28)
    assert got["MaterialLot:L-9"].props["received_at"] == dt.datetime(
        1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC
    )
    assert got["Batch:B-9"].props["started_at"] == dt.datetime(
        2026, 3, 1, 8, 0, 0, 1, tzinfo=dt.UTC
    )
    (edge,) = store.edges(["Batch:B-9"], [RelType.PROCESSED], Direction.up)
    assert edge.props["at"] == dt.datetime(1901, 6, 30, 12, 34, 56, 500000, tzinfo=dt.UTC)
    # An update of an edge between nodes that already exist, next to a new node's edge.
    update = [
        {
            "type": "PROCESSED",
            "from": "Equipment:EQ-9",
            "to": "Batch:B-9",
            "at": "1901-06-30T12:34:57Z",
        },
        {"type": "Batch", "id": "B-10", "started_at": "2026-03-02"},
        {
            "type": "PROCESSED",
            "from": "Equipment:EQ-9",
            "to": "Batch:B-10",
            "at": "2026-03-02T00:00:00Z",
        },
    ]
    report = load(store, update)
    assert (report.summary.created, report.summary.updated) == (2, 1)
    edges = store.edges(["Equipment:EQ-9"], [RelType.PROCESSED], Direction.down)
    assert [(e.dst, e.props["at"]) for e in edges] == [
        ("Batch:B-10", dt.datetime(2026, 3, 2, tzinfo=dt.UTC)),
        ("Batch:B-9", dt.datetime(1901, 6, 30, 12, 34, 57, tzinfo=dt.UTC)),
    ]
    (record,) = store.versions(["PROCESSED:Equipment:EQ-9->Batch:B-9"])
    assert [v.props["at"].microsecond for v in record.versions] == [500000, 0]


def test_an_invalid_record_means_nothing_is_written(store: GraphStore) -> None:
    bad = [*LINES, {"type": "Batch", "id": "B-2", "started_at": "yesterday"}]
    with pytest.raises(InvalidImport) as info:
        load(store, bad)
    assert info.value.details == [
        f"data.jsonl:{len(bad)}: field 'started_at': not an ISO 8601 date or date-time: 'yesterday'"
    ]
    assert store.existing(["Supplier:S-1", "Device:D-1"]) == set()
    assert store.audit_entries() == []


def test_edges_may_join_nodes_imported_earlier(store: GraphStore) -> None:
    load(store)
    extra = [
        {"type": "Device", "id": "D-3", "manufactured_at": "2026-01-09"},
        {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-3"},
    ]
    assert load(store, extra).summary.created == 2
    with pytest.raises(InvalidImport, match=r"data.jsonl:1: field 'to': Device:D-9 exists neither"):
        load(store, [{"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-9"}])


def test_edges_and_reach(store: GraphStore) -> None:
    load(store)
    down = store.edges(["MaterialLot:L-1", "MaterialLot:L-2"], GENEALOGY, Direction.down)
    assert [(e.src, e.dst) for e in down] == [
        ("MaterialLot:L-1", "Batch:SUB-1"),
        ("MaterialLot:L-2", "Batch:SUB-1"),
    ]
    assert down[0].props == {"quantity": 20.0}
    up = store.edges(["Batch:B-1"], [RelType.PROCESSED], Direction.up)
    assert [(e.type, e.src, e.props["at"]) for e in up] == [
        (RelType.PROCESSED, "Equipment:EQ-1", dt.datetime(2026, 1, 8, 10, tzinfo=dt.UTC))
    ]
    # Without properties: the same edges, in any order.
    for keys, direction in [
        (["MaterialLot:L-1", "MaterialLot:L-2", "Batch:B-1", "Device:D-1"], Direction.down),
        (["Batch:B-1", "Batch:SUB-1", "Device:D-2", "Customer:C-1"], Direction.up),
        (["Supplier:S-1", "no such key"], Direction.down),
    ]:
        hopped = store.edges(keys, GENEALOGY, direction)
        assert hopped
        assert sorted(store.edges(keys, GENEALOGY, direction, props=False)) == sorted(
            (e.type, e.src, e.dst) for e in hopped
        )
    assert store.edges(["Batch:B-1"], [RelType.PRODUCED], Direction.down, props=False) in (
        [
            (RelType.PRODUCED, "Batch:B-1", "Device:D-1"),
            (RelType.PRODUCED, "Batch:B-1", "Device:D-2"),
        ],
        [
            (RelType.PRODUCED, "Batch:B-1", "Device:D-2"),
            (RelType.PRODUCED, "Batch:B-1", "Device:D-1"),
        ],
    )
    assert store.edges([], GENEALOGY, Direction.down, props=False) == []
    assert store.reach(["MaterialLot:L-1"], GENEALOGY, Direction.down) == {
        "Batch:SUB-1",
        "Batch:B-1",
        "Device:D-1",
        "Device:D-2",
        "Shipment:SH-1",
        "Customer:C-1",
    }
    assert store.reach(["MaterialLot:L-1"], GENEALOGY, Direction.down, depth=2) == {
        "Batch:SUB-1",
        "Batch:B-1",
    }
    assert store.reach(["Device:D-2"], GENEALOGY, Direction.up) == {
        "Batch:B-1",
        "Batch:SUB-1",
        "Equipment:EQ-1",
        "MaterialLot:L-1",
        "MaterialLot:L-2",
        "Supplier:S-1",
        "Material:M-1",
    }
    assert store.reach(["Customer:C-1"], GENEALOGY, Direction.down) == set()
    among = store.edges(
        ["Batch:B-1", "Device:D-1", "Shipment:SH-1", "Customer:C-1"], GENEALOGY, None
    )
    assert [(e.type, e.src, e.dst) for e in among] == [
        (RelType.PRODUCED, "Batch:B-1", "Device:D-1"),
        (RelType.SHIPPED_IN, "Device:D-1", "Shipment:SH-1"),
        (RelType.DELIVERED_TO, "Shipment:SH-1", "Customer:C-1"),
    ]


def test_trace_reports_shortest_depth_and_respects_the_limit(store: GraphStore) -> None:
    load(store)
    full = trace(store, "Supplier:S-1", Direction.down).as_json()
    depths = {n["key"]: n["depth"] for n in full["nodes"]}
    assert depths["Supplier:S-1"] == 0
    assert depths["Batch:SUB-1"] == 2
    assert depths["Customer:C-1"] == 6
    limited = trace(store, "Supplier:S-1", Direction.down, depth=3).as_json()
    assert max(n["depth"] for n in limited["nodes"]) == 3
    assert {n["key"] for n in limited["nodes"]} == {k for k, d in depths.items() if d <= 3}
    up = trace(store, "Device:D-1", Direction.up).as_json()
    assert {n["key"] for n in up["nodes"] if n["depth"] == 1} == {"Batch:B-1"}
    assert {n["key"] for n in up["nodes"] if n["depth"] == 2} == {"Batch:SUB-1", "Equipment:EQ-1"}
    with pytest.raises(NotFound):
        trace(store, "Device:nope", Direction.up)


def test_trace_terminates_on_a_cycle(store: GraphStore) -> None:
    # Bad upstream data can hold a cycle (two batches each consumed in the other).
    load(
        store,
        [
            {"type": "Batch", "id": "X", "started_at": "2026-01-01"},
            {"type": "Batch", "id": "Y", "started_at": "2026-01-01"},
            {"type": "CONSUMED_IN", "from": "Batch:X", "to": "Batch:Y"},
            {"type": "CONSUMED_IN", "from": "Batch:Y", "to": "Batch:X"},
        ],
    )
    result = trace(store, "Batch:X", Direction.down).as_json()
    assert {(n["key"], n["depth"]) for n in result["nodes"]} == {("Batch:X", 0), ("Batch:Y", 1)}
    assert len(result["edges"]) == 2


def test_every_write_appends_one_hash_chained_audit_entry(store: GraphStore) -> None:
    load(store)
    load(store, [{"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-05", "quantity": 1}])
    entries = store.audit_entries()
    assert [e.seq for e in entries] == [1, 2]
    assert entries[0].prev_hash == GENESIS
    assert entries[1].prev_hash == entries[0].hash
    for e in entries:
        assert entry_hash(e.body()) == e.hash
    assert (entries[0].actor, entries[0].source, entries[0].reason) == (
        "test",
        "MES",
        "contract test",
    )
    assert (entries[0].created, entries[1].updated) == (len(LINES), 1)


def test_the_audit_head_is_the_last_entry_of_the_chain_and_of_a_view(store: GraphStore) -> None:
    assert isinstance(store, ReadsAuditHead)
    assert store.audit_head() == GENESIS
    load(store)
    first = store.audit_entries()[-1]
    load(store, [{"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-05", "quantity": 1}])
    last = store.audit_entries()[-1]
    assert last.seq == first.seq + 1
    assert store.audit_head() == last.hash
    assert first.at is not None
    view = store.at(first.at)
    assert isinstance(view, ReadsAuditHead)
    assert view.audit_head() == view.audit_entries()[-1].hash
    assert view.audit_head() in (first.hash, last.hash)  # (two writes within one instant)
    before = store.at(first.at - dt.timedelta(seconds=1))
    assert isinstance(before, ReadsAuditHead)
    assert before.audit_head() == GENESIS


def test_reach_answers_per_seed_and_counts(store: GraphStore) -> None:
    load(store)
    each = store.reach(
        ["Device:D-1", "Device:D-2", "Device:nope"], GENEALOGY, Direction.up, each=True
    )
    assert set(each) == {"Device:D-1", "Device:D-2"}
    assert each["Device:D-1"] == store.reach(["Device:D-1"], GENEALOGY, Direction.up)
    # With a target type: the same closures, cut to that type (walked through the others).
    seeds = ["Device:D-1", "Device:D-2", "Customer:C-1", "Device:nope"]
    batches = store.reach(seeds, GENEALOGY, Direction.up, target=EntityType.Batch, each=True)
    assert batches == {
        s: {k for k in keys if k.startswith("Batch:")}
        for s, keys in store.reach(seeds, GENEALOGY, Direction.up, each=True).items()
    }
    assert batches["Device:D-1"] == {"Batch:B-1", "Batch:SUB-1"}
    assert store.reach(
        ["Supplier:S-1"], MAKING, Direction.down, target=EntityType.Batch, each=True
    ) == {"Supplier:S-1": {"Batch:SUB-1", "Batch:B-1"}}
    counts = store.reach(
        ["MaterialLot:L-1", "Batch:B-1", "Customer:C-1"],
        GENEALOGY,
        Direction.down,
        target=EntityType.Device,
        each=True,
        count=True,
    )
    assert counts == {"MaterialLot:L-1": 2, "Batch:B-1": 2, "Customer:C-1": 0}


def test_reach_takes_a_depth_and_a_target_in_every_form(store: GraphStore) -> None:
    load(store)
    lot, down = ["MaterialLot:L-1", "Device:nope"], Direction.down
    two = {"Batch:SUB-1", "Batch:B-1"}
    assert store.reach(lot, GENEALOGY, down, depth=2) == two
    assert store.reach(lot, GENEALOGY, down, depth=2, each=True) == {"MaterialLot:L-1": two}
    assert store.reach(lot, GENEALOGY, down, depth=2, each=True, count=True) == {
        "MaterialLot:L-1": 2
    }
    devices = {"Device:D-1", "Device:D-2"}
    assert store.reach(lot, GENEALOGY, down, target=EntityType.Device) == devices
    assert store.reach(lot, GENEALOGY, down, depth=3, target=EntityType.Device) == devices
    assert store.reach(lot, GENEALOGY, down, depth=2, target=EntityType.Device) == set()
    assert store.reach(
        lot, GENEALOGY, down, depth=4, target=EntityType.Batch, each=True, count=True
    ) == {"MaterialLot:L-1": 2}
    # A depth of MAX_HOPS or more is the whole closure.
    whole = store.reach(lot, GENEALOGY, down)
    assert store.reach(lot, GENEALOGY, down, depth=MAX_HOPS) == whole
    assert store.reach(lot, GENEALOGY, down, depth=MAX_HOPS + 5, each=True) == {
        "MaterialLot:L-1": whole
    }
    # The edges among a set, without their properties.
    keys = ["Batch:B-1", "Device:D-1", "Shipment:SH-1", "Customer:C-1"]
    assert sorted(store.edges(keys, GENEALOGY, None, props=False)) == sorted(
        (e.type, e.src, e.dst) for e in store.edges(keys, GENEALOGY, None)
    )
    with pytest.raises(BadInput, match="each"):
        store.reach(lot, GENEALOGY, down, count=True)  # type: ignore[call-overload]
    with pytest.raises(BadInput, match="depth 0"):
        store.reach(lot, GENEALOGY, down, depth=0)


@pytest.mark.parametrize("devices", [6, 7])  # a last page that is full, and one that is not
def test_keys_of_a_type_come_back_whole_and_in_order_across_pages(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch, devices: int
) -> None:
    from tracegraph.store.neo4j import Neo4jStore

    monkeypatch.setattr(Neo4jStore, "_PAGE_KEYS", 3)
    ids = [f"X-{i}" for i in range(devices)] + ["X-10", "X-2a"]  # "X-10" sorts before "X-2"
    made = "2026-01-03"
    load(store, [*LINES, *({"type": "Device", "id": i, "manufactured_at": made} for i in ids)])
    expected = sorted({f"Device:{i}" for i in [*ids, "D-1", "D-2"]})
    assert store.keys_of_type(EntityType.Device) == expected
    now = dt.datetime.now(dt.UTC)
    assert store.at(now).keys_of_type(EntityType.Device) == expected
    assert store.keys_of_type(EntityType.Inspection) == []


def test_neo4j_reads_a_time_written_with_a_named_zone_as_the_same_instant_in_utc(
    neo4j_store: Any,
) -> None:
    """Another writer may store a zoned time with a zone name (Neo4j prints it after the
    offset, in brackets): the store still answers the instant, in UTC."""
    load(neo4j_store)
    neo4j_store.driver.execute_query(
        "MATCH (n:Node {key: 'MaterialLot:L-1'}) "
        "SET n.received_at = datetime('2026-01-05T10:00:00.25+01:00[Europe/Berlin]')",
        database_=neo4j_store.database,
    )
    (lot,) = neo4j_store.nodes(["MaterialLot:L-1"]).values()
    assert lot.props["received_at"] == dt.datetime(2026, 1, 5, 9, 0, 0, 250000, tzinfo=dt.UTC)
    assert lot.props["received_at"].tzinfo is dt.UTC
