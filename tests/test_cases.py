"""Recall cases and their reports (docs/cases.md): scope frozen at opening, consignees worked,
the 806 report checked against an independent count, the spreadsheet, the audit chain."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import openpyxl
import orjson
import pytest
from typer.testing import CliRunner

from cli.main import app as cli_app
from tests.support.api import TestClient, bearer, make_app, put_key
from tracegraph import audit, casereports, cases
from tracegraph.demo import load_demo
from tracegraph.errors import BadInput, NotFound
from tracegraph.generate import generate
from tracegraph.importer import import_records, read_jsonl
from tracegraph.keys import Role
from tracegraph.model import utc
from tracegraph.store.base import GraphStore, WriteRequest

REQ = WriteRequest(actor="test", operation="import", source="test")
LOT = "MaterialLot:L-2026-0042"
YEAR = dt.datetime.now(dt.UTC).year
DEMO = Path(__file__).resolve().parents[1] / "tracegraph" / "data" / "ecg_demo.jsonl"


def _load(store: GraphStore, records: list[dict[str, Any]]) -> None:
    import_records(store, read_jsonl("r.jsonl", [orjson.dumps(r) for r in records]), REQ)


def _open(store: GraphStore, suspects: list[str], **kw: Any) -> Any:
    draft = cases.draft_case(store, suspects, title="t", actor="tester", **kw)
    return cases.open_case(store, draft, "tester")


# ------------------------------------------------------------------ the 806 against a count


def _independent_806(records: list[dict[str, Any]], lot: str) -> dict[str, dict[str, Any]]:
    """Per consignee key: devices in scope, shipments, first/last shipped_at — walked from the
    generated records by hand, downstream of one lot."""
    down: dict[str, list[str]] = defaultdict(list)
    shipped_in: dict[str, str] = {}
    delivered: dict[str, str] = {}
    shipped_at: dict[str, str] = {}
    for r in records:
        if r["type"] in {"CONSUMED_IN", "PRODUCED", "INSTALLED_IN"}:
            down[r["from"]].append(r["to"])
        elif r["type"] == "SHIPPED_IN":
            shipped_in[r["from"]] = r["to"]
        elif r["type"] == "DELIVERED_TO":
            delivered[r["from"]] = r["to"]
        elif r["type"] == "Shipment":
            shipped_at[f"Shipment:{r['id']}"] = r["shipped_at"]
    seen, todo = {lot}, [lot]
    while todo:
        for nxt in down[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    out: dict[str, dict[str, Any]] = {}
    for device in (k for k in seen if k.startswith("Device:")):
        shipment = shipped_in.get(device)
        customer = delivered.get(shipment) if shipment else None
        if shipment is None or customer is None:
            continue
        row = out.setdefault(customer, {"devices": 0, "shipments": set(), "times": []})
        row["devices"] += 1
        row["shipments"].add(shipment)
        row["times"].append(utc(shipped_at[shipment]))
    return out


def test_806_consignees_and_device_counts_equal_an_independent_count(store: GraphStore) -> None:
    records = list(generate(600, 11))
    _load(store, records)
    lots = [f"MaterialLot:{r['id']}" for r in records if r["type"] == "MaterialLot"]
    expected: dict[str, dict[str, Any]] = {}
    lot = ""
    for lot in lots:  # the first lot that reaches devices at two consignees or more
        expected = _independent_806(records, lot)
        if len(expected) >= 2:
            break
    assert len(expected) >= 2
    case = _open(store, [lot])
    assert case.id == f"RC-{YEAR}-0001"
    report = casereports.fda806(store.cases.get(case.id), {"firm_name": "ACME"})  # type: ignore[arg-type]
    got = {c["key"]: c for c in report["consignees"]}
    assert set(got) == set(expected)
    for key, want in expected.items():
        row = got[key]
        assert row["devices"] == want["devices"], key
        assert row["shipments"] == len(want["shipments"]), key
        assert utc(row["first_shipped_at"]) == min(want["times"]), key
        assert utc(row["last_shipped_at"]) == max(want["times"]), key
        assert row["address"], "the generator fills it"
        assert row["phone"], "the generator fills it"
        assert row["keys"][0] == key
        assert set(row["keys"][1:]) == want["shipments"]
    assert [c["id"] for c in report["consignees"]] == sorted(c["id"] for c in report["consignees"])
    devices = report["devices"]
    assert [d["id"] for d in devices] == sorted(d["id"] for d in devices)
    assert sum(1 for d in devices if d["customer"]) == sum(w["devices"] for w in expected.values())
    for d in devices:
        assert {"id", "udi", "product", "batch", "shipped_at", "customer"} <= d.keys()
        assert d["key"] in d["keys"]
        assert d["batch"] in d["keys"]
    # the firm's name was given; the rest is listed as missing, each with its setting
    assert report["firm"]["firm_name"] == "ACME"
    assert "firm_fei (set TRACEGRAPH_FIRM_FEI)" in report["missing"]
    assert not any(m.startswith("firm_name") for m in report["missing"])


# ------------------------------------------------------------------ frozen scope, refresh


def _more_downstream(store: GraphStore) -> str:
    """A new batch made from the suspect lot, one device of it shipped to a new consignee."""
    _load(
        store,
        [
            {"type": "Batch", "id": "B-LATE", "started_at": "2026-03-01"},
            {"type": "CONSUMED_IN", "from": LOT, "to": "Batch:B-LATE"},
            {"type": "Device", "id": "D-LATE", "manufactured_at": "2026-03-02"},
            {"type": "PRODUCED", "from": "Batch:B-LATE", "to": "Device:D-LATE"},
            {"type": "Shipment", "id": "SH-LATE", "shipped_at": "2026-03-03"},
            {"type": "Customer", "id": "C-LATE", "name": "Late Clinic", "country": "DE"},
            {"type": "SHIPPED_IN", "from": "Device:D-LATE", "to": "Shipment:SH-LATE"},
            {"type": "DELIVERED_TO", "from": "Shipment:SH-LATE", "to": "Customer:C-LATE"},
        ],
    )
    return "Device:D-LATE"


def test_the_scope_is_frozen_across_a_later_import_and_refresh_names_the_change(
    store: GraphStore,
) -> None:
    load_demo(store)
    case = _open(store, [LOT])
    before = cases.show(store, case.id).as_json()
    added = _more_downstream(store)
    after = cases.show(store, case.id).as_json()
    assert after == before
    assert added not in {d["key"] for d in store.cases.get(case.id).scope["devices"]}  # type: ignore[union-attr,index]
    fresh = cases.show(store, case.id, with_refresh=True).as_json()["refresh"]
    assert fresh["devices_added"] == [added]
    assert fresh["consignees_added"] == ["Customer:C-LATE"]
    assert fresh["devices_removed"] == fresh["consignees_removed"] == []
    assert fresh["changed"] is True


def test_case_ids_run_in_order_and_an_as_of_view_only_reads(store: GraphStore) -> None:
    load_demo(store)
    first, second = _open(store, [LOT]), _open(store, ["Device:D-000125"], level="C")
    assert (first.id, second.id) == (f"RC-{YEAR}-0001", f"RC-{YEAR}-0002")
    assert [c.id for c in cases.list_cases(store)] == [first.id, second.id]
    assert all(c.scope is None for c in store.cases.cases())
    view = store.at(dt.datetime.now(dt.UTC))
    assert [c.id for c in view.cases.cases()] == [first.id, second.id]
    with pytest.raises(BadInput, match="read-only"):
        cases.notify(view, first.id, "C-01", at=utc("2026-03-01"), actor="x")
    with pytest.raises(NotFound):
        cases.show(store, f"RC-{YEAR}-0099")


def test_consignees_are_worked_to_the_level_target_and_every_command_is_audited(
    store: GraphStore,
) -> None:
    load_demo(store)
    case = _open(store, [LOT], level="B", reason="bulging C47")
    view = cases.show(store, case.id).as_json()
    consignees = view["consignees"]
    total = len(consignees)
    target = view["effectiveness"]["target_consignees"]
    assert target == -(-total // 2)  # level B: half of them, rounded up
    for c in consignees[:target]:
        cases.notify(store, case.id, c["key"], at=utc("2026-03-01"), actor="a", via="email")
        cases.respond(store, case.id, c["id"], at=utc("2026-03-04"), actor="a", returned=1)
    shown = cases.show(store, case.id).as_json()
    first = shown["consignees"][0]
    assert (first["notified_via"], first["returned"]) == ("email", 1)
    assert first["responded_at"] == "2026-03-04T00:00:00Z"
    assert shown["effectiveness"]["checked"] == target
    assert shown["effectiveness"]["met"]
    # responses add up, never past the consignee's devices in scope
    with pytest.raises(BadInput, match="in all, but only"):
        cases.respond(
            store, case.id, first["key"], at=utc("2026-03-05"), actor="a",
            returned=first["devices"],
        )  # fmt: skip
    with pytest.raises(NotFound, match="not a consignee"):
        cases.notify(store, case.id, "C-NOPE", at=utc("2026-03-01"), actor="a")
    closed = cases.close(store, case.id, "a")
    assert closed.status == "closed"
    assert closed.closed_by == "a"
    with pytest.raises(BadInput, match="closed"):
        cases.notify(store, case.id, first["key"], at=utc("2026-03-06"), actor="a")
    entries = store.audit_entries()
    ops = [(e.operation, e.source) for e in entries if e.operation.startswith("case ")]
    assert ops == [
        ("case open", case.id),
        *[("case notify", case.id), ("case respond", case.id)] * target,
        ("case close", case.id),
    ]
    assert [a.audit_seq for a in store.cases.actions(case.id)] == [
        e.seq for e in entries if e.operation in {"case notify", "case respond"}
    ]
    result = audit.verify(store)
    assert result.intact, result.message()
    assert result.entries == len(entries)
    # Each step is a `cases` outbound event for hooks, in order (docs/hooks.md).
    sent = store.outbox.events(0, ["cases"])
    assert [e.data["step"] for e in sent] == [
        "open", *["notify", "respond"] * target, "close"
    ]  # fmt: skip
    assert {e.data["case"]["id"] for e in sent} == {case.id}
    assert sent[1].data["recorded"]["via"] == "email"
    assert sent[-1].data["effectiveness"]["checked"] == target


def test_a_case_edited_in_the_audit_chain_is_caught(embedded_store: GraphStore) -> None:
    """The case entries are part of the chain: editing one breaks `audit verify`."""
    store = embedded_store
    load_demo(store)
    case = _open(store, [LOT])
    import sqlite3

    db = sqlite3.connect(store.path)  # type: ignore[attr-defined]
    (blob,) = db.execute("SELECT entry FROM audit WHERE seq = ?", (case.audit_seq,)).fetchone()
    entry = json.loads(blob)
    entry["actor"] = "someone else"
    db.execute("UPDATE audit SET entry = ? WHERE seq = ?", (json.dumps(entry), case.audit_seq))
    db.commit()
    db.close()
    result = audit.verify(store)
    assert not result.intact
    assert result.broken is not None
    assert result.broken.seq == case.audit_seq


def test_a_case_needs_devices_in_scope(store: GraphStore) -> None:
    load_demo(store)
    with pytest.raises(BadInput, match="no device in scope"):
        cases.draft_case(
            store, ["Supplier:S-4"], title="t", actor="a", start=utc("1990-01-01"),
            end=utc("1990-01-02"),
        )  # fmt: skip
    with pytest.raises(BadInput, match="level"):
        cases.draft_case(store, [LOT], title="t", actor="a", level="F")
    with pytest.raises(BadInput, match="title"):
        cases.draft_case(store, [LOT], title="  ", actor="a")


# ------------------------------------------------------------------ spreadsheet


def test_the_spreadsheet_has_a_header_one_row_per_device_filters_and_a_frozen_header(
    embedded_store: GraphStore, tmp_path: Path
) -> None:
    load_demo(embedded_store)
    case = embedded_store.cases.get(_open(embedded_store, [LOT]).id)
    assert case is not None
    assert case.scope is not None
    out = tmp_path / "s.xlsx"
    assert casereports.write_spreadsheet(case, out) == len(case.scope["devices"])
    sheet = openpyxl.load_workbook(out).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == casereports.SPREADSHEET_HEADER
    assert len(rows) == 1 + len(case.scope["devices"])
    assert {r[0] for r in rows[1:]} == {d["key"] for d in case.scope["devices"]}
    assert sheet.auto_filter.ref == f"A1:K{len(rows)}"
    assert sheet.freeze_panes == "A2"
    by_device = {r[0]: r for r in rows[1:]}
    d = case.scope["devices"][0]
    row = by_device[d["key"]]
    assert (row[3], row[5], row[9]) == (d["batch"], d["udi"], d["shipment"])
    gtins = {p["key"]: p["gtin"] for p in case.scope["products"]}
    assert row[2] == gtins[d["product"]]  # the GTIN, frozen with the scope
    assert row[4] == d["udi_serial"]
    csv_out = tmp_path / "s.csv"
    casereports.write_spreadsheet(case, csv_out)
    assert len(csv_out.read_text(encoding="utf-8").splitlines()) == len(rows)
    with pytest.raises(BadInput, match=r"\.xlsx or \.csv"):
        casereports.write_spreadsheet(case, tmp_path / "s.ods")


# ------------------------------------------------------------------ command line


def _run(args: list[str], db: str, env: dict[str, str]) -> Any:
    return CliRunner().invoke(cli_app, [*args, "--db", db], env=env)


def test_case_commands_on_the_command_line(
    cli_db: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    db, env = cli_db
    assert _run(["import", str(DEMO)], db, env).exit_code == 0
    opened = _run(["case", "open", LOT, "--title", "C47", "--level", "C"], db, env)
    assert opened.exit_code == 0, opened.output
    case_id = opened.output.strip()
    assert case_id == f"RC-{YEAR}-0001"
    ok = _run(["case", "notify", case_id, "C-02", "--at", "2026-03-01", "--via", "phone"], db, env)
    assert ok.exit_code == 0, ok.output
    ok = _run(["case", "respond", case_id, "C-02", "--at", "2026-03-02", "--corrected", "1",
               "--note", "fixed on site"], db, env)  # fmt: skip
    assert ok.exit_code == 0, ok.output
    bad = _run(["case", "notify", case_id, "C-02", "--at", "2026-03-01", "--via", "fax"], db, env)
    assert bad.exit_code == 2
    assert "via 'fax'" in bad.output
    shown = json.loads(_run(["case", "show", case_id, "--format", "json"], db, env).output)
    row = next(c for c in shown["consignees"] if c["id"] == "C-02")
    assert (row["notified_via"], row["corrected"], row["notes"]) == ("phone", 1, ["fixed on site"])
    out = tmp_path / "806"
    made = _run(["report", "fda-806", case_id, "--out", str(out)], db, env)
    assert made.exit_code == 0, made.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["case"]["id"] == case_id
    assert len(report["devices"]) == shown["scope"]["counts"]["devices"]
    assert "<table>" in (out / "report.html").read_text(encoding="utf-8")
    assert (out / "consignees.csv").read_text(encoding="utf-8").startswith("id,name,address")
    fsca_out = tmp_path / "fsca"
    assert _run(["report", "fsca", case_id, "--out", str(fsca_out)], db, env).exit_code == 0
    fsca = json.loads((fsca_out / "report.json").read_text(encoding="utf-8"))
    notice = (fsca_out / "field-safety-notice.html").read_text(encoding="utf-8")
    assert fsca["udis"]
    assert all(u in notice for u in fsca["udis"])
    assert all(s in notice for s in fsca["serials"])
    assert _run(["case", "close", case_id], db, env).exit_code == 0
    listed = json.loads(_run(["case", "list", "--format", "json"], db, env).output)
    assert [(c["id"], c["status"]) for c in listed["cases"]] == [(case_id, "closed")]
    verified = _run(["audit", "verify"], db, env)
    assert verified.exit_code == 0, verified.output
    assert _run(["case", "show", "RC-1999-0001"], db, env).exit_code == 2


def test_a_drill_times_each_step_and_keeps_no_case(
    cli_db: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    db, env = cli_db
    assert _run(["import", str(DEMO)], db, env).exit_code == 0
    out = tmp_path / "drill"
    done = _run(["case", "drill", LOT, "--out", str(out), "--format", "json"], db, env)
    assert done.exit_code == 0, done.output
    answer = json.loads(done.output)
    assert [s["step"] for s in answer["steps"]] == [
        "scope", "fda-806", "fsca", "spreadsheet", "evidence"
    ]  # fmt: skip
    assert all(s["seconds"] >= 0 for s in answer["steps"])
    assert (out / "fda-806" / "report.json").is_file()
    assert (out / "devices.xlsx").is_file()
    assert list((out / "evidence").glob("*.zip"))
    listed = json.loads(_run(["case", "list", "--format", "json"], db, env).output)
    assert listed["cases"] == []


# ------------------------------------------------------------------ HTTP


def test_case_commands_over_http_by_role(request: pytest.FixtureRequest, store: GraphStore) -> None:
    load_demo(store)
    keys = {role: bearer(put_key(store, role)) for role in Role}
    with TestClient(make_app(request, store)) as client:
        body = {"suspects": [LOT], "title": "over http", "level": "B"}
        assert client.post("/v1/cases", json=body, headers=keys[Role.integrator]).status_code == 403
        assert client.post("/v1/cases", json=body, headers=keys[Role.auditor]).status_code == 403
        made = client.post("/v1/cases", json=body, headers=keys[Role.analyst])
        assert made.status_code == 200, made.text
        case_id = made.json()["id"]
        notice = {"customer": "C-01", "at": "2026-03-01", "via": "visit"}
        path = f"/v1/cases/{case_id}"
        assert (
            client.post(f"{path}/notify", json=notice, headers=keys[Role.auditor]).status_code
            == 403
        )
        assert client.post(f"{path}/close", headers=keys[Role.integrator]).status_code == 403
        assert (
            client.post(f"{path}/notify", json=notice, headers=keys[Role.analyst]).status_code
            == 200
        )
        shown = client.get(path, headers=keys[Role.auditor])
        assert shown.status_code == 200
        assert shown.json()["consignees"][0]["notified_via"] == "visit"
        assert client.get(path, headers=keys[Role.integrator]).status_code == 403
        sheet = client.get(f"{path}/reports/spreadsheet", headers=keys[Role.auditor])
        assert sheet.status_code == 200
        assert sheet.headers["content-type"].startswith("application/vnd.openxmlformats")
        as_csv = client.get(f"{path}/reports/spreadsheet", params={"format": "csv"},
                            headers=keys[Role.auditor])  # fmt: skip
        devices = shown.json()["scope"]["counts"]["devices"]
        assert len(as_csv.text.splitlines()) == 1 + devices
        report = client.get(f"{path}/reports/fda-806", headers=keys[Role.auditor]).json()
        assert report["report"] == "fda-806"
        assert len(report["devices"]) == devices
        missing = client.get("/v1/cases/RC-1999-0001", headers=keys[Role.auditor])
        assert missing.status_code == 404
    assert audit.verify(store).intact
