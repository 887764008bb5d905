"""Change impact on both stores: every category, what-ifs, the demo story, the output formats,
and a differential check of the two stores (plus an independent oracle) on random designs."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from cli.main import app
from tests.support.design import change_orders, designs
from tracegraph.demo import DESIGN_CHANGE, PROPOSED_CHANGE, load_demo
from tracegraph.errors import BadInput, NotFound
from tracegraph.impact import CATEGORIES, impact
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import GENEALOGY, utc
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore

REQ = WriteRequest(actor="test", operation="import")


def n(type_: str, id_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": id_, **fields}


def e(type_: str, src: str, dst: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "from": src, "to": dst, **fields}


def batch(id_: str, status: str = "released") -> dict[str, Any]:
    return n("Batch", id_, started_at="2026-01-02", status=status)


def device(id_: str, made: str) -> dict[str, Any]:
    return n("Device", id_, manufactured_at=made, udi=f"(01)0950(21){id_}")


# A pump in miniature.
#   Design: material M-X and M-Y go into the sub-assembly P-SUB, which goes into P-TOP (so M-X
#   reaches P-TOP only through the sub-assembly). M-Z goes into P-OTHER. P-GOV is made of
#   nothing listed but is governed by PR-GOV, which document DOC-1 governs. Each product has its
#   own process (PR-SUB, PR-TOP, PR-OTHER, PR-GOV) and each process its own document.
#   Lots: S-A delivered L-X1 (M-X); S-B delivered L-X2 (M-X) and L-Y1 (M-Y); S-C delivered
#   L-Z1 (M-Z).
#   Genealogy: B-SUB-1 (before the change) makes the serialised board D-S1 (01-05), installed
#   in D-1, and goes into B-TOP-1 (D-1 01-10, D-2 01-11) and B-TOP-4 (D-4 02-15: after the
#   change took effect, yet built from old boards). B-SUB-2 is built under CO-1 and goes into
#   B-TOP-2 (D-3 02-10) and B-TOP-3 (in process, no devices yet). B-GOV-1 is in process,
#   B-GOV-2 made D-G1 (01-20). B-OTH-1 (in process) made D-O1 (01-01).
#   Complaints: CMP-1 on D-1 (open), CMP-2 on D-3 (closed), CMP-3 on D-4 ("investigating":
#   open), CMP-9 on D-O1.
# Change orders:
#   CO-1 implemented, effective 2026-02-01: changes M-X and DOC-1, implemented in B-SUB-2.
#   CO-2 proposed, no effective_at: changes supplier S-C.
#   CO-3 approved: changes process PR-SUB.
#   CO-4 approved: changes nothing, implemented nowhere.
#   CO-5 proposed: changes the loose material M-LONE (part of nothing, no lots).
SCENARIO: list[dict[str, Any]] = [
    n("Supplier", "S-A", name="Alpha", status="approved", country="DE"),
    n("Supplier", "S-B", name="Beta", status="conditional", country="FR"),
    n("Supplier", "S-C", name="Gamma", status="approved", country="IT"),
    n("Material", "M-X", name="Valve seal", revision="C"),
    n("Material", "M-Y", name="Housing"),
    n("Material", "M-Z", name="Tubing"),
    n("Material", "M-LONE", name="Spare label"),
    *[n("MaterialLot", lot, received_at="2026-01-01") for lot in ("L-X1", "L-X2", "L-Y1", "L-Z1")],
    n("Product", "P-SUB", name="Pump module"),
    n("Product", "P-TOP", name="Infusion pump", gtin="09500000000017"),
    n("Product", "P-GOV", name="Pump stand"),
    n("Product", "P-OTHER", name="Giving set"),
    *[n("Process", f"PR-{p}", name=f"Build {p}", revision="A") for p in ("SUB", "TOP", "GOV")],
    n("Process", "PR-OTHER", name="Build OTHER", revision="A"),
    *[n("Document", f"DOC-{d}", title=f"WI {d}", revision="2") for d in ("SUB", "TOP", "OTHER")],
    n("Document", "DOC-1", title="WI stand", revision="4"),
    batch("B-SUB-1"),
    batch("B-SUB-2"),
    batch("B-TOP-1"),
    batch("B-TOP-2"),
    batch("B-TOP-3", "in_process"),
    batch("B-TOP-4"),
    batch("B-GOV-1", "in_process"),
    batch("B-GOV-2"),
    batch("B-OTH-1", "in_process"),
    device("D-S1", "2026-01-05"),
    device("D-1", "2026-01-10"),
    device("D-2", "2026-01-11T23:00:00Z"),
    device("D-3", "2026-02-10"),
    device("D-4", "2026-02-15"),
    device("D-G1", "2026-01-20"),
    device("D-O1", "2026-01-01"),
    n("Complaint", "CMP-1", reported_at="2026-03-01", severity="malfunction", description="leak"),
    n(
        "Complaint",
        "CMP-2",
        reported_at="2026-03-02",
        severity="other",
        attributes={"status": "closed"},
    ),
    n(
        "Complaint",
        "CMP-3",
        reported_at="2026-03-03",
        severity="serious_injury",
        attributes={"status": "investigating"},
    ),
    n("Complaint", "CMP-9", reported_at="2026-03-04", severity="other"),
    n(
        "ChangeOrder",
        "CO-1",
        kind="design",
        status="implemented",
        effective_at="2026-02-01",
        title="Seal rev D",
    ),
    n("ChangeOrder", "CO-2", kind="supplier", status="proposed", title="Drop Gamma"),
    n("ChangeOrder", "CO-3", kind="process", status="approved"),
    n("ChangeOrder", "CO-4", kind="document", status="approved"),
    n("ChangeOrder", "CO-5", kind="material", status="proposed", effective_at="2026-05-01"),
    # design
    e("COMPONENT_OF", "Material:M-X", "Product:P-SUB"),
    e("COMPONENT_OF", "Material:M-Y", "Product:P-SUB"),
    e("COMPONENT_OF", "Product:P-SUB", "Product:P-TOP"),
    e("COMPONENT_OF", "Material:M-Z", "Product:P-OTHER"),
    *[e("GOVERNS", f"Process:PR-{p}", f"Product:P-{p}") for p in ("SUB", "TOP", "GOV", "OTHER")],
    *[e("GOVERNS", f"Document:DOC-{d}", f"Process:PR-{d}") for d in ("SUB", "TOP", "OTHER")],
    e("GOVERNS", "Document:DOC-1", "Process:PR-GOV"),
    *[e("HAS_BATCH", "Product:P-SUB", f"Batch:B-SUB-{i}") for i in (1, 2)],
    *[e("HAS_BATCH", "Product:P-TOP", f"Batch:B-TOP-{i}") for i in (1, 2, 3, 4)],
    *[e("HAS_BATCH", "Product:P-GOV", f"Batch:B-GOV-{i}") for i in (1, 2)],
    e("HAS_BATCH", "Product:P-OTHER", "Batch:B-OTH-1"),
    e("CHANGES", "ChangeOrder:CO-1", "Material:M-X"),
    e("CHANGES", "ChangeOrder:CO-1", "Document:DOC-1"),
    e("IMPLEMENTED_IN", "ChangeOrder:CO-1", "Batch:B-SUB-2"),
    e("CHANGES", "ChangeOrder:CO-2", "Supplier:S-C"),
    e("CHANGES", "ChangeOrder:CO-3", "Process:PR-SUB"),
    e("CHANGES", "ChangeOrder:CO-5", "Material:M-LONE"),
    # genealogy
    e("SUPPLIED", "Supplier:S-A", "MaterialLot:L-X1"),
    e("SUPPLIED", "Supplier:S-B", "MaterialLot:L-X2"),
    e("SUPPLIED", "Supplier:S-B", "MaterialLot:L-Y1"),
    e("SUPPLIED", "Supplier:S-C", "MaterialLot:L-Z1"),
    e("HAS_LOT", "Material:M-X", "MaterialLot:L-X1"),
    e("HAS_LOT", "Material:M-X", "MaterialLot:L-X2"),
    e("HAS_LOT", "Material:M-Y", "MaterialLot:L-Y1"),
    e("HAS_LOT", "Material:M-Z", "MaterialLot:L-Z1"),
    e("CONSUMED_IN", "MaterialLot:L-X1", "Batch:B-SUB-1"),
    e("CONSUMED_IN", "MaterialLot:L-X2", "Batch:B-SUB-2"),
    e("CONSUMED_IN", "Batch:B-SUB-1", "Batch:B-TOP-1"),
    e("CONSUMED_IN", "Batch:B-SUB-1", "Batch:B-TOP-4"),
    e("CONSUMED_IN", "Batch:B-SUB-2", "Batch:B-TOP-2"),
    e("CONSUMED_IN", "Batch:B-SUB-2", "Batch:B-TOP-3"),
    e("PRODUCED", "Batch:B-SUB-1", "Device:D-S1"),
    e("INSTALLED_IN", "Device:D-S1", "Device:D-1"),
    e("PRODUCED", "Batch:B-TOP-1", "Device:D-1"),
    e("PRODUCED", "Batch:B-TOP-1", "Device:D-2"),
    e("PRODUCED", "Batch:B-TOP-2", "Device:D-3"),
    e("PRODUCED", "Batch:B-TOP-4", "Device:D-4"),
    e("PRODUCED", "Batch:B-GOV-2", "Device:D-G1"),
    e("PRODUCED", "Batch:B-OTH-1", "Device:D-O1"),
    e("HAS_COMPLAINT", "Device:D-1", "Complaint:CMP-1"),
    e("HAS_COMPLAINT", "Device:D-3", "Complaint:CMP-2"),
    e("HAS_COMPLAINT", "Device:D-4", "Complaint:CMP-3"),
    e("HAS_COMPLAINT", "Device:D-O1", "Complaint:CMP-9"),
]


def load(store: GraphStore, records: list[dict[str, Any]] = SCENARIO) -> None:
    import_records(store, read_jsonl("scenario.jsonl", [orjson.dumps(r) for r in records]), REQ)


def keys(answer: dict[str, Any], category: str) -> list[str]:
    return [item["key"] for item in answer[category]]


def by_key(answer: dict[str, Any], category: str) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in answer[category]}


# --------------------------------------------------------------------------- semantics


def test_every_category_of_an_implemented_change(store: GraphStore) -> None:
    load(store)
    answer = impact(store, "CO-1").as_json()

    assert answer["change"] == {
        "id": "CO-1",
        "key": "ChangeOrder:CO-1",
        "kind": "design",
        "status": "implemented",
        "effective_at": "2026-02-01T00:00:00Z",
        "title": "Seal rev D",
    }
    assert answer["what_if"] is False
    assert keys(answer, "changes") == ["Document:DOC-1", "Material:M-X"]
    # M-X → P-SUB → P-TOP (where-used through the sub-assembly); DOC-1 → PR-GOV → P-GOV.
    assert keys(answer, "products") == ["Product:P-GOV", "Product:P-SUB", "Product:P-TOP"]
    products = by_key(answer, "products")
    assert products["Product:P-TOP"]["path"] == ["Material:M-X", "Product:P-SUB", "Product:P-TOP"]
    assert products["Product:P-TOP"]["reasons"] == ["Material:M-X"]
    assert products["Product:P-GOV"]["path"] == [
        "Document:DOC-1",
        "Process:PR-GOV",
        "Product:P-GOV",
    ]
    assert products["Product:P-GOV"]["reasons"] == ["Document:DOC-1"]
    assert not any(p["changed"] for p in products.values())

    assert keys(answer, "processes") == ["Process:PR-GOV", "Process:PR-SUB", "Process:PR-TOP"]
    assert by_key(answer, "processes")["Process:PR-SUB"]["governs"] == ["Product:P-SUB"]
    assert keys(answer, "documents") == ["Document:DOC-1", "Document:DOC-SUB", "Document:DOC-TOP"]
    documents = by_key(answer, "documents")
    assert documents["Document:DOC-1"]["changed"] is True
    assert documents["Document:DOC-1"]["governs"] == ["Process:PR-GOV"]
    assert documents["Document:DOC-SUB"]["changed"] is False

    # Suppliers of M-X lots only: S-B's M-Y lot does not count, S-C delivers nothing changed.
    assert keys(answer, "suppliers") == ["Supplier:S-A", "Supplier:S-B"]
    supplier_b = by_key(answer, "suppliers")["Supplier:S-B"]
    assert (supplier_b["materials"], supplier_b["lots"], supplier_b["changed"]) == (
        ["Material:M-X"],
        1,
        False,
    )
    assert supplier_b["status"] == "conditional"

    assert keys(answer, "batches_under_change") == ["Batch:B-SUB-2"]
    assert answer["batches_under_change"][0]["product"] == "Product:P-SUB"
    # P-OTHER's B-OTH-1 is in process too, but P-OTHER is not affected.
    assert keys(answer, "batches_in_process") == ["Batch:B-GOV-1", "Batch:B-TOP-3"]

    # Under the change: what B-SUB-2 went into (B-TOP-2 → D-3; B-TOP-3 has no devices yet).
    assert keys(answer, "devices_under_change") == ["Device:D-3"]
    # Before 02-01: the serialised board, the pumps built from old boards, the stand's device.
    assert keys(answer, "devices_before") == [
        "Device:D-1",
        "Device:D-2",
        "Device:D-G1",
        "Device:D-S1",
    ]
    # D-4 was built after the change took effect, from boards built before it.
    assert keys(answer, "devices_after_without_change") == ["Device:D-4"]
    devices = by_key(answer, "devices_before")
    assert devices["Device:D-S1"]["product"] == "Product:P-SUB"
    assert devices["Device:D-S1"]["batch"] == "Batch:B-SUB-1"
    assert devices["Device:D-1"]["product"] == "Product:P-TOP"
    assert devices["Device:D-2"]["manufactured_at"] == "2026-01-11T23:00:00Z"
    assert devices["Device:D-2"]["udi"] == "(01)0950(21)D-2"

    # CMP-2 is closed; CMP-9 is on an unaffected device.
    assert keys(answer, "complaints") == ["Complaint:CMP-1", "Complaint:CMP-3"]
    complaint = by_key(answer, "complaints")["Complaint:CMP-3"]
    assert (complaint["device"], complaint["product"], complaint["severity"]) == (
        "Device:D-4",
        "Product:P-TOP",
        "serious_injury",
    )
    assert answer["closed_complaints"] == 1

    assert answer["counts"] == {
        "changes": 2,
        "products": 3,
        "processes": 3,
        "documents": 3,
        "suppliers": 2,
        "batches_under_change": 1,
        "batches_in_process": 2,
        "devices_before": 4,
        "devices_under_change": 1,
        "devices_after_without_change": 1,
        "complaints": 2,
    }
    for category in CATEGORIES:
        assert keys(answer, category) == sorted(keys(answer, category))
        assert all(item["id"] == item["key"].partition(":")[2] for item in answer[category])


def test_a_proposed_supplier_change_is_a_what_if(store: GraphStore) -> None:
    load(store)
    answer = impact(store, "ChangeOrder:CO-2").as_json()
    assert answer["what_if"] is True
    assert answer["change"]["effective_at"] is None
    assert any("what-if" in note for note in answer["notes"])
    assert any("no effective_at" in note for note in answer["notes"])
    # S-C delivered M-Z, which goes into P-OTHER.
    assert keys(answer, "products") == ["Product:P-OTHER"]
    assert answer["products"][0]["path"] == [
        "Supplier:S-C",
        "MaterialLot:L-Z1",
        "Material:M-Z",
        "Product:P-OTHER",
    ]
    assert answer["suppliers"] == [
        {
            "id": "S-C",
            "key": "Supplier:S-C",
            "name": "Gamma",
            "status": "approved",
            "country": "IT",
            "changed": True,
            "materials": ["Material:M-Z"],
            "lots": 1,
        }
    ]
    assert keys(answer, "processes") == ["Process:PR-OTHER"]
    assert keys(answer, "documents") == ["Document:DOC-OTHER"]
    assert keys(answer, "batches_under_change") == []
    assert keys(answer, "batches_in_process") == ["Batch:B-OTH-1"]
    # Without effective_at every device of an affected product is a candidate.
    assert keys(answer, "devices_before") == ["Device:D-O1"]
    assert keys(answer, "devices_after_without_change") == []
    assert keys(answer, "complaints") == ["Complaint:CMP-9"]


def test_a_changed_process_reaches_its_product_and_where_it_is_used(store: GraphStore) -> None:
    load(store)
    answer = impact(store, "CO-3").as_json()
    assert answer["what_if"] is False
    assert keys(answer, "products") == ["Product:P-SUB", "Product:P-TOP"]
    assert by_key(answer, "products")["Product:P-TOP"]["path"] == [
        "Process:PR-SUB",
        "Product:P-SUB",
        "Product:P-TOP",
    ]
    processes = by_key(answer, "processes")
    assert list(processes) == ["Process:PR-SUB", "Process:PR-TOP"]
    assert processes["Process:PR-SUB"]["changed"] is True
    assert processes["Process:PR-TOP"]["changed"] is False
    assert keys(answer, "suppliers") == []
    # Approved, not yet implemented anywhere, no effective_at: every device is a candidate.
    assert keys(answer, "devices_before") == [
        "Device:D-1",
        "Device:D-2",
        "Device:D-3",
        "Device:D-4",
        "Device:D-S1",
    ]
    assert keys(answer, "complaints") == ["Complaint:CMP-1", "Complaint:CMP-3"]


def test_a_change_with_no_effect_is_an_explicit_empty_answer(store: GraphStore) -> None:
    load(store)
    answer = impact(store, "CO-4").as_json()
    for category in CATEGORIES:
        assert answer[category] == []
    assert answer["counts"] == dict.fromkeys(CATEGORIES, 0)
    assert answer["closed_complaints"] == 0

    loose = impact(store, "CO-5").as_json()
    assert keys(loose, "changes") == ["Material:M-LONE"]
    assert {c: n for c, n in loose["counts"].items() if n} == {"changes": 1}


def test_as_of_answers_as_the_store_knew_it(store: GraphStore) -> None:
    load(store)
    before = store.audit_entries()[-1].at
    # Later, CO-4 is found to change M-Y and to have been implemented in B-SUB-1.
    load(
        store,
        [
            e("CHANGES", "ChangeOrder:CO-4", "Material:M-Y"),
            e("IMPLEMENTED_IN", "ChangeOrder:CO-4", "Batch:B-SUB-1"),
        ],
    )
    now = impact(store, "CO-4").as_json()
    assert keys(now, "products") == ["Product:P-SUB", "Product:P-TOP"]
    assert keys(now, "suppliers") == ["Supplier:S-B"]
    assert keys(now, "devices_under_change") == [
        "Device:D-1",
        "Device:D-2",
        "Device:D-4",
        "Device:D-S1",
    ]
    then = impact(store.at(before), "CO-4").as_json()
    assert then["counts"] == dict.fromkeys(CATEGORIES, 0)


def test_unknown_and_wrong_keys_are_refused(store: GraphStore) -> None:
    load(store)
    with pytest.raises(NotFound, match="ChangeOrder:CO-404"):
        impact(store, "CO-404")
    with pytest.raises(BadInput, match="not a ChangeOrder"):
        impact(store, "Batch:B-SUB-1")
    with pytest.raises(BadInput, match="empty"):
        impact(store, "  ")


# --------------------------------------------------------------------------- the demo story


def test_the_demo_design_change_co118(store: GraphStore) -> None:
    load_demo(store)
    answer = impact(store, DESIGN_CHANGE).as_json()
    assert answer["what_if"] is False
    assert keys(answer, "changes") == [
        "Document:DOC-WI-SMT",
        "Material:MAT-PCB-MB2",
        "Product:P-MB2",
    ]
    # The main board and both monitors that contain it.
    assert keys(answer, "products") == ["Product:P-LITE3", "Product:P-MB2", "Product:P-PRO12"]
    assert keys(answer, "suppliers") == ["Supplier:S-1"]  # the PCB supplier
    # README: implemented in B-MB-107 and B-MB-108; B-PRO-207 is still in process.
    assert keys(answer, "batches_under_change") == ["Batch:B-MB-107", "Batch:B-MB-108"]
    assert keys(answer, "batches_in_process") == ["Batch:B-PRO-207"]
    # B-MB-107 → B-LITE-304 (D-000133…136); B-MB-108 → B-PRO-206 (D-000137…140) and B-PRO-207.
    assert keys(answer, "devices_under_change") == [f"Device:D-000{i}" for i in range(133, 141)]
    # Every other monitor contains an MB-2 and was built before 2026-02-01.
    assert keys(answer, "devices_before") == [f"Device:D-000{i}" for i in range(101, 133)]
    assert all(utc(d["manufactured_at"]) < utc("2026-02-01") for d in answer["devices_before"])
    assert answer["counts"]["complaints"] == 9


def test_the_demo_proposed_change_co121_is_a_what_if(store: GraphStore) -> None:
    load_demo(store)
    answer = impact(store, PROPOSED_CHANGE).as_json()
    assert answer["what_if"] is True
    assert keys(answer, "changes") == ["Material:MAT-C100", "Supplier:S-7"]
    # S-3 also delivers the capacitor that would be replaced.
    assert keys(answer, "suppliers") == ["Supplier:S-3", "Supplier:S-7"]
    assert keys(answer, "batches_under_change") == []
    assert answer["counts"]["devices_before"] == 40  # every monitor, all built before 04-01


# --------------------------------------------------------------------------- the command


def run(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "impact.tgdb"
    load(EmbeddedStore(path))
    return str(path)


def test_cli_json_is_the_service_answer(db: str) -> None:
    result = run("impact", "CO-1", "--db", db, "--format", "json")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer == impact(EmbeddedStore(db), "CO-1").as_json()
    for category in (*CATEGORIES, "counts", "change", "what_if"):
        assert category in answer


def test_cli_table_shows_counts_first_then_each_category(db: str) -> None:
    result = run("impact", "ChangeOrder:CO-1", "--db", db, "--format", "table")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Change impact of ChangeOrder:CO-1" in out
    positions = [
        out.index(title)
        for title in (
            "Counts",
            "Changed items",
            "Affected products",
            "Processes",
            "Documents",
            "Suppliers",
            "Batches built under the change",
            "still in process",
            "field-action candidates",
            "Devices built under the change",
            "not under the change",
            "Open complaints",
        )
    ]
    assert positions == sorted(positions)
    assert re.search(r"devices_before\s*│\s*4\s*│", out)
    candidates = out[out.index("field-action candidates") : out.index("Devices built under")]
    assert [d for d in ("D-1 ", "D-2 ", "D-G1", "D-S1", "D-3 ", "D-4 ") if d in candidates] == [
        "D-1 ",
        "D-2 ",
        "D-G1",
        "D-S1",
    ]
    proposed = run("impact", "CO-2", "--db", db, "--format", "table")
    assert "WHAT-IF" in proposed.stdout
    empty = run("impact", "CO-4", "--db", db, "--format", "table")
    assert "Changed items: none" in empty.stdout


def test_cli_csv_has_one_row_per_item(db: str) -> None:
    result = run("impact", "CO-1", "--db", db, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    answer = impact(EmbeddedStore(db), "CO-1").as_json()
    assert [(r["category"], r["key"]) for r in rows] == [
        (c, item["key"]) for c in CATEGORIES for item in answer[c]
    ]
    device = next(r for r in rows if r["key"] == "Device:D-S1")
    assert (device["category"], device["product"], device["batch"], device["date"]) == (
        "devices_before",
        "Product:P-SUB",
        "Batch:B-SUB-1",
        "2026-01-05T00:00:00Z",
    )
    top = next(r for r in rows if r["key"] == "Product:P-TOP")
    assert top["detail"] == "Material:M-X → Product:P-SUB → Product:P-TOP"
    assert top["changed"] == "false"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["CO-404"], "ChangeOrder:CO-404: no such change order"),
        (["Batch:B-SUB-1"], "not a ChangeOrder"),
        (["CO-1", "--format", "xml"], "--format"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(db: str, args: list[str], reason: str) -> None:
    result = run("impact", *args, "--db", db)
    assert result.exit_code == 2
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


# --------------------------------------------------------------------------- both stores agree


def oracle(records: list[dict[str, Any]], change: str) -> dict[str, set[str]]:
    """The categories' key sets, computed the naive way straight from the records."""
    out_edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    in_edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    props = {f"{r['type']}:{r['id']}": r for r in records if "id" in r}
    for r in records:
        if "from" in r:
            out_edges[(r["from"], r["type"])].add(r["to"])
            in_edges[(r["to"], r["type"])].add(r["from"])

    def down(nodes: set[str], *rels: str) -> set[str]:
        return {m for k in nodes for rel in rels for m in out_edges[(k, rel)]}

    def up(nodes: set[str], *rels: str) -> set[str]:
        return {m for k in nodes for rel in rels for m in in_edges[(k, rel)]}

    def closure(nodes: set[str], *rels: str) -> set[str]:
        seen = set(nodes)
        while True:
            more = down(seen, *rels) - seen
            if not more:
                return seen
            seen |= more

    def typed(nodes: set[str], type_: str) -> set[str]:
        return {k for k in nodes if k.startswith(f"{type_}:")}

    genealogy = [str(r) for r in GENEALOGY]
    changed = down({change}, "CHANGES")
    suppliers = typed(changed, "Supplier")
    materials = typed(changed, "Material")
    delivered = up(down(suppliers, "SUPPLIED"), "HAS_LOT")
    governing = typed(changed, "Process") | down(typed(changed, "Document"), "GOVERNS")
    seeds = typed(changed, "Product") | materials | delivered | down(governing, "GOVERNS")
    products = typed(closure(seeds, "COMPONENT_OF"), "Product")
    processes = governing | typed(up(products, "GOVERNS"), "Process")
    documents = typed(changed, "Document") | up(processes, "GOVERNS")
    batches = down(products, "HAS_BATCH")
    under = down({change}, "IMPLEMENTED_IN")
    of_products = typed(closure(batches, *genealogy) - batches, "Device")
    built_under = typed(closure(under, *genealogy) - under, "Device")
    effective = props[change].get("effective_at")
    candidates = of_products - built_under
    before = {
        d
        for d in candidates
        if effective is None or utc(props[d]["manufactured_at"]) < utc(effective)
    }
    complaints = {
        c
        for c in down(of_products | built_under, "HAS_COMPLAINT")
        if str(props[c].get("attributes", {}).get("status", "")).lower() != "closed"
    }
    return {
        "changes": changed,
        "products": products,
        "processes": processes,
        "documents": documents,
        "suppliers": suppliers | up(down(materials, "HAS_LOT"), "SUPPLIED"),
        "batches_under_change": under,
        "batches_in_process": {b for b in batches if props[b].get("status") == "in_process"},
        "devices_before": before,
        "devices_under_change": built_under,
        "devices_after_without_change": candidates - before,
        "complaints": complaints,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=designs())
def test_impact_matches_a_naive_oracle_on_random_designs(records: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "s.tgdb")
        load(store, records)
        for change in change_orders(records):
            answer = impact(store, change).as_json()
            assert {c: set(keys(answer, c)) for c in CATEGORIES} == oracle(records, change)
            for product in answer["products"]:
                assert product["path"][0] in product["reasons"]
                assert product["path"][-1] == product["key"]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=designs(), data=st.data())
def test_both_stores_give_the_same_impact(
    fresh_neo4j: Callable[[], Neo4jStore], records: list[dict[str, Any]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        embedded = EmbeddedStore(Path(tmp) / "s.tgdb")
        neo4j = fresh_neo4j()
        load(embedded, records)
        load(neo4j, records)
        for change in change_orders(records):
            assert impact(embedded, change).as_json() == impact(neo4j, change).as_json()
