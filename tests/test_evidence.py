"""Evidence chains: what goes into one, each finding rule (a case that fires and a near miss that
must not), the BagIt package and its verification (tamper tests), the HTML report, the demo
story and the CLI.

Store-dependent tests run on both stores (`store` fixture); the package tests work on a chain
taken from the embedded store, since packaging does not touch the store.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import bagit
import orjson
import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from tracegraph.demo import load_demo
from tracegraph.errors import BadInput, NotFound
from tracegraph.evidence import (
    RULES,
    EvidenceChain,
    evidence,
    evidence_json,
    verify_package,
    write_package,
)
from tracegraph.importer import import_records, read_jsonl
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore

REQ = WriteRequest(actor="test", operation="import", reason="evidence test")

# --------------------------------------------------------------------------- a small world

# A clean chain: S-1 (certified 2026-01-01..2026-06-30) delivered L-1 on 2026-02-01; L-1 went
# into the sub-assembly SUB-1, SUB-1 into B-1, processed on EQ-1 (calibrated and passed before
# and after), B-1 produced D-1, shipped to C-1. Its final inspection passed. No rule fires.
BASE: list[dict[str, Any]] = [
    {"type": "Supplier", "id": "S-1", "name": "Acme"},
    {"type": "Certificate", "id": "C-1", "kind": "ISO 13485", "valid_from": "2026-01-01",
     "valid_to": "2026-06-30"},
    {"type": "CERTIFIES", "from": "Certificate:C-1", "to": "Supplier:S-1"},
    {"type": "Material", "id": "M-1", "name": "Capacitor"},
    {"type": "MaterialLot", "id": "L-1", "received_at": "2026-02-01T08:00:00Z"},
    {"type": "SUPPLIED", "from": "Supplier:S-1", "to": "MaterialLot:L-1"},
    {"type": "HAS_LOT", "from": "Material:M-1", "to": "MaterialLot:L-1"},
    {"type": "Batch", "id": "SUB-1", "started_at": "2026-02-10", "status": "released",
     "kind": "subassembly"},
    {"type": "Batch", "id": "B-1", "started_at": "2026-02-12", "status": "released",
     "kind": "finished"},
    {"type": "CONSUMED_IN", "from": "MaterialLot:L-1", "to": "Batch:SUB-1", "quantity": 4,
     "at": "2026-02-10T07:00:00Z"},
    {"type": "CONSUMED_IN", "from": "Batch:SUB-1", "to": "Batch:B-1", "at": "2026-02-12T07:00Z"},
    {"type": "Equipment", "id": "EQ-1", "name": "Solder station"},
    {"type": "PROCESSED", "from": "Equipment:EQ-1", "to": "Batch:B-1", "at": "2026-02-12T10:00Z"},
    {"type": "MaintenanceEvent", "id": "CAL-1", "kind": "calibration",
     "performed_at": "2026-02-01T09:00:00Z", "result": "pass"},
    {"type": "MAINTAINS", "from": "MaintenanceEvent:CAL-1", "to": "Equipment:EQ-1"},
    {"type": "Device", "id": "D-1", "manufactured_at": "2026-02-12T15:00:00Z"},
    {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-1"},
    {"type": "Shipment", "id": "SH-1", "shipped_at": "2026-02-20"},
    {"type": "Customer", "id": "C-1", "name": "St. Mary"},
    {"type": "SHIPPED_IN", "from": "Device:D-1", "to": "Shipment:SH-1"},
    {"type": "DELIVERED_TO", "from": "Shipment:SH-1", "to": "Customer:C-1"},
    {"type": "Inspection", "id": "FIN-1", "kind": "final", "performed_at": "2026-02-13",
     "result": "pass"},
    {"type": "INSPECTED", "from": "Inspection:FIN-1", "to": "Batch:B-1"},
]  # fmt: skip


def _ident(record: dict[str, Any]) -> str:
    if "id" in record:
        return f"{record['type']}:{record['id']}"
    return f"{record['type']}:{record['from']}->{record['to']}"


def world(
    *extra: dict[str, Any], patch: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """BASE with some nodes' fields changed (``patch``: key -> fields) and more records."""
    patch = patch or {}
    assert set(patch) <= {_ident(r) for r in BASE}, "patch a record of BASE"
    return [*({**r, **patch.get(_ident(r), {})} for r in BASE), *extra]


def load(store: GraphStore, records: Iterable[dict[str, Any]]) -> None:
    import_records(store, read_jsonl("world.jsonl", [orjson.dumps(r) for r in records]), REQ)


def found(chain: EvidenceChain) -> set[tuple[str, str]]:
    return {(f.rule, f.subject) for f in chain.findings}


def calibration(ident: str, at: str, result: str, kind: str = "calibration") -> list[Any]:
    return [
        {"type": "MaintenanceEvent", "id": ident, "kind": kind, "performed_at": at,
         "result": result},
        {"type": "MAINTAINS", "from": f"MaintenanceEvent:{ident}", "to": "Equipment:EQ-1"},
    ]  # fmt: skip


def inspection(ident: str, at: str, result: str, kind: str = "final") -> list[Any]:
    return [
        {"type": "Inspection", "id": ident, "kind": kind, "performed_at": at, "result": result},
        {"type": "INSPECTED", "from": f"Inspection:{ident}", "to": "Batch:B-1"},
    ]


# --------------------------------------------------------------------------- the chain


def test_the_clean_world_has_a_full_chain_and_no_finding(store: GraphStore) -> None:
    load(store, world())
    chain = evidence(store, "Device:D-1")
    assert chain.findings == []
    roles = chain.roles
    assert roles["Device:D-1"] == "subject"
    for key in ("Batch:B-1", "Batch:SUB-1", "MaterialLot:L-1", "Supplier:S-1", "Equipment:EQ-1",
                "Material:M-1"):  # fmt: skip
        assert roles[key] == "upstream", key
    assert roles["Shipment:SH-1"] == roles["Customer:C-1"] == "downstream"
    assert roles["Certificate:C-1"] == roles["Inspection:FIN-1"] == "evidence"
    assert roles["MaintenanceEvent:CAL-1"] == "evidence"
    (lot,) = chain.lot_certificates
    assert (lot.lot, lot.supplier, lot.received_on, lot.valid) == (
        "MaterialLot:L-1",
        "Supplier:S-1",
        dt.date(2026, 2, 1),
        ("Certificate:C-1",),
    )
    doc = chain.as_json()
    assert doc["counts"]["findings_by_rule"] == {r.id: 0 for r in RULES}
    assert [(r["id"], r["findings"]) for r in doc["rules"]] == [(r.id, 0) for r in RULES]
    assert {(e["type"], e["from"], e["to"]) for e in doc["edges"]} >= {
        ("INSPECTED", "Inspection:FIN-1", "Batch:B-1"),
        ("CERTIFIES", "Certificate:C-1", "Supplier:S-1"),
        ("MAINTAINS", "MaintenanceEvent:CAL-1", "Equipment:EQ-1"),
        ("PROCESSED", "Equipment:EQ-1", "Batch:B-1"),
    }


def test_the_timeline_holds_every_dated_fact_in_time_order(store: GraphStore) -> None:
    load(store, world())
    timeline = evidence(store, "Device:D-1").as_json()["timeline"]
    facts = {(t["key"], t["fact"]): t["at"] for t in timeline}
    assert facts == {
        ("Certificate:C-1", "valid_from"): "2026-01-01",
        ("Certificate:C-1", "valid_to"): "2026-06-30",
        ("MaterialLot:L-1", "received_at"): "2026-02-01T08:00:00Z",
        ("MaintenanceEvent:CAL-1", "performed_at"): "2026-02-01T09:00:00Z",
        ("Batch:SUB-1", "started_at"): "2026-02-10T00:00:00Z",
        ("Batch:SUB-1", "CONSUMED_IN"): "2026-02-10T07:00:00Z",
        ("Batch:B-1", "started_at"): "2026-02-12T00:00:00Z",
        ("Batch:B-1", "CONSUMED_IN"): "2026-02-12T07:00:00Z",
        ("Batch:B-1", "PROCESSED"): "2026-02-12T10:00:00Z",
        ("Device:D-1", "manufactured_at"): "2026-02-12T15:00:00Z",
        ("Inspection:FIN-1", "performed_at"): "2026-02-13T00:00:00Z",
        ("Shipment:SH-1", "shipped_at"): "2026-02-20T00:00:00Z",
    }
    assert len(timeline) == len(facts)
    order = [(t["key"], t["fact"]) for t in timeline]
    assert order.index(("Certificate:C-1", "valid_from")) == 0
    assert order.index(("MaterialLot:L-1", "received_at")) < order.index(
        ("MaintenanceEvent:CAL-1", "performed_at")
    )
    assert order[-2:] == [("Shipment:SH-1", "shipped_at"), ("Certificate:C-1", "valid_to")]
    processed = next(t for t in timeline if t["fact"] == "PROCESSED")
    assert processed["related"] == "Equipment:EQ-1"


def test_a_batch_chain_holds_how_downstream_batches_were_made(store: GraphStore) -> None:
    # SUB-1's chain reaches B-1 downstream; B-1's equipment and process are its context.
    load(
        store,
        world(
            {"type": "Process", "id": "PR-1", "name": "Final assembly", "revision": "B"},
            {"type": "Document", "id": "DOC-1", "title": "Work instruction", "revision": "3"},
            {"type": "FOLLOWED", "from": "Process:PR-1", "to": "Batch:B-1"},
            {"type": "GOVERNS", "from": "Document:DOC-1", "to": "Process:PR-1"},
        ),
    )
    chain = evidence(store, "Batch:SUB-1")
    assert chain.roles["Batch:B-1"] == "downstream"
    assert chain.roles["Equipment:EQ-1"] == chain.roles["Process:PR-1"] == "context"
    assert chain.roles["Document:DOC-1"] == "design"
    doc = chain.as_json()
    assert doc["processes"][0]["documents"] == ["Document:DOC-1"]
    assert doc["processes"][0]["batches"] == ["Batch:B-1"]
    assert [u["batch"] for u in doc["equipment_use"]] == ["Batch:B-1"]


def test_only_maintenance_around_each_use_is_kept(store: GraphStore) -> None:
    # The use is at 2026-02-12T10:00. Kept: CAL-1 (the last event and calibration before it),
    # REP-1 (the first event after it, 17 days later) and CAL-2 (the first calibration after it,
    # 90 days later: kept whatever the distance). Dropped: PM-OLD and CAL-0 (before CAL-1 and
    # more than 30 days before the use) and CAL-3 (after CAL-2, far from the use).
    load(
        store,
        world(
            *calibration("PM-OLD", "2025-06-01", "pass", kind="preventive"),
            *calibration("CAL-0", "2025-12-01", "pass"),
            *calibration("REP-1", "2026-03-01", "pass", kind="repair"),
            *calibration("CAL-2", "2026-05-13", "pass"),
            *calibration("CAL-3", "2026-08-01", "fail"),
        ),
    )
    chain = evidence(store, "Device:D-1")
    kept = set(chain.keys("evidence", None)) & {
        f"MaintenanceEvent:{k}" for k in ("PM-OLD", "CAL-0", "CAL-1", "REP-1", "CAL-2", "CAL-3")
    }
    assert kept == {"MaintenanceEvent:CAL-1", "MaintenanceEvent:REP-1", "MaintenanceEvent:CAL-2"}
    assert "MaintenanceEvent:CAL-3" not in chain.nodes
    (use,) = chain.uses
    assert (use.calibration_before, use.calibration_after) == (
        "MaintenanceEvent:CAL-1",
        "MaintenanceEvent:CAL-2",
    )
    assert found(chain) == set()  # CAL-3 failed, but CAL-2 passed after the use


def test_evidence_is_only_for_devices_and_batches(store: GraphStore) -> None:
    load(store, world())
    with pytest.raises(BadInput, match="Device or a Batch"):
        evidence(store, "MaterialLot:L-1")
    with pytest.raises(NotFound):
        evidence(store, "Device:NOPE")
    with pytest.raises(BadInput, match="not a key"):
        evidence(store, "D-1")


# --------------------------------------------------------------------------- findings

L1, B1, D1, SUB1 = "MaterialLot:L-1", "Batch:B-1", "Device:D-1", "Batch:SUB-1"

CASES: dict[str, tuple[list[dict[str, Any]], set[tuple[str, str]]]] = {
    # lot-outside-certificate: validity is inclusive, by the UTC day of receipt, any certificate
    "lot received the day after validity": (
        world(patch={"MaterialLot:L-1": {"received_at": "2026-07-01T00:00:00Z"}}),
        {("lot-outside-certificate", L1)},
    ),
    "lot received the day before validity": (
        world(patch={"MaterialLot:L-1": {"received_at": "2025-12-31T23:59:00Z"}}),
        {("lot-outside-certificate", L1)},
    ),
    "lot received on the last valid day (near miss)": (
        world(patch={"MaterialLot:L-1": {"received_at": "2026-06-30T23:59:00Z"}}),
        set(),
    ),
    "lot received on the last valid day in UTC, next day locally (near miss)": (
        world(patch={"MaterialLot:L-1": {"received_at": "2026-07-01T01:00:00+02:00"}}),
        set(),
    ),
    "lot covered by a second certificate (near miss)": (
        world(
            {
                "type": "Certificate",
                "id": "C-2",
                "kind": "ISO 13485",
                "valid_from": "2026-07-01",
                "valid_to": "2027-06-30",
            },
            {"type": "CERTIFIES", "from": "Certificate:C-2", "to": "Supplier:S-1"},
            patch={"MaterialLot:L-1": {"received_at": "2026-07-01T08:00:00Z"}},
        ),
        set(),
    ),
    "lot from a supplier with no certificate": (
        [r for r in world() if r["type"] != "CERTIFIES"],
        {("lot-outside-certificate", L1)},
    ),
    # calibration-failed-before-use
    "last calibration before use failed": (
        world(*calibration("CAL-F", "2026-02-11T09:00Z", "fail")),
        {("calibration-failed-before-use", B1)},
    ),
    "failed calibration redone and passed before use (near miss)": (
        world(
            *calibration("CAL-F", "2026-02-11T09:00Z", "fail"),
            *calibration("CAL-R", "2026-02-11T15:00Z", "pass"),
        ),
        set(),
    ),
    "failed repair before use is not a calibration (near miss)": (
        world(*calibration("REP-F", "2026-02-11T09:00Z", "fail", kind="repair")),
        set(),
    ),
    "failed calibration after use, none passed in between": (
        world(*calibration("CAL-F", "2026-02-20T09:00Z", "fail")),
        {("calibration-failed-after-use", B1)},
    ),
    "a passing calibration between use and failure (near miss)": (
        world(
            *calibration("CAL-P", "2026-02-15T09:00Z", "pass"),
            *calibration("CAL-F", "2026-02-20T09:00Z", "fail"),
        ),
        set(),
    ),
    # failed-inspection-without-pass
    "failed final inspection, nothing after": (
        world(*inspection("FIN-2", "2026-02-14", "fail")),
        {("failed-inspection-without-pass", B1)},
    ),
    "failed final inspection, then a pass of another kind": (
        world(
            *inspection("FIN-2", "2026-02-14", "fail"),
            *inspection("IPC-1", "2026-02-15", "pass", kind="in_process"),
        ),
        {("failed-inspection-without-pass", B1)},
    ),
    "failed final inspection, then passed re-inspection (near miss)": (
        world(
            *inspection("FIN-2", "2026-02-14", "fail"),
            *inspection("FIN-3", "2026-02-15", "pass"),
        ),
        set(),
    ),
    # device-from-held-batch
    "device produced by a quarantined batch": (
        world(patch={"Batch:B-1": {"status": "quarantined"}}),
        {("device-from-held-batch", D1)},
    ),
    "device holding a sub-assembly from a rejected batch": (
        world(patch={"Batch:SUB-1": {"status": "rejected"}}),
        {("device-from-held-batch", D1)},
    ),
    "device from batches in process and released (near miss)": (
        world(patch={"Batch:SUB-1": {"status": "in_process"}}),
        set(),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_finding_rule(store: GraphStore, case: str) -> None:
    records, expected = CASES[case]
    load(store, records)
    chain = evidence(store, "Device:D-1")
    assert found(chain) == expected
    for finding in chain.findings:
        assert finding.subject in finding.evidence
        assert all(k in chain.nodes for k in finding.evidence)
        assert finding.severity == "high"


def test_finding_messages_and_evidence_name_the_records(store: GraphStore) -> None:
    load(
        store,
        world(
            *calibration("CAL-F", "2026-02-11T09:00Z", "fail"),
            *inspection("FIN-2", "2026-02-14", "fail"),
            patch={
                "Batch:SUB-1": {"status": "rejected"},
                "MaterialLot:L-1": {"received_at": "2026-07-01T00:00:00Z"},
            },
        ),
    )
    chain = evidence(store, "Device:D-1")
    by_rule = {f.rule: f for f in chain.findings}
    assert set(by_rule) == {
        "lot-outside-certificate",
        "calibration-failed-before-use",
        "failed-inspection-without-pass",
        "device-from-held-batch",
    }
    lot = by_rule["lot-outside-certificate"]
    assert lot.evidence == (L1, "Supplier:S-1", "Certificate:C-1")
    assert "2026-07-01" in lot.message
    assert "2026-01-01..2026-06-30" in lot.message
    cal = by_rule["calibration-failed-before-use"]
    assert cal.evidence == (B1, "Equipment:EQ-1", "MaintenanceEvent:CAL-F")
    assert by_rule["failed-inspection-without-pass"].evidence == (B1, "Inspection:FIN-2")
    held = by_rule["device-from-held-batch"]
    assert held.evidence == (SUB1, B1, D1)
    assert "rejected" in held.message
    assert "through Batch:B-1" in held.message
    assert chain.as_json()["counts"]["findings_by_rule"] == {
        "lot-outside-certificate": 1,
        "calibration-failed-before-use": 1,
        "calibration-failed-after-use": 0,
        "failed-inspection-without-pass": 1,
        "device-from-held-batch": 1,
    }


# --------------------------------------------------------------------------- the demo story

# The serious-injury complaint CMP-0438 is on D-000125: B-PRO-204 <- B-MB-105 <- L-2026-0042,
# received 2026-01-05 from S-7 between CERT-S7-2022 (to 2025-12-31) and CERT-S7-2026 (from
# 2026-02-20). EQ-SOLDER-3 soldered B-MB-105 on 2026-01-13, *before* its last passing calibration
# M-3302 (2026-01-15), so the failed calibration M-3303 (2026-02-16) does not bear on it: the
# next calibration after that use passed. The device whose chain does cross the failure is one
# of B-LITE-304 (D-000133): its board batch B-MB-107 was soldered on 2026-02-09, after M-3302
# passed and before M-3303 failed; B-LITE-304 also failed its final inspection and is
# quarantined.


def test_demo_complaint_device_shows_the_lapsed_certificate(store: GraphStore) -> None:
    load_demo(store)
    chain = evidence(store, "Device:D-000125")
    assert chain.roles["Complaint:CMP-0438"] == "downstream"
    assert found(chain) == {("lot-outside-certificate", "MaterialLot:L-2026-0042")}
    (lapsed,) = chain.findings
    assert lapsed.evidence == (
        "MaterialLot:L-2026-0042",
        "Supplier:S-7",
        "Certificate:CERT-S7-2022",
        "Certificate:CERT-S7-2026",
    )
    doc = chain.as_json()
    receipt = next(c for c in doc["lot_certificates"] if c["lot"] == "MaterialLot:L-2026-0042")
    assert receipt == {
        "lot": "MaterialLot:L-2026-0042",
        "supplier": "Supplier:S-7",
        "received_on": "2026-01-05",
        "certificates": ["Certificate:CERT-S7-2022", "Certificate:CERT-S7-2026"],
        "valid_at_receipt": [],
        "covered": False,
    }
    solder = next(u for u in doc["equipment_use"] if u["equipment"] == "Equipment:EQ-SOLDER-3")
    assert (solder["batch"], solder["at"]) == ("Batch:B-MB-105", "2026-01-13T13:15:00Z")
    assert solder["last_calibration_before"] == "MaintenanceEvent:M-3301"
    assert solder["first_calibration_after"] == "MaintenanceEvent:M-3302"
    assert solder["first_calibration_after_result"] == "pass"
    assert "MaintenanceEvent:M-3303" not in chain.nodes


def test_demo_device_soldered_before_the_failed_calibration(store: GraphStore) -> None:
    load_demo(store)
    chain = evidence(store, "Device:D-000133")
    assert found(chain) == {
        ("calibration-failed-after-use", "Batch:B-MB-107"),
        ("failed-inspection-without-pass", "Batch:B-LITE-304"),
        ("device-from-held-batch", "Device:D-000133"),
    }
    cal = next(f for f in chain.findings if f.rule == "calibration-failed-after-use")
    assert cal.evidence == (
        "Batch:B-MB-107",
        "Equipment:EQ-SOLDER-3",
        "MaintenanceEvent:M-3302",
        "MaintenanceEvent:M-3303",
    )
    assert chain.nodes["MaintenanceEvent:M-3303"].props["result"] == "fail"
    # The change order it was built under, with what it changes.
    co = next(c for c in chain.as_json()["change_orders"] if c["key"] == "ChangeOrder:CO-118")
    assert co["implemented_in"] == ["Batch:B-MB-107"]
    assert co["changes"] == ["Document:DOC-WI-SMT", "Material:MAT-PCB-MB2", "Product:P-MB2"]


def test_demo_reinspected_batch_has_no_open_failed_inspection(store: GraphStore) -> None:
    # B-PRO-202 failed I-FIN-202 and passed the re-inspection I-FIN-202R afterwards.
    load_demo(store)
    chain = evidence(store, "Batch:B-PRO-202")
    assert {"Inspection:I-FIN-202", "Inspection:I-FIN-202R"} <= set(chain.nodes)
    assert not [f for f in chain.findings if f.rule == "failed-inspection-without-pass"]


def test_both_stores_give_the_same_evidence_bytes(
    store_pair: tuple[GraphStore, ...],
) -> None:
    outputs = []
    for one in store_pair:
        load_demo(one)
        outputs.append(
            [evidence_json(evidence(one, k)) for k in ("Device:D-000133", "Batch:B-MB-105")]
        )
    assert outputs[0] == outputs[1]


# --------------------------------------------------------------------------- the package


@pytest.fixture
def demo_chain(tmp_path: Path) -> EvidenceChain:
    store = EmbeddedStore(tmp_path / "demo.tgdb")
    load_demo(store)
    return evidence(store, "Device:D-000125")


AT = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_package_is_a_valid_bag_with_the_three_files(
    demo_chain: EvidenceChain, tmp_path: Path
) -> None:
    bag = write_package(demo_chain, tmp_path / "bag", generated_at=AT)
    assert sorted(p.relative_to(bag).as_posix() for p in bag.rglob("*") if p.is_file()) == [
        "bag-info.txt",
        "bagit.txt",
        "data/evidence.json",
        "data/report.html",
        "data/timeline.csv",
        "manifest-sha256.txt",
        "tagmanifest-sha256.txt",
    ]
    library = bagit.Bag(str(bag))
    library.validate()
    assert library.info["Source-Organization"] == "TraceGraph"
    assert library.info["External-Identifier"] == "Device:D-000125"
    assert library.info["TraceGraph-Query"] == "evidence Device:D-000125"
    assert library.info["TraceGraph-As-Of"] == "2026-03-01T12:00:00Z"
    from tracegraph import __version__

    assert library.info["TraceGraph-Version"] == __version__
    assert (bag / "data/evidence.json").read_bytes() == evidence_json(demo_chain)
    doc = json.loads((bag / "data/evidence.json").read_text())
    assert doc["subject"]["key"] == "Device:D-000125"
    rows = (bag / "data/timeline.csv").read_text().splitlines()
    assert rows[0] == "at,key,type,fact,detail,related"
    assert len(rows) - 1 == len(doc["timeline"])
    report = verify_package(bag)
    assert report.ok
    assert report.files == 6


def test_evidence_json_is_the_same_whenever_it_is_written(
    demo_chain: EvidenceChain, tmp_path: Path
) -> None:
    one = write_package(demo_chain, tmp_path / "one", generated_at=AT)
    two = write_package(demo_chain, tmp_path / "two", generated_at=AT + dt.timedelta(days=3))
    assert (one / "data/evidence.json").read_bytes() == (two / "data/evidence.json").read_bytes()
    assert (one / "bag-info.txt").read_bytes() != (two / "bag-info.txt").read_bytes()


def test_the_as_of_of_a_view_goes_into_bag_info(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "s.tgdb")
    load(store, world())
    when = dt.datetime(2026, 2, 28, tzinfo=dt.UTC)
    chain = evidence(store, "Device:D-1", as_of=when)
    bag = write_package(chain, tmp_path / "bag", generated_at=AT)
    assert bagit.Bag(str(bag)).info["TraceGraph-As-Of"] == "2026-02-28T00:00:00Z"
    assert json.loads((bag / "data/evidence.json").read_text())["as_of"] == "2026-02-28T00:00:00Z"


def test_write_never_overwrites(demo_chain: EvidenceChain, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    (tmp_path / "file.zip").write_bytes(b"mine")
    with pytest.raises(BadInput, match="not empty"):
        write_package(demo_chain, tmp_path / "full")
    with pytest.raises(BadInput, match="already exists"):
        write_package(demo_chain, tmp_path / "file.zip")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert (tmp_path / "file.zip").read_bytes() == b"mine"
    (tmp_path / "empty").mkdir()
    assert verify_package(write_package(demo_chain, tmp_path / "empty")).ok
    assert verify_package(write_package(demo_chain, tmp_path / "new" / "deep" / "bag")).ok


def flip_byte(data: bytes, at: int = 200) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_one_flipped_byte_is_named(demo_chain: EvidenceChain, tmp_path: Path) -> None:
    bag = write_package(demo_chain, tmp_path / "bag")
    target = bag / "data/report.html"
    target.write_bytes(flip_byte(target.read_bytes()))
    report = verify_package(bag)
    assert not report.ok
    assert (report.altered, report.missing, report.added, report.problems) == (
        ["data/report.html"],
        [],
        [],
        [],
    )
    assert report.lines() == ["altered: data/report.html"]


def test_missing_added_and_tag_files_are_named(demo_chain: EvidenceChain, tmp_path: Path) -> None:
    bag = write_package(demo_chain, tmp_path / "bag")
    (bag / "data/timeline.csv").unlink()
    (bag / "data/notes.txt").write_text("added later")
    (bag / "extra-tag.txt").write_text("not in the tag manifest")
    info = bag / "bag-info.txt"
    info.write_text(info.read_text().replace("TraceGraph-Findings: 1", "TraceGraph-Findings: 0"))
    report = verify_package(bag)
    assert report.altered == ["bag-info.txt"]
    assert report.missing == ["data/timeline.csv"]
    assert report.added == ["data/notes.txt", "extra-tag.txt"]


def test_a_deleted_manifest_is_named(demo_chain: EvidenceChain, tmp_path: Path) -> None:
    bag = write_package(demo_chain, tmp_path / "bag")
    (bag / "manifest-sha256.txt").unlink()
    report = verify_package(bag)
    assert report.missing == ["manifest-sha256.txt"]
    assert not report.ok


def rewrite_zip(path: Path, change: dict[str, bytes | None], add: dict[str, bytes]) -> None:
    """Rewrite the zip with members changed (None: removed) and added."""
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    for name, data in change.items():
        if data is None:
            del members[name]
        else:
            members[name] = data
    members.update(add)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_zip_package_is_verified_member_by_member(
    demo_chain: EvidenceChain, tmp_path: Path
) -> None:
    path = write_package(demo_chain, tmp_path / "evidence-D-000125.zip", generated_at=AT)
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
        report_html = zf.read("evidence-D-000125/data/report.html")
    assert names[0] == "evidence-D-000125/bag-info.txt"
    assert all(n.startswith("evidence-D-000125/") for n in names)
    assert verify_package(path).ok

    rewrite_zip(path, {"evidence-D-000125/data/report.html": flip_byte(report_html)}, {})
    report = verify_package(path)
    assert (report.altered, report.missing, report.added) == (["data/report.html"], [], [])

    rewrite_zip(
        path,
        {
            "evidence-D-000125/data/report.html": report_html,
            "evidence-D-000125/data/evidence.json": None,
        },
        {"evidence-D-000125/data/smuggled.txt": b"x", "stray.txt": b"y"},
    )
    report = verify_package(path)
    assert report.altered == []
    assert report.missing == ["data/evidence.json"]
    assert report.added == ["data/smuggled.txt", "stray.txt"]


def test_what_is_not_a_package_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.txt").write_text("x")
    (tmp_path / "file.txt").write_text("x")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "x")
    for path in ("folder", "file.txt", "other.zip", "nothing-here"):
        with pytest.raises(BadInput):
            verify_package(tmp_path / path)


# --------------------------------------------------------------------------- the report


class Outline(HTMLParser):
    """Section ids in order, every start tag, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "section":
            self.sections.append(dict(attrs).get("id") or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def outline(html_text: str) -> Outline:
    parser = Outline()
    parser.feed(html_text)
    parser.close()
    return parser


def test_report_lists_findings_first_and_is_self_contained(
    demo_chain: EvidenceChain, tmp_path: Path
) -> None:
    bag = write_package(demo_chain, tmp_path / "bag", generated_at=AT)
    page = outline((bag / "data/report.html").read_text())
    assert page.sections == ["findings", "summary", "records", "timeline", "graph"]
    text = " ".join(page.text)
    assert "lot-outside-certificate" in text
    assert "Rules checked" in text
    assert all(rule.id in text for rule in RULES)
    assert "MaterialLot:L-2026-0042" in text
    tags = {t for t, _ in page.tags}
    assert "svg" in tags
    assert "rect" in tags
    assert not tags & {"script", "link", "img", "iframe", "object"}
    for _, attrs in page.tags:
        for name in ("src", "href"):
            assert not (attrs.get(name) or "").startswith(("http", "//")), attrs
    # the drawing: every supplier, lot, batch, device, shipment and customer of the chain
    titles = [d for d in page.text if d.startswith(("Supplier:", "MaterialLot:", "Batch:"))]
    assert {"Supplier:S-7", "MaterialLot:L-2026-0042", "Batch:B-MB-105"} <= set(titles)


def test_report_escapes_every_value(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "s.tgdb")
    hostile = "<script>alert('x')</script>"
    load(
        store,
        world(
            patch={"Device:D-1": {"udi": hostile}, "Batch:B-1": {"status": "quarantined"}},
        ),
    )
    bag = write_package(evidence(store, "Device:D-1"), tmp_path / "bag")
    raw = (bag / "data/report.html").read_text()
    page = outline(raw)
    assert "script" not in {t for t, _ in page.tags}
    assert hostile in " ".join(page.text)
    assert "&lt;script&gt;" in raw


# --------------------------------------------------------------------------- the CLI


def cli(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    path = tmp_path / "demo.tgdb"
    load_demo(EmbeddedStore(path))
    return str(path)


def test_cli_writes_and_verifies_a_package(demo_db: str, tmp_path: Path) -> None:
    out = tmp_path / "d125.zip"
    result = cli("evidence", "Device:D-000125", "--out", str(out), "--db", demo_db,
                 "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["package"] == str(out)
    assert [f["rule"] for f in answer["findings"]] == ["lot-outside-certificate"]
    ok = cli("evidence", "verify", str(out), "--format", "json")
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)["intact"] is True

    rewrite_zip(out, {"d125/data/timeline.csv": b"at,key\n"}, {})
    bad = cli("evidence", "verify", str(out))
    assert bad.exit_code == 1
    assert bad.stderr.strip().splitlines() == [f"tracegraph: {out}: altered: data/timeline.csv"]


def test_cli_folder_package_tamper_lists_every_problem(demo_db: str, tmp_path: Path) -> None:
    out = tmp_path / "bag"
    assert cli("evidence", "Batch:B-MB-105", "--out", str(out), "--db", demo_db).exit_code == 0
    (out / "data/report.html").write_text("replaced")
    (out / "data/evidence.json").unlink()
    result = cli("evidence", "verify", str(out))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"tracegraph: {out}: altered: data/report.html",
        f"tracegraph: {out}: missing: data/evidence.json",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("evidence",),
        ("evidence", "Device:D-000125"),  # no --out
        ("evidence", "Supplier:S-7", "--out", "{tmp}/x"),
        ("evidence", "Device:D-999999", "--out", "{tmp}/x"),
        ("evidence", "Device:D-000125", "Device:D-000126", "--out", "{tmp}/x"),
        ("evidence", "verify"),
        ("evidence", "verify", "{tmp}"),  # a folder, but no bag
        ("evidence", "verify", "{tmp}/missing.zip"),
        ("evidence", "verify", "{tmp}/x", "--out", "{tmp}/y"),
    ],
)
def test_cli_bad_input_exits_2(demo_db: str, tmp_path: Path, args: tuple[str, ...]) -> None:
    argv = [a.replace("{tmp}", str(tmp_path / "work")) for a in args]
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "stray.txt").write_text("x")
    result = cli(*argv, "--db", demo_db)
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("tracegraph: ")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "work" / "x").exists()


def test_cli_refuses_to_overwrite(demo_db: str, tmp_path: Path) -> None:
    out = tmp_path / "keep.zip"
    out.write_bytes(b"precious")
    result = cli("evidence", "Device:D-000125", "--out", str(out), "--db", demo_db)
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert out.read_bytes() == b"precious"


def test_cli_help_explains_both_forms() -> None:
    result = cli("evidence", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "tracegraph evidence KEY --out PATH" in text
    assert "tracegraph evidence verify PATH" in text
