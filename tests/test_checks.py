"""`tracegraph check`: every rule against a graph that violates it and one that does not, on
both stores; the same findings on both stores over a generated store; the command's exits."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.support.api import bearer, make_app, put_key
from tests.support.cli import run as cli
from tracegraph import checks
from tracegraph.checks import Level, core
from tracegraph.errors import BadInput
from tracegraph.generate import generate
from tracegraph.importer import import_records, read_jsonl
from tracegraph.keys import Role
from tracegraph.store.base import GraphStore, WriteRequest

REQ = WriteRequest(actor="test", operation="import")
TODAY = dt.datetime.now(dt.UTC).date()

Record = dict[str, Any]


def n(type_: str, id_: str, **fields: Any) -> Record:
    return {"type": type_, "id": id_, **fields}


def e(type_: str, src: str, dst: str, **fields: Any) -> Record:
    return {"type": type_, "from": src, "to": dst, **fields}


def ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


def world() -> list[Record]:
    """A small plant with nothing wrong in it: every rule finds nothing here."""
    return [
        n("Supplier", "S1", name="Good Parts", status="approved"),
        n("Certificate", "C1", kind="ISO 13485:2016", valid_from="2025-01-01", valid_to=ago(-400)),
        e("CERTIFIES", "Certificate:C1", "Supplier:S1"),
        n("Material", "M1", name="Capacitor", required_certificates=["ISO 13485"]),
        n("MaterialLot", "L1", received_at="2026-01-10", quantity=100),
        e("SUPPLIED", "Supplier:S1", "MaterialLot:L1"),
        e("HAS_LOT", "Material:M1", "MaterialLot:L1"),
        n("Product", "P1", name="Monitor", gtin="09501101530003"),
        e("HAS_BATCH", "Product:P1", "Batch:B1"),
        e("HAS_BATCH", "Product:P1", "Batch:B2"),
        n("Batch", "B1", started_at="2026-01-20T08:00:00Z", completed_at="2026-01-21T16:00:00Z"),
        e("CONSUMED_IN", "MaterialLot:L1", "Batch:B1", quantity=60, at="2026-01-20T09:00:00Z"),
        n("Batch", "B2", started_at="2026-01-22T08:00:00Z"),
        e("CONSUMED_IN", "MaterialLot:L1", "Batch:B2", quantity=40, at="2026-01-22T09:00:00Z"),
        e("CONSUMED_IN", "Batch:B1", "Batch:B2", quantity=1, at="2026-01-22T09:00:00Z"),
        n(
            "Device",
            "D1",
            manufactured_at="2026-01-22T15:00:00Z",
            udi="https://id.gs1.org/01/09501101530003/21/SN1",
        ),
        e("PRODUCED", "Batch:B2", "Device:D1"),
        n(
            "Device",
            "D2",
            manufactured_at="2026-01-21T13:00:00Z",
            udi="(01)09501101530003(11)260121(21)SN2",
        ),
        e("PRODUCED", "Batch:B1", "Device:D2"),
        e("INSTALLED_IN", "Device:D2", "Device:D1", at="2026-01-22T10:00:00Z"),
        n("Shipment", "SH1", shipped_at="2026-02-01"),
        e("SHIPPED_IN", "Device:D1", "Shipment:SH1"),
        n("Customer", "CU1", name="Hospital"),
        e("DELIVERED_TO", "Shipment:SH1", "Customer:CU1"),
        n(
            "Complaint",
            "CMP1",
            reported_at="2026-03-01",
            severity="malfunction",
            reportable=True,
            report_number="MDR-1",
        ),
        e("HAS_COMPLAINT", "Device:D1", "Complaint:CMP1"),
        n("ServiceEvent", "SV1", kind="repair", performed_at="2026-03-05"),
        e("HAS_SERVICE", "Device:D1", "ServiceEvent:SV1"),
        n("Equipment", "EQ1", name="Reflow oven", calibration_interval_days=365),
        n("MaintenanceEvent", "MX1", kind="calibration", performed_at=ago(10), result="pass"),
        e("MAINTAINS", "MaintenanceEvent:MX1", "Equipment:EQ1"),
        n("MaintenanceEvent", "MX0", kind="calibration", performed_at="2026-01-01", result="pass"),
        e("MAINTAINS", "MaintenanceEvent:MX0", "Equipment:EQ1"),
        e("PROCESSED", "Equipment:EQ1", "Batch:B1", at="2026-01-20T10:00:00Z"),
        n(
            "ChangeOrder",
            "CO1",
            kind="design",
            status="implemented",
            effective_at="2026-01-15",
            approved_by="CCB",
            approved_at="2026-01-10",
        ),
        e("IMPLEMENTED_IN", "ChangeOrder:CO1", "Batch:B1"),
    ]


Mutation = Callable[[list[Record]], list[Record]]


def edit(key: str, **fields: Any) -> Mutation:
    """Set (or, given None, drop) fields of the node ``key``."""
    type_, _, id_ = key.partition(":")

    def change(records: list[Record]) -> list[Record]:
        out = []
        for r in records:
            if r["type"] == type_ and r.get("id") == id_:
                r = {**r, **fields}
                r = {k: v for k, v in r.items() if v is not None}
            out.append(r)
        return out

    return change


def drop(type_: str, src: str | None = None, dst: str | None = None) -> Mutation:
    """Leave out the edges of a type (from ``src`` / to ``dst``, when given)."""

    def change(records: list[Record]) -> list[Record]:
        return [
            r
            for r in records
            if not (
                r["type"] == type_
                and (src is None or r["from"] == src)
                and (dst is None or r["to"] == dst)
            )
        ]

    return change


def add(*extra: Record) -> Mutation:
    return lambda records: [*records, *extra]


def both(*mutations: Mutation) -> Mutation:
    def change(records: list[Record]) -> list[Record]:
        for m in mutations:
            records = m(records)
        return records

    return change


#: rule id → (what breaks it, the keys of the finding it must give)
VIOLATIONS: dict[str, tuple[Mutation, tuple[str, ...]]] = {
    "structure.device-without-batch": (
        drop("PRODUCED", dst="Device:D2"),
        ("Device:D2",),
    ),
    "structure.lot-without-supplier": (drop("SUPPLIED"), ("MaterialLot:L1",)),
    "structure.lot-never-consumed": (
        add(n("MaterialLot", "L9", received_at="2026-01-10")),
        ("MaterialLot:L9",),
    ),
    "structure.shipment-without-customer": (drop("DELIVERED_TO"), ("Shipment:SH1",)),
    "structure.complaint-without-device": (drop("HAS_COMPLAINT"), ("Complaint:CMP1",)),
    "structure.service-without-device": (drop("HAS_SERVICE"), ("ServiceEvent:SV1",)),
    "structure.genealogy-cycle": (
        add(e("CONSUMED_IN", "Batch:B2", "Batch:B1")),
        ("Batch:B1", "Batch:B2"),
    ),
    "udi.missing": (edit("Device:D2", udi=None), ("Device:D2", "Product:P1")),
    "udi.unreadable": (edit("Device:D2", udi="SN2 from the label"), ("Device:D2",)),
    "udi.check-digit": (edit("Device:D2", udi="(01)09501101530004(21)SN2"), ("Device:D2",)),
    "udi.invalid-element": (
        edit("Device:D2", udi="(01)09501101530003(17)261301(21)SN2"),
        ("Device:D2",),
    ),
    "udi.di-mismatch": (
        edit("Device:D2", udi="(01)09501101530010(21)SN2"),
        ("Device:D2", "Product:P1"),
    ),
    "udi.duplicate": (
        # the same UDI in another form: a raw scan with a symbology identifier
        edit("Device:D1", udi="]d2010950110153000321SN2"),
        ("Device:D1", "Device:D2"),
    ),
    "date.certificate-ends-before-it-starts": (
        edit("Certificate:C1", valid_from="2025-01-01", valid_to="2024-12-31"),
        ("Certificate:C1",),
    ),
    "date.batch-completed-before-started": (
        edit("Batch:B1", completed_at="2026-01-19T08:00:00Z"),
        ("Batch:B1",),
    ),
    "date.lot-consumed-before-received": (
        edit("MaterialLot:L1", received_at="2026-01-21"),
        ("MaterialLot:L1", "Batch:B1"),
    ),
    "date.device-made-before-batch-started": (
        edit("Device:D2", manufactured_at="2026-01-19"),
        ("Device:D2", "Batch:B1"),
    ),
    "date.shipped-before-made": (
        edit("Shipment:SH1", shipped_at="2026-01-02"),
        ("Shipment:SH1", "Device:D1"),
    ),
    "date.complaint-before-manufacture": (
        edit("Complaint:CMP1", reported_at="2026-01-02"),
        ("Complaint:CMP1", "Device:D1"),
    ),
    "date.service-before-manufacture": (
        edit("ServiceEvent:SV1", performed_at="2026-01-02"),
        ("ServiceEvent:SV1", "Device:D1"),
    ),
    "date.event-in-the-future": (
        edit("Shipment:SH1", shipped_at="2099-01-01"),
        ("Shipment:SH1",),
    ),
    "quantity.negative": (edit("MaterialLot:L1", quantity=-5), ("MaterialLot:L1",)),
    "quantity.implausible": (
        add(e("CONSUMED_IN", "MaterialLot:L1", "Batch:B2", quantity=1e30)),
        ("MaterialLot:L1", "Batch:B2"),
    ),
    "quantity.consumed-beyond-received": (
        edit("MaterialLot:L1", quantity=99),
        ("MaterialLot:L1", "Batch:B1", "Batch:B2"),
    ),
    "supplier.lot-outside-certificate": (
        edit("MaterialLot:L1", received_at="2024-06-01"),
        ("MaterialLot:L1", "Supplier:S1", "Certificate:C1"),
    ),
    "supplier.uncertified-supplier-delivered": (
        drop("CERTIFIES"),
        ("Supplier:S1", "MaterialLot:L1"),
    ),
    "supplier.lot-from-blocked-supplier": (
        edit("Supplier:S1", status="blocked"),
        ("MaterialLot:L1", "Supplier:S1"),
    ),
    "supplier.missing-required-certificate": (
        edit("Material:M1", required_certificates=["ISO 13485", "RoHS"]),
        ("Supplier:S1", "Material:M1", "MaterialLot:L1"),
    ),
    "supplier.certificate-expiring": (
        edit("Certificate:C1", valid_to=ago(-12)),
        ("Certificate:C1", "Supplier:S1"),
    ),
    "equipment.processed-after-failed-calibration": (
        add(
            n(
                "MaintenanceEvent",
                "MXF",
                kind="calibration",
                performed_at="2026-01-10",
                result="fail",
            ),
            e("MAINTAINS", "MaintenanceEvent:MXF", "Equipment:EQ1"),
        ),
        ("Equipment:EQ1", "MaintenanceEvent:MXF", "Batch:B1"),
    ),
    "equipment.calibration-overdue": (
        edit("Equipment:EQ1", calibration_interval_days=5),
        ("Equipment:EQ1", "MaintenanceEvent:MX1"),
    ),
    "change.implemented-without-effective-date": (
        edit("ChangeOrder:CO1", effective_at=None),
        ("ChangeOrder:CO1",),
    ),
    "change.implemented-without-approval": (
        edit("ChangeOrder:CO1", approved_by=None),
        ("ChangeOrder:CO1",),
    ),
    "change.batch-before-approval": (
        edit("ChangeOrder:CO1", approved_at="2026-01-25"),
        ("Batch:B1", "ChangeOrder:CO1"),
    ),
    "complaint.report-overdue": (
        both(edit("Complaint:CMP1", report_number=None)),
        ("Complaint:CMP1",),
    ),
}


def load(store: GraphStore, records: list[Record]) -> None:
    import_records(store, read_jsonl("t.jsonl", [orjson.dumps(r) for r in records]), REQ)


def test_every_rule_has_a_violation_here() -> None:
    assert set(VIOLATIONS) == set(checks.REGISTRY)


def test_a_clean_plant_has_no_findings(store: GraphStore) -> None:
    load(store, world())
    report = checks.run(store)
    assert [f.message for f in report.findings] == []
    assert not report.reaches(Level.info)


@pytest.mark.parametrize("rule_id", sorted(VIOLATIONS))
def test_each_rule_finds_its_violation(store: GraphStore, rule_id: str) -> None:
    mutation, keys = VIOLATIONS[rule_id]
    load(store, mutation(world()))
    report = checks.run(store, selected=[rule_id])
    found = [f for f in report.findings if f.rule == rule_id]
    assert [sorted(f.keys) for f in found] == [sorted(keys)], [f.message for f in found]
    finding = found[0]
    assert finding.severity is checks.REGISTRY[rule_id].severity
    # The sentence names the records it is about.
    assert all(k in finding.message for k in keys[:2])
    assert report.counts()[rule_id] == 1


def test_the_sentence_says_what_is_wrong_with_dates(embedded_store: GraphStore) -> None:
    load(embedded_store, edit("MaterialLot:L1", received_at="2026-02-01")(world()))
    found = checks.run(embedded_store, selected=["date.lot-consumed-before-received"]).findings
    assert [f.message for f in found] == [
        "MaterialLot:L1 was consumed in Batch:B1 on 2026-01-20, 11 days before it was received "
        "(2026-02-01)",
        "MaterialLot:L1 was consumed in Batch:B2 on 2026-01-22, 9 days before it was received "
        "(2026-02-01)",
    ]
    load(embedded_store, edit("MaterialLot:L1", received_at="2026-01-20T12:00:00Z")(world()))
    (late,) = checks.run(embedded_store, selected=["date.lot-consumed-before-received"]).findings
    assert "3 hours before it was received" in late.message


def test_within_days_widens_the_expiry_warning(embedded_store: GraphStore) -> None:
    load(embedded_store, edit("Certificate:C1", valid_to=ago(-45))(world()))
    rule = ["supplier.certificate-expiring"]
    assert checks.run(embedded_store, selected=rule).findings == []
    (found,) = checks.run(embedded_store, selected=rule, within_days=60).findings
    assert "in 45 days" in found.message


def test_as_of_checks_the_store_as_it_was(embedded_store: GraphStore) -> None:
    load(embedded_store, world())
    before = dt.datetime.now(dt.UTC)
    load(embedded_store, edit("MaterialLot:L1", quantity=-1)(world()))
    assert checks.run(embedded_store, selected=["quantity"]).findings
    assert checks.run(embedded_store, selected=["quantity"], as_of=before).findings == []


def test_a_family_selects_its_rules_and_an_unknown_rule_is_bad_input() -> None:
    assert {r.id for r in checks.rules(["supplier"])} == {
        r for r in checks.REGISTRY if r.startswith("supplier.")
    }
    with pytest.raises(BadInput, match="--rule 'nope'"):
        checks.rules(["nope"])


def _defects(records: list[Record]) -> list[Record]:
    """A generated plant with a few defects of several families added."""
    lots = [r for r in records if r["type"] == "MaterialLot"]
    batches = [r for r in records if r["type"] == "Batch"]
    return [
        *records,
        {**lots[0], "quantity": -3},
        {**batches[1], "completed_at": "2000-01-01"},
        e("CONSUMED_IN", f"Batch:{batches[2]['id']}", f"Batch:{batches[2]['id']}"),
        n("Complaint", "CX", reported_at="2025-01-01", severity="other", reportable="yes"),
    ]


@pytest.mark.neo4j
def test_both_stores_give_the_same_findings(store_pair: tuple[GraphStore, ...]) -> None:
    records = _defects(list(generate(300, 7)))
    answers = []
    for store in store_pair:
        load(store, records)
        answer = checks.run(store).as_json()
        answer.pop("as_of")
        answers.append(answer)
    assert answers[0] == answers[1]
    assert sum(r["findings"] for r in answers[0]["rules"]) >= 4


def test_reading_in_pages_changes_no_finding(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check reads a large store a page of keys at a time and keeps the fields as columns:
    pages of a few records must find what one page finds (a field first seen in a later page,
    an edge's order across pages)."""
    load(store, _defects(list(generate(300, 7))))
    whole = checks.run(store).as_json()
    monkeypatch.setattr(core, "PAGE", 3)
    monkeypatch.setattr(core, "EDGE_PAGE", 2)
    paged = checks.run(store).as_json()
    whole.pop("as_of"), paged.pop("as_of")
    assert paged == whole
    assert len(whole["findings"]) >= 4


def test_a_column_gives_each_value_back_as_it_was_read() -> None:
    table = core.NodeTable()
    table.add(["A:1", "A:2"], [{"flag": True, "n": 1, "at": "x"}, {"n": 1.0, "at": "x"}])
    table.add(["A:3"], [{"late": [1], "flag": 1}])
    # 1 == True == 1.0, yet each is given back as it was, not as the first equal value seen
    assert table.value("A:1", "flag") is True
    assert type(table.value("A:3", "flag")) is int
    assert type(table["A:2"].props["n"]) is float
    assert table["A:2"].props == {"n": 1.0, "at": "x"}
    assert table["A:3"].props == {"late": [1], "flag": 1}
    assert table.column("late") == [None, None, [1]]
    assert table.value("A:1", "late") is None
    assert table.value("A:9", "flag") is None
    assert table.get("A:9") is None
    assert list(table) == ["A:1", "A:2", "A:3"]
    assert table["A:3"].key == "A:3"


def test_the_command_exits_by_fail_on(tmp_path: Path) -> None:
    jsonl = tmp_path / "plant.jsonl"
    records = edit("Certificate:C1", valid_to=ago(-3))(world())
    jsonl.write_bytes(b"\n".join(orjson.dumps(r) for r in records))
    db = str(tmp_path / "s.tgdb")
    assert cli("import", str(jsonl), "--db", db).exit_code == 0
    ok = cli("check", "--db", db, "--format", "json")
    assert ok.exit_code == 0, ok.output
    answer = json.loads(ok.stdout)
    assert [f["rule"] for f in answer["findings"]] == ["supplier.certificate-expiring"]
    assert {r["id"] for r in answer["rules"]} == set(checks.REGISTRY)
    warned = cli("check", "--db", db, "--fail-on", "warning", "--format", "csv")
    assert warned.exit_code == 1
    assert warned.stdout.splitlines()[0] == "rule,severity,keys,message"
    assert cli("check", "--db", db, "--rule", "nope").exit_code == 2
    assert cli("check", "--db", db, "--fail-on", "fatal").exit_code == 2
    assert cli("check", "--db", str(tmp_path / "missing.tgdb")).exit_code == 2


def test_the_docs_list_every_rule() -> None:
    text = (Path(__file__).parent.parent / "docs" / "checks.md").read_text(encoding="utf-8")
    for r in checks.REGISTRY.values():
        assert f"| `{r.id}` | {r.severity} | {r.description} |" in text, r.id


def test_import_says_how_many_findings_it_brought(tmp_path: Path) -> None:
    db = str(tmp_path / "s.tgdb")
    clean, bad = tmp_path / "clean.jsonl", tmp_path / "bad.jsonl"
    clean.write_bytes(b"\n".join(orjson.dumps(r) for r in world()))
    records = edit("MaterialLot:L1", received_at="2026-02-01", quantity=-1)(world())
    bad.write_bytes(b"\n".join(orjson.dumps(r) for r in records))
    first = cli("import", str(clean), "--db", db, "--format", "json")
    assert first.exit_code == 0
    assert first.stderr.endswith("0 new data-quality findings (tracegraph check)\n")
    # Two consumptions before receipt, a negative quantity and the mass balance it breaks.
    second = cli("import", str(bad), "--db", db, "--format", "json")
    assert second.exit_code == 0
    assert "4 new data-quality findings (tracegraph check): 4 errors" in second.stderr
    assert json.loads(second.stdout)["updated"] == 1
    again = cli("import", str(bad), "--db", db, "--format", "json")
    # nothing changed, nothing new
    assert again.stderr.endswith("0 new data-quality findings (tracegraph check)\n")
    skipped = cli("import", str(clean), "--db", db, "--no-check", "--format", "json")
    assert skipped.exit_code == 0
    assert "data-quality" not in skipped.stderr


def test_http_checks_answer_the_same_json(
    request: pytest.FixtureRequest, store: GraphStore
) -> None:
    load(
        store,
        edit("MaterialLot:L1", quantity=-1)(edit("Certificate:C1", valid_to=ago(-9))(world())),
    )
    keys = {role: put_key(store, role) for role in Role}
    with TestClient(make_app(request, store)) as client:

        def get(role: Role, **params: Any) -> Any:
            return client.get("/v1/checks", params=params, headers=bearer(keys[role]))

        answer = get(Role.auditor).json()
        expected = checks.run(store).as_json()
        assert answer["findings"] == expected["findings"]
        assert answer["rules"] == expected["rules"]
        assert answer["page"]["total"]["findings"] == len(expected["findings"]) == 3
        errors = get(Role.analyst, severity="error").json()["findings"]
        assert {f["rule"] for f in errors} == {
            "quantity.negative",
            "quantity.consumed-beyond-received",
        }
        picked = get(Role.analyst, rule="supplier").json()
        assert [f["rule"] for f in picked["findings"]] == ["supplier.certificate-expiring"]
        assert get(Role.analyst, rule="nope").status_code == 422
        assert get(Role.integrator).status_code == 403
