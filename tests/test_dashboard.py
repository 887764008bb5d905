"""The risk-hotspot dashboard on both stores: lapsed certificates, failed calibrations with the
batches since the last pass, recent complaints with their filters, and the ranking."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from tracegraph.commoncause import common_cause, units_of
from tracegraph.dashboard import (
    LAPSED,
    MAX_ROWS,
    OUTSIDE,
    UNCERTIFIED,
    certificate_lapses,
    dashboard,
)
from tracegraph.demo import load_demo
from tracegraph.errors import BadInput, NotFound
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import utc
from tracegraph.recall import recall
from tracegraph.store.base import GraphStore, WriteRequest

REQ = WriteRequest(actor="test", operation="import")


def n(type_: str, id_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": id_, **fields}


def e(type_: str, src: str, dst: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "from": src, "to": dst, **fields}


# S-1's certificate covers January 2026: L-1 arrived before it (a finding), L-2 inside it.
# S-2's certificate ended 2025-12-31: its lot L-3 (received inside it, used in B-2) is in use
# while it has lapsed; L-4 (inside, never used) is not listed. S-3 has no certificate at all
# (L-5, unused).
# S-4 is covered. EQ-1 passed calibration on 01-01 and 01-10, failed on 01-20, passed on 01-22;
# it processed B-1 (01-05), B-2 (01-15), B-3 (01-21) and B-4 (01-25). Complaints: CMP-1 serious
# (D-1, P-1), CMP-2 malfunction (D-2, P-1), CMP-3 other (D-4, P-2, closed).
PLANT: list[dict[str, Any]] = [
    *[n("Supplier", s, name=f"Supplier {s}") for s in ("S-1", "S-2", "S-3", "S-4")],
    n("Certificate", "C-1", kind="ISO 13485", valid_from="2026-01-01", valid_to="2026-01-31"),
    n("Certificate", "C-2", kind="ISO 13485", valid_from="2025-01-01", valid_to="2025-12-31"),
    n("Certificate", "C-4", kind="ISO 13485", valid_from="2020-01-01", valid_to="2030-12-31"),
    e("CERTIFIES", "Certificate:C-1", "Supplier:S-1"),
    e("CERTIFIES", "Certificate:C-2", "Supplier:S-2"),
    e("CERTIFIES", "Certificate:C-4", "Supplier:S-4"),
    n("MaterialLot", "L-1", received_at="2025-12-20"),
    n("MaterialLot", "L-2", received_at="2026-01-10T09:00:00Z"),
    n("MaterialLot", "L-3", received_at="2025-06-01"),
    n("MaterialLot", "L-4", received_at="2025-07-01"),
    n("MaterialLot", "L-5", received_at="2025-08-01"),
    n("MaterialLot", "L-6", received_at="2025-09-01"),
    e("SUPPLIED", "Supplier:S-1", "MaterialLot:L-1"),
    e("SUPPLIED", "Supplier:S-1", "MaterialLot:L-2"),
    e("SUPPLIED", "Supplier:S-2", "MaterialLot:L-3"),
    e("SUPPLIED", "Supplier:S-2", "MaterialLot:L-4"),
    e("SUPPLIED", "Supplier:S-3", "MaterialLot:L-5"),
    e("SUPPLIED", "Supplier:S-4", "MaterialLot:L-6"),
    n("Product", "P-1", name="Monitor"),
    n("Product", "P-2", name="Monitor lite"),
    *[
        n("Batch", b, started_at="2026-01-02", status="released")
        for b in ("B-1", "B-2", "B-3", "B-4")
    ],
    e("HAS_BATCH", "Product:P-1", "Batch:B-1"),
    e("HAS_BATCH", "Product:P-1", "Batch:B-2"),
    e("HAS_BATCH", "Product:P-2", "Batch:B-3"),
    e("HAS_BATCH", "Product:P-2", "Batch:B-4"),
    e("CONSUMED_IN", "MaterialLot:L-1", "Batch:B-1"),
    e("CONSUMED_IN", "MaterialLot:L-2", "Batch:B-1"),
    e("CONSUMED_IN", "MaterialLot:L-3", "Batch:B-2"),
    e("CONSUMED_IN", "MaterialLot:L-6", "Batch:B-3"),
    *[n("Device", d, manufactured_at="2026-01-26") for d in ("D-1", "D-2", "D-3", "D-4")],
    e("PRODUCED", "Batch:B-1", "Device:D-1"),
    e("PRODUCED", "Batch:B-1", "Device:D-2"),
    e("PRODUCED", "Batch:B-2", "Device:D-3"),
    e("PRODUCED", "Batch:B-3", "Device:D-4"),
    n("Equipment", "EQ-1", name="Solder station"),
    n("MaintenanceEvent", "MC-1", kind="calibration", performed_at="2026-01-01", result="pass"),
    n("MaintenanceEvent", "MC-2", kind="calibration", performed_at="2026-01-10", result="pass"),
    n(
        "MaintenanceEvent",
        "MC-3",
        kind="calibration",
        performed_at="2026-01-20",
        result="fail",
        attributes={"finding": "tip too hot"},
    ),
    n("MaintenanceEvent", "MC-4", kind="calibration", performed_at="2026-01-22", result="pass"),
    n("MaintenanceEvent", "MR-1", kind="repair", performed_at="2026-01-21", result="fail"),
    *[
        e("MAINTAINS", f"MaintenanceEvent:{m}", "Equipment:EQ-1")
        for m in ("MC-1", "MC-2", "MC-3", "MC-4", "MR-1")
    ],
    e("PROCESSED", "Equipment:EQ-1", "Batch:B-1", at="2026-01-05"),
    e("PROCESSED", "Equipment:EQ-1", "Batch:B-2", at="2026-01-15"),
    e("PROCESSED", "Equipment:EQ-1", "Batch:B-3", at="2026-01-21"),
    e("PROCESSED", "Equipment:EQ-1", "Batch:B-4", at="2026-01-25"),
    n(
        "Complaint",
        "CMP-1",
        reported_at="2026-02-01",
        severity="serious_injury",
        description="no trace",
    ),
    n("Complaint", "CMP-2", reported_at="2026-02-03", severity="malfunction", description="noise"),
    n(
        "Complaint",
        "CMP-3",
        reported_at="2026-01-15",
        severity="other",
        description="scratch",
        attributes={"status": "closed"},
    ),
    e("HAS_COMPLAINT", "Device:D-1", "Complaint:CMP-1"),
    e("HAS_COMPLAINT", "Device:D-2", "Complaint:CMP-2"),
    e("HAS_COMPLAINT", "Device:D-4", "Complaint:CMP-3"),
]
TODAY = dt.date(2026, 3, 1)


@pytest.fixture
def plant(store: GraphStore) -> GraphStore:
    import_records(store, read_jsonl("t.jsonl", [orjson.dumps(r) for r in PLANT]), REQ)
    return store


def test_suppliers_with_lapsed_certificates_and_their_lots(plant: GraphStore) -> None:
    panel = dashboard(plant, today=TODAY).as_json()["certificates"]
    # Uncovered receipts first (S-1, S-3), then the supplier that lapsed since (S-2).
    assert [s["key"] for s in panel] == ["Supplier:S-1", "Supplier:S-3", "Supplier:S-2"]
    by_supplier = {s["key"]: s for s in panel}
    s1 = by_supplier["Supplier:S-1"]
    # L-1 arrived uncovered; L-2 arrived covered, but C-1 ended on 2026-01-31 and L-2 is in use.
    assert [(lot["key"], lot["finding"]) for lot in s1["lots"]] == [
        ("MaterialLot:L-1", OUTSIDE), ("MaterialLot:L-2", LAPSED),
    ]  # fmt: skip
    assert s1["lots"][0]["batches"] == ["Batch:B-1"]
    assert s1["lots"][0]["devices"] == 2
    assert s1["lapsed_now"] is True
    assert s1["lapsed_since"] == "2026-02-01"
    s3 = by_supplier["Supplier:S-3"]
    assert [(lot["key"], lot["finding"]) for lot in s3["lots"]] == [
        ("MaterialLot:L-5", UNCERTIFIED)
    ]
    assert s3["certificates"] == []
    assert s3["lots"][0]["devices"] == 0
    s2 = by_supplier["Supplier:S-2"]
    assert [(lot["key"], lot["finding"]) for lot in s2["lots"]] == [("MaterialLot:L-3", LAPSED)]
    assert s2["lapsed_since"] == "2026-01-01"
    assert [c["valid_today"] for c in s2["certificates"]] == [False]


def test_which_certificates_lapsed_depends_on_the_day(plant: GraphStore) -> None:
    in_january = dashboard(plant, today=dt.date(2026, 1, 15)).as_json()["certificates"]
    # S-2 lapsed on 2026-01-01 already; S-1 is covered today, but L-1 arrived uncovered.
    assert [s["key"] for s in in_january] == ["Supplier:S-1", "Supplier:S-3", "Supplier:S-2"]
    assert in_january[0]["lapsed_now"] is False
    in_2025 = dashboard(plant, today=dt.date(2025, 6, 15)).as_json()["certificates"]
    assert [s["key"] for s in in_2025] == ["Supplier:S-1", "Supplier:S-3"]


def test_failed_calibrations_with_the_batches_since_the_last_pass(plant: GraphStore) -> None:
    (failure,) = dashboard(plant, today=TODAY).as_json()["calibrations"]
    assert failure["key"] == "MaintenanceEvent:MC-3"
    assert failure["equipment"] == "Equipment:EQ-1"
    assert failure["equipment_name"] == "Solder station"
    assert failure["finding"] == "tip too hot"
    assert failure["last_pass"]["key"] == "MaintenanceEvent:MC-2"
    assert failure["next_pass"]["key"] == "MaintenanceEvent:MC-4"
    assert [b["key"] for b in failure["batches_before_failure"]] == ["Batch:B-2"]
    assert [b["key"] for b in failure["batches_after_failure"]] == ["Batch:B-3"]
    # The window before the failure is the one `recall` takes for that calibration.
    seeds = recall(plant, ["MaintenanceEvent:MC-3"]).as_json()["seeds"]
    assert seeds == [b["key"] for b in failure["batches_before_failure"]]


def test_recent_complaints_newest_first_and_filtered(plant: GraphStore) -> None:
    board = dashboard(plant, today=TODAY).as_json()
    assert [c["key"] for c in board["complaints"]] == [
        "Complaint:CMP-2", "Complaint:CMP-1", "Complaint:CMP-3",
    ]  # fmt: skip
    first = board["complaints"][0]
    assert (first["device"], first["batch"], first["product"]) == (
        "Device:D-2", "Batch:B-1", "Product:P-1",
    )  # fmt: skip
    assert [c["closed"] for c in board["complaints"]] == [False, False, True]
    assert board["counts"]["complaints"] == 3
    newest = dashboard(plant, recent=1).as_json()
    assert [c["key"] for c in newest["complaints"]] == ["Complaint:CMP-2"]
    assert (newest["counts"]["complaints"], newest["counts"]["complaints_shown"]) == (3, 1)
    serious = dashboard(plant, severity="serious_injury").as_json()
    assert [c["key"] for c in serious["complaints"]] == ["Complaint:CMP-1"]
    lite = dashboard(plant, product="P-2").as_json()
    assert [c["key"] for c in lite["complaints"]] == ["Complaint:CMP-3"]
    window = dashboard(
        plant, start=utc("2026-02-02"), end=utc("2026-02-28")
    ).as_json()  # fmt: skip
    assert [c["key"] for c in window["complaints"]] == ["Complaint:CMP-2"]
    assert window["filters"]["from"] == "2026-02-02T00:00:00Z"


def test_the_ranking_is_the_common_cause_answer_among_the_units(plant: GraphStore) -> None:
    board = dashboard(plant, top=1).as_json()["hotspots"]
    full = common_cause(plant, units=True).as_json()
    # No device is installed in another: every device is a unit, and the order is the same.
    assert board["units"] == board["population"] == full["units"] == 4
    assert [h["p_value"] for h in full["ranking"]] == [h["unit_p_value"] for h in full["ranking"]]
    assert board["ranking"] == [{**full["ranking"][0], "separates": True}]
    assert board["counts"]["ranked"] == len(full["ranking"]) > 1
    assert board["counts"]["shown"] == 1
    # EQ-1 processed every batch: it reached all four devices and separates nothing.
    whole = dashboard(plant, top=MAX_ROWS).as_json()["hotspots"]
    assert whole["ranking"][-1]["key"] == "Equipment:EQ-1"
    assert whole["ranking"][-1]["separates"] is False
    assert whole["counts"]["separating"] == len(whole["ranking"]) - 1


# Monitors M-1..M-9 from batches BM-1..BM-3 (all processed on EQ-1), each with a module A-i
# (batch BA-1) installed: 18 devices, 9 units. L-1 went into BM-1. Complaints on M-1, M-2,
# M-4 and M-7. Among all 18 devices EQ-1's 4 cases in 9 devices (p = 0.041) look worse than
# L-1's 2 in 3 (p = 0.11); among the 9 units EQ-1 reached every one (p = 1) and L-1 is the one
# that separates (p = 34/84).
FIELD: list[dict[str, Any]] = [
    n("Equipment", "EQ-1", name="Final assembly line"),
    n("MaterialLot", "L-1", received_at="2026-01-01"),
    *[n("Batch", b, started_at="2026-01-02", status="released") for b in ("BA-1", "BM-1", "BM-2",
                                                                          "BM-3")],
    *[e("PROCESSED", "Equipment:EQ-1", f"Batch:{b}", at="2026-01-03") for b in ("BM-1", "BM-2",
                                                                                 "BM-3")],
    e("CONSUMED_IN", "MaterialLot:L-1", "Batch:BM-1"),
    *[n("Device", f"{kind}-{i}", manufactured_at="2026-01-04") for kind in "AM"
      for i in range(1, 10)],
    *[e("PRODUCED", "Batch:BA-1", f"Device:A-{i}") for i in range(1, 10)],
    *[e("PRODUCED", f"Batch:BM-{(i + 2) // 3}", f"Device:M-{i}") for i in range(1, 10)],
    *[e("INSTALLED_IN", f"Device:A-{i}", f"Device:M-{i}") for i in range(1, 10)],
    *[n("Complaint", f"CMP-{i}", reported_at="2026-02-01", severity="malfunction")
      for i in (1, 2, 4, 7)],
    *[e("HAS_COMPLAINT", f"Device:M-{i}", f"Complaint:CMP-{i}") for i in (1, 2, 4, 7)],
]  # fmt: skip


def test_what_reached_every_unit_comes_after_what_separates(store: GraphStore) -> None:
    import_records(store, read_jsonl("t.jsonl", [orjson.dumps(r) for r in FIELD]), REQ)
    plain = common_cause(store).as_json()
    assert plain["ranking"][0]["key"] == "Equipment:EQ-1"
    assert plain["ranking"][0]["p_value"] == pytest.approx(2002 / 48620, rel=1e-9)
    board = dashboard(store, top=MAX_ROWS).as_json()["hotspots"]
    assert (board["population"], board["units"]) == (18, 9)
    got = [
        (h["key"], h["cases"], h["exposure"], h["unit_exposure"], h["separates"])
        for h in board["ranking"]
    ]
    assert got == [
        ("Batch:BM-1", 2, 3, 3, True),
        ("MaterialLot:L-1", 2, 3, 3, True),
        ("Equipment:EQ-1", 4, 9, 9, False),
        ("Batch:BA-1", 4, 18, 9, False),
    ]
    p = {h["key"]: h["unit_p_value"] for h in board["ranking"]}
    assert p["MaterialLot:L-1"] == pytest.approx(34 / 84, rel=1e-9)
    assert p["Equipment:EQ-1"] == p["Batch:BA-1"] == 1.0
    assert board["counts"]["separating"] == 2
    # The same entries as the command line's ranking, in another order.
    assert sorted(h["key"] for h in plain["ranking"]) == sorted(k for k, *_ in got)
    # The units: the monitors, and any case among the modules.
    monitors = {f"Device:M-{i}" for i in range(1, 10)}
    assert units_of(store, None, []) == monitors
    assert units_of(store, None, ["Device:A-3"]) == monitors | {"Device:A-3"}


def test_bad_filters_are_bad_input(plant: GraphStore) -> None:
    with pytest.raises(BadInput, match="severity"):
        dashboard(plant, severity="grave")
    with pytest.raises(NotFound, match="Product:P-9"):
        dashboard(plant, product="P-9")
    with pytest.raises(BadInput, match="top 0"):
        dashboard(plant, top=0)


def test_an_empty_store_gives_empty_panels(store: GraphStore) -> None:
    board = dashboard(store, today=TODAY).as_json()
    assert board["counts"] == {
        "hotspots": 0, "suppliers": 0, "lots": 0, "calibrations": 0, "batches": 0,
        "complaints": 0, "complaints_shown": 0,
    }  # fmt: skip
    assert board["certificates"] == board["calibrations"] == board["complaints"] == []


def test_lots_counted_by_the_ranking_are_not_counted_again(store: GraphStore) -> None:
    load_demo(store)
    day = dt.date(2026, 7, 1)
    board = dashboard(store, today=day)
    ranked = {h.key for h in board.hotspots.ranking}
    lots = {lot["key"] for s in board.certificates for lot in s["lots"]}
    assert lots & ranked  # L-2026-0042 is both
    assert board.certificates == certificate_lapses(store, day)


def test_the_demo_story_is_on_the_dashboard(store: GraphStore) -> None:
    load_demo(store)
    board = dashboard(store, today=dt.date(2026, 3, 10)).as_json()
    assert board["hotspots"]["ranking"][0]["key"] == "MaterialLot:L-2026-0042"
    (supplier,) = board["certificates"]  # S-2's certificate still runs until 2026-06-14
    assert supplier["key"] == "Supplier:S-7"
    assert [lot["key"] for lot in supplier["lots"]] == ["MaterialLot:L-2026-0042"]
    assert supplier["lots"][0]["devices"] == 12
    (failure,) = board["calibrations"]
    assert failure["key"] == "MaintenanceEvent:M-3303"
    assert [b["key"] for b in failure["batches_before_failure"]] == [
        "Batch:B-MB-106", "Batch:B-MB-107",
    ]  # fmt: skip
    assert failure["batches_after_failure"] == []
    assert board["complaints"][0]["key"] == "Complaint:CMP-0447"  # the newest, 2026-03-08
    later = dashboard(store, today=dt.date(2026, 7, 1)).as_json()
    assert [s["key"] for s in later["certificates"]] == ["Supplier:S-7", "Supplier:S-2"]


def test_the_standing_panels_are_made_once_per_state_of_the_store_and_day(
    plant: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracegraph.dashboard as board

    made: list[GraphStore] = []
    real = board.failed_calibrations

    def counted(store: GraphStore) -> list[dict[str, Any]]:
        made.append(store)
        return real(store)

    monkeypatch.setattr(board, "failed_calibrations", counted)
    first = dashboard(plant, today=TODAY).as_json()
    # Other filters: the certificates and calibrations do not depend on them.
    other = dashboard(plant, today=TODAY, severity="malfunction").as_json()
    assert len(made) == 1
    assert (other["certificates"], other["calibrations"]) == (
        first["certificates"], first["calibrations"],
    )  # fmt: skip
    # Another day, and a view as of a time: made again (the last state and day are kept).
    dashboard(plant, today=TODAY + dt.timedelta(days=1))
    dashboard(plant.at(utc(dt.datetime.now(dt.UTC))), today=TODAY)
    assert len(made) == 3
    dashboard(plant, today=TODAY)
    dashboard(plant, today=TODAY)
    assert len(made) == 4
    # A write: made again, and the new failure is on it.
    failure = n("MaintenanceEvent", "MC-5", kind="calibration", performed_at="2026-01-25",
                result="fail")  # fmt: skip
    records = [failure, e("MAINTAINS", "MaintenanceEvent:MC-5", "Equipment:EQ-1")]
    import_records(plant, read_jsonl("w.jsonl", [orjson.dumps(r) for r in records]), REQ)
    after = dashboard(plant, today=TODAY).as_json()
    assert len(made) == 5
    assert [c["key"] for c in after["calibrations"]] == [
        "MaintenanceEvent:MC-3", "MaintenanceEvent:MC-5",
    ]  # fmt: skip


def test_the_last_answer_serves_the_pages_after_the_first(
    plant: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracegraph.dashboard as board

    made: list[tuple[GraphStore, str | None]] = []
    real = board.dashboard

    def counted(store: GraphStore, **kwargs: Any) -> Any:
        made.append((store, kwargs.get("severity")))
        return real(store, **kwargs)

    monkeypatch.setattr(board, "dashboard", counted)
    first = board.dashboard_json(plant, today=TODAY, top=MAX_ROWS)
    assert first == real(plant, today=TODAY, top=MAX_ROWS).as_json()
    # The next pages: the same query, on a view as of the first page's time (after the last
    # write: it reads the same graph). Kept.
    then = utc(dt.datetime.now(dt.UTC))
    assert board.dashboard_json(plant.at(then), today=TODAY, top=MAX_ROWS) is first
    assert board.dashboard_json(plant, today=TODAY, top=MAX_ROWS) is first
    assert len(made) == 1
    # Another query replaces it (one answer a store); the first is made again.
    board.dashboard_json(plant, today=TODAY, top=MAX_ROWS, severity="malfunction")
    again = board.dashboard_json(plant, today=TODAY, top=MAX_ROWS)
    assert again == first
    assert len(made) == 3
    # A write: made again, with what it wrote; the view from before it now makes its own.
    records = [n("Complaint", "C-9", reported_at="2026-11-30", severity="malfunction"),
               e("HAS_COMPLAINT", "Device:D-1", "Complaint:C-9")]  # fmt: skip
    import_records(plant, read_jsonl("w.jsonl", [orjson.dumps(r) for r in records]), REQ)
    after = board.dashboard_json(plant, today=TODAY, top=MAX_ROWS)
    assert after["complaints"][0]["key"] == "Complaint:C-9"
    assert board.dashboard_json(plant.at(then), today=TODAY, top=MAX_ROWS) == first
    board.dashboard_json(plant.at(then), today=TODAY, top=MAX_ROWS)
    assert len(made) == 6
