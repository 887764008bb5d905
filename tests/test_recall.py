"""Recall scope on both stores: every suspect kind, windows, reasons, and the output formats."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.main import app
from tests.support.genealogy import genealogies, keys_of
from tracegraph.errors import BadInput, NotFound
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import bound_end, utc
from tracegraph.recall import SUSPECT_TYPES, recall
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore


def n(type_: str, id_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": id_, **fields}


def e(type_: str, src: str, dst: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "from": src, "to": dst, **fields}


# A plant in miniature. Two lots of one capacitor from S-1 (certificate valid in January only):
# L-1 arrived before the certificate, L-2 inside it. Sub-assemblies SUB-1 (L-1) and SUB-2 (L-2)
# go into B-1 (SUB-1), B-2 (SUB-2) and B-3 (both: a diamond). SUB-1 also makes the serialised
# component D-5, installed in D-3. EQ-1 processed SUB-1 (01-05), SUB-2 (01-15 14:00) and B-3
# (01-25); it passed calibration on 01-01 and 01-10 and failed on 01-20.
SCENARIO: list[dict[str, Any]] = [
    n("Supplier", "S-1", name="Acme"),
    n("Certificate", "C-1", kind="ISO 13485", valid_from="2026-01-01", valid_to="2026-01-31"),
    n("Material", "M-1", name="Capacitor"),
    n("MaterialLot", "L-1", received_at="2025-12-20"),
    n("MaterialLot", "L-2", received_at="2026-01-10T09:00:00Z"),
    n("Product", "P-1", name="Monitor"),
    n("Product", "P-SUB", name="Board"),
    *[n("Batch", b, started_at="2026-01-05") for b in ("SUB-1", "SUB-2", "B-1", "B-2", "B-3")],
    *[n("Device", d, manufactured_at="2026-01-26") for d in ("D-1", "D-2", "D-3", "D-4")],
    n("Device", "D-5", manufactured_at="2026-01-06", udi="(01)1(21)D5"),
    n("Equipment", "EQ-1", name="Solder station"),
    n("MaintenanceEvent", "MC-1", kind="calibration", performed_at="2026-01-01", result="pass"),
    n("MaintenanceEvent", "MC-2", kind="calibration", performed_at="2026-01-10", result="pass"),
    n("MaintenanceEvent", "MC-3", kind="calibration", performed_at="2026-01-20", result="fail"),
    n("MaintenanceEvent", "MR-1", kind="repair", performed_at="2026-01-21", result="pass"),
    n("Process", "PR-1", name="Final assembly", revision="B"),
    n("ChangeOrder", "CO-1", kind="design", status="implemented"),
    n("Inspection", "I-1", kind="incoming", performed_at="2026-01-11", result="fail"),
    n("Inspection", "I-2", kind="final", performed_at="2026-01-27", result="pass"),
    n("Shipment", "SH-1", shipped_at="2026-01-28"),
    n("Shipment", "SH-2", shipped_at="2026-01-29"),
    n("Customer", "C-A", name="St. Mary", country="DE"),
    n("Customer", "C-B", name="General", country="FR"),
    n("ServiceEvent", "SE-1", kind="repair", performed_at="2026-02-01"),
    n("Complaint", "CP-1", reported_at="2026-02-02", severity="malfunction"),
    e("CERTIFIES", "Certificate:C-1", "Supplier:S-1"),
    e("SUPPLIED", "Supplier:S-1", "MaterialLot:L-1"),
    e("SUPPLIED", "Supplier:S-1", "MaterialLot:L-2"),
    e("HAS_LOT", "Material:M-1", "MaterialLot:L-1"),
    e("HAS_LOT", "Material:M-1", "MaterialLot:L-2"),
    e("CONSUMED_IN", "MaterialLot:L-1", "Batch:SUB-1"),
    e("CONSUMED_IN", "MaterialLot:L-2", "Batch:SUB-2"),
    e("CONSUMED_IN", "Batch:SUB-1", "Batch:B-1"),
    e("CONSUMED_IN", "Batch:SUB-2", "Batch:B-2"),
    e("CONSUMED_IN", "Batch:SUB-1", "Batch:B-3"),
    e("CONSUMED_IN", "Batch:SUB-2", "Batch:B-3"),
    e("PROCESSED", "Equipment:EQ-1", "Batch:SUB-1", at="2026-01-05"),
    e("PROCESSED", "Equipment:EQ-1", "Batch:SUB-2", at="2026-01-15T14:00:00Z"),
    e("PROCESSED", "Equipment:EQ-1", "Batch:B-3", at="2026-01-25"),
    *[
        e("MAINTAINS", f"MaintenanceEvent:{m}", "Equipment:EQ-1")
        for m in ("MC-1", "MC-2", "MC-3", "MR-1")
    ],
    e("FOLLOWED", "Process:PR-1", "Batch:B-1"),
    e("IMPLEMENTED_IN", "ChangeOrder:CO-1", "Batch:B-2"),
    e("INSPECTED", "Inspection:I-1", "MaterialLot:L-2"),
    e("INSPECTED", "Inspection:I-2", "Batch:B-1"),
    e("HAS_BATCH", "Product:P-1", "Batch:B-1"),
    e("HAS_BATCH", "Product:P-1", "Batch:B-2"),
    e("HAS_BATCH", "Product:P-1", "Batch:B-3"),
    e("HAS_BATCH", "Product:P-SUB", "Batch:SUB-1"),
    e("PRODUCED", "Batch:B-1", "Device:D-1"),
    e("PRODUCED", "Batch:B-1", "Device:D-2"),
    e("PRODUCED", "Batch:B-2", "Device:D-3"),
    e("PRODUCED", "Batch:B-3", "Device:D-4"),
    e("PRODUCED", "Batch:SUB-1", "Device:D-5"),
    e("INSTALLED_IN", "Device:D-5", "Device:D-3"),
    e("SHIPPED_IN", "Device:D-1", "Shipment:SH-1"),
    e("SHIPPED_IN", "Device:D-3", "Shipment:SH-1"),
    e("SHIPPED_IN", "Device:D-4", "Shipment:SH-2"),
    e("DELIVERED_TO", "Shipment:SH-1", "Customer:C-A"),
    e("DELIVERED_TO", "Shipment:SH-2", "Customer:C-B"),
    e("HAS_SERVICE", "Device:D-1", "ServiceEvent:SE-1"),
    e("HAS_COMPLAINT", "Device:D-4", "Complaint:CP-1"),
]  # fmt: skip

REQ = WriteRequest(actor="test", operation="import")


def load(store: GraphStore, records: list[dict[str, Any]] = SCENARIO) -> None:
    import_records(store, read_jsonl("scenario.jsonl", [orjson.dumps(r) for r in records]), REQ)


def devices(answer: dict[str, Any]) -> dict[str, list[str]]:
    return {d["id"]: d["path"] for d in answer["devices"]}


def ids(answer: dict[str, Any], section: str) -> list[str]:
    return [item["id"] for item in answer[section]]


def test_a_lot_reaches_every_device_built_from_it_with_reasons(store: GraphStore) -> None:
    load(store)
    answer = recall(store, ["MaterialLot:L-1"]).as_json()
    assert devices(answer) == {
        "D-1": ["MaterialLot:L-1", "Batch:SUB-1", "Batch:B-1", "Device:D-1"],
        "D-2": ["MaterialLot:L-1", "Batch:SUB-1", "Batch:B-1", "Device:D-2"],
        "D-3": ["MaterialLot:L-1", "Batch:SUB-1", "Device:D-5", "Device:D-3"],
        "D-4": ["MaterialLot:L-1", "Batch:SUB-1", "Batch:B-3", "Device:D-4"],
        "D-5": ["MaterialLot:L-1", "Batch:SUB-1", "Device:D-5"],
    }
    assert ids(answer, "lots") == ["L-1"]
    assert ids(answer, "batches") == ["B-1", "B-3", "SUB-1"]
    assert ids(answer, "shipments") == ["SH-1", "SH-2"]
    assert [(c["id"], c["devices"]) for c in answer["customers"]] == [("C-A", 2), ("C-B", 1)]
    assert ids(answer, "service_events") == ["SE-1"]
    assert ids(answer, "complaints") == ["CP-1"]
    assert answer["counts"] == {
        "lots": 1,
        "batches": 3,
        "devices": 5,
        "shipments": 2,
        "customers": 2,
        "service_events": 1,
        "complaints": 1,
    }
    # D-5 was built by the sub-assembly batch, whose product is the board.
    assert answer["counts_by_product"] == {"Product:P-1": 4, "Product:P-SUB": 1}
    d3 = next(d for d in answer["devices"] if d["id"] == "D-3")
    assert (d3["product"], d3["batch"], d3["customer"], d3["shipped_at"]) == (
        "Product:P-1",
        "Batch:B-2",
        "Customer:C-A",
        "2026-01-28T00:00:00Z",
    )


@pytest.mark.parametrize(
    ("suspects", "window", "expected"),
    [
        # A certificate implicates the lots its supplier delivered outside its validity.
        (["Certificate:C-1"], (None, None), {"D-1", "D-2", "D-3", "D-4", "D-5"}),
        (["Supplier:S-1"], (None, None), {"D-1", "D-2", "D-3", "D-4", "D-5"}),
        # A window bounds received_at of the supplier's lots: only L-2.
        (["Supplier:S-1"], ("2026-01-05", "2026-01-31"), {"D-3", "D-4"}),
        (["Material:M-1"], (None, "2025-12-31"), {"D-1", "D-2", "D-3", "D-4", "D-5"}),
        (["Material:M-1"], ("2026-01-11", None), set()),
        # Equipment: the batches it processed inside the window; a date `to` covers the day.
        (["Equipment:EQ-1"], ("2026-01-20", None), {"D-4"}),
        (["Equipment:EQ-1"], ("2026-01-15", "2026-01-15"), {"D-3", "D-4"}),
        # A failed calibration: after the last pass (01-10) up to the failure (01-20): SUB-2.
        (["MaintenanceEvent:MC-3"], (None, None), {"D-3", "D-4"}),
        (["MaintenanceEvent:MC-2"], (None, None), set()),
        (["MaintenanceEvent:MR-1"], (None, None), set()),
        (["Process:PR-1"], (None, None), {"D-1", "D-2"}),
        (["ChangeOrder:CO-1"], (None, None), {"D-3"}),
        (["Inspection:I-1"], (None, None), {"D-3", "D-4"}),
        (["Inspection:I-2"], (None, None), set()),
        (["Batch:B-3"], (None, None), {"D-4"}),
        (["Device:D-5"], (None, None), {"D-3", "D-5"}),
        (["Process:PR-1", "ChangeOrder:CO-1"], (None, None), {"D-1", "D-2", "D-3"}),
    ],
)
def test_each_suspect_kind_seeds_as_the_contract_says(
    store: GraphStore,
    suspects: list[str],
    window: tuple[str | None, str | None],
    expected: set[str],
) -> None:
    load(store)
    start = utc(window[0]) if window[0] else None
    end = bound_end(window[1]) if window[1] else None
    answer = recall(store, suspects, start, end).as_json()
    assert set(devices(answer)) == expected
    assert answer["counts"]["devices"] == len(expected)


def test_reasons_start_at_a_suspect_and_take_the_shortest_chain(store: GraphStore) -> None:
    load(store)
    by_calibration = devices(recall(store, ["MaintenanceEvent:MC-3"]).as_json())
    assert by_calibration["D-3"] == [
        "MaintenanceEvent:MC-3",
        "Equipment:EQ-1",
        "Batch:SUB-2",
        "Batch:B-2",
        "Device:D-3",
    ]
    by_certificate = devices(recall(store, ["Certificate:C-1"]).as_json())
    assert by_certificate["D-1"][:3] == ["Certificate:C-1", "Supplier:S-1", "MaterialLot:L-1"]
    # With two suspects, each device is explained by the nearer one.
    both = devices(recall(store, ["MaterialLot:L-1", "Device:D-5"]).as_json())
    assert both["D-3"] == ["Device:D-5", "Device:D-3"]
    assert both["D-1"][0] == "MaterialLot:L-1"


def test_passing_records_implicate_nothing_and_say_why(store: GraphStore) -> None:
    load(store)
    answer = recall(store, ["Inspection:I-2", "MaintenanceEvent:MC-2"]).as_json()
    assert answer["devices"] == []
    assert set(answer["counts"].values()) == {0}
    assert len(answer["notes"]) == 2
    assert "Inspection:I-2: passed" in answer["notes"][0]


def test_bad_suspects_are_refused(store: GraphStore) -> None:
    load(store)
    with pytest.raises(BadInput, match="a Customer cannot be a recall suspect"):
        recall(store, ["Customer:C-A"])
    with pytest.raises(NotFound, match="MaterialLot:nope: no such node"):
        recall(store, ["MaterialLot:nope"])
    with pytest.raises(BadInput, match="window is empty"):
        recall(store, ["Equipment:EQ-1"], utc("2026-02-01"), utc("2026-01-01"))
    with pytest.raises(BadInput):
        recall(store, [])
    assert set(SUSPECT_TYPES) >= {"Certificate", "Inspection", "MaintenanceEvent"}


def test_cli_recall_formats(tmp_path: Path) -> None:
    db = str(tmp_path / "s.tgdb")
    load(EmbeddedStore(db))
    runner = CliRunner()
    as_json = runner.invoke(
        app, ["recall", "Equipment:EQ-1", "--to", "2026-01-15", "--db", db, "--format", "json"]
    )
    assert as_json.exit_code == 0, as_json.stderr
    answer = orjson.loads(as_json.stdout)
    assert set(answer) >= {
        "batches",
        "devices",
        "shipments",
        "customers",
        "service_events",
        "complaints",
        "counts",
    }
    assert answer["window"]["to"] == "2026-01-15T23:59:59.999999Z"
    as_csv = runner.invoke(app, ["recall", "MaterialLot:L-1", "--db", db, "--format", "csv"])
    lines = as_csv.stdout.splitlines()
    assert lines[0] == "device,udi,product,batch,customer,shipped_at,reason"
    assert len(lines) == 6
    reason = "MaterialLot:L-1 → Batch:SUB-1 → Device:D-5"
    assert f"Device:D-5,(01)1(21)D5,Product:P-SUB,Batch:SUB-1,,,{reason}" in lines
    as_table = runner.invoke(app, ["recall", "MaterialLot:L-1", "--db", db, "--format", "table"])
    assert as_table.exit_code == 0
    assert (
        as_table.stdout.index("Totals")
        < as_table.stdout.index("Customers")
        < as_table.stdout.index("Devices (reason")
    )
    unknown = runner.invoke(app, ["recall", "Batch:nope", "--db", db])
    assert (unknown.exit_code, unknown.stdout) == (2, "")
    assert unknown.stderr.count("\n") == 1
    bad_date = runner.invoke(app, ["recall", "Batch:B-1", "--from", "soon", "--db", db])
    assert bad_date.exit_code == 2
    assert "not an ISO 8601" in bad_date.stderr  # fmt: skip


@pytest.mark.neo4j
def test_recall_visits_each_node_once_on_a_diamond_genealogy(neo4j_store: Neo4jStore) -> None:
    # 30 levels of two batches, each consuming both batches of the level before: 2^30 paths
    # from the lot to the last level, 61 nodes. A path-enumerating query would never finish.
    levels = 30
    records: list[dict[str, Any]] = [n("MaterialLot", "L", received_at="2026-01-01")]
    for level in range(levels):
        for side in "ab":
            records.append(n("Batch", f"{level}{side}", started_at="2026-01-02"))
            for src in (
                ["MaterialLot:L"] if level == 0 else [f"Batch:{level - 1}a", f"Batch:{level - 1}b"]
            ):
                records.append(e("CONSUMED_IN", src, f"Batch:{level}{side}"))
    load(neo4j_store, records)
    answer = recall(neo4j_store, ["MaterialLot:L"]).as_json()
    assert answer["counts"]["batches"] == 2 * levels

    from tracegraph import queries

    profile = neo4j_store.driver.execute_query(
        "PROFILE " + queries.get("reach_genealogy_down").text, {"seeds": ["MaterialLot:L"]}
    ).summary.profile
    assert profile is not None

    def hits(plan: dict[str, Any]) -> int:
        return int(plan.get("dbHits", 0)) + sum(hits(c) for c in plan.get("children", []))

    nodes = 2 * levels + 1
    assert hits(profile) <= 20 * nodes, hits(profile)  # fmt: skip


REQ_H = WriteRequest(actor="hypothesis", operation="import")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=genealogies(), data=st.data())
def test_both_stores_give_the_same_recall(
    fresh_neo4j: Callable[[], Neo4jStore],
    records: list[dict[str, Any]],
    data: st.DataObject,
) -> None:
    candidates = [k for k in keys_of(records) if k.split(":")[0] in SUSPECT_TYPES]
    suspects = data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3, unique=True))
    days = st.none() | st.integers(min_value=1, max_value=28).map(
        lambda d: dt.datetime(2026, 2, d, tzinfo=dt.UTC)
    )
    start, end = data.draw(days), data.draw(days)
    if start and end and start > end:
        start, end = end, start
    with tempfile.TemporaryDirectory() as tmp:  # a fresh store per example
        embedded = EmbeddedStore(Path(tmp) / "s.tgdb")
        neo4j = fresh_neo4j()
        for s in (embedded, neo4j):
            import_records(s, read_jsonl("r.jsonl", [orjson.dumps(r) for r in records]), REQ_H)
        assert (
            recall(embedded, suspects, start, end).as_json()
            == recall(neo4j, suspects, start, end).as_json()
        )


def test_a_suspect_is_read_whole_only_where_its_fields_seed_the_recall(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(store)
    asked: list[str] = []
    real = store.nodes

    def nodes(keys: Any) -> Any:
        keys = list(keys)
        asked.extend(keys)
        return real(keys)

    monkeypatch.setattr(store, "nodes", nodes)
    # A lot or a batch seeds itself: checked to exist, not read (a round trip less).
    assert recall(store, ["MaterialLot:L-1", "Batch:B-1"]).as_json()["devices"]
    assert not {"MaterialLot:L-1", "Batch:B-1"} & set(asked)
    # A calibration seeds by its time and result: read.
    recall(store, ["MaintenanceEvent:MC-3"])
    assert "MaintenanceEvent:MC-3" in asked
