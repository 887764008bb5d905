"""The hand-written ECG-monitor scenario (tracegraph/data/ecg_demo.jsonl) and its story."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from functools import cache
from importlib import resources
from typing import Any

import networkx as nx
import orjson
import pytest

from tracegraph.model import GENEALOGY, Edge, Node, parse_record, utc

LOT = "MaterialLot:L-2026-0042"
SUPPLIER = "Supplier:S-7"
STATION = "Equipment:EQ-SOLDER-3"


@cache
def raw_records() -> tuple[dict[str, Any], ...]:
    text = resources.files("tracegraph.data").joinpath("ecg_demo.jsonl").read_bytes()
    return tuple(orjson.loads(line) for line in text.splitlines() if line.strip())


@cache
def parsed() -> tuple[dict[str, Node], tuple[Edge, ...]]:
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    for raw in raw_records():
        item = parse_record(raw)
        if isinstance(item, Node):
            nodes[item.key] = item
        else:
            edges.append(item)
    return nodes, tuple(edges)


def nodes() -> dict[str, Node]:
    return parsed()[0]


def edges(kind: str | None = None) -> list[Edge]:
    return [e for e in parsed()[1] if kind is None or e.type == kind]


def genealogy() -> nx.DiGraph[str]:
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(nodes())
    graph.add_edges_from((e.src, e.dst) for e in edges() if e.type in GENEALOGY)
    return graph


def complaint_devices() -> dict[str, str]:
    """Complaint key -> device key."""
    return {e.dst: e.src for e in edges("HAS_COMPLAINT")}


# --------------------------------------------------------------------------- the file


def test_every_record_is_valid_and_ids_are_unique_per_type() -> None:
    raw = raw_records()
    assert 150 <= len(raw) <= 500
    keys = [f"{r['type']}:{r['id']}" for r in raw if "id" in r]
    duplicates = [k for k, n in Counter(keys).items() if n > 1]
    assert duplicates == []
    assert len(nodes()) == len(keys)  # parse_record raised nothing and every node is kept
    edge_ids = [e.ident for e in edges()]
    assert len(edge_ids) == len(set(edge_ids)), "an edge is given twice"


def test_every_edge_endpoint_is_a_node_of_the_file() -> None:
    known = nodes()
    dangling = [e.ident for e in edges() if e.src not in known or e.dst not in known]
    assert dangling == []


def test_source_of_record_is_used() -> None:
    sources = {n.props.get("source") for n in nodes().values()}
    assert {"PLM", "MES", "QMS", "ERP", "CMMS"} <= sources
    assert sum("source_ref" in n.props for n in nodes().values()) >= 100


def test_genealogy_is_acyclic_and_batches_and_devices_are_complete() -> None:
    assert nx.is_directed_acyclic_graph(genealogy())
    batches = {k for k in nodes() if k.startswith("Batch:")}
    has_batch = Counter(e.dst for e in edges("HAS_BATCH"))
    assert {b: has_batch[b] for b in batches} == dict.fromkeys(batches, 1)
    devices = {k for k in nodes() if k.startswith("Device:")}
    produced = Counter(e.dst for e in edges("PRODUCED"))
    assert {d: produced[d] for d in devices} == dict.fromkeys(devices, 1)
    assert 40 <= len(devices) <= 60


def test_devices_carry_gs1_udis_of_their_product() -> None:
    product_of_batch = {e.dst: e.src for e in edges("HAS_BATCH")}
    batch_of_device = {e.dst: e.src for e in edges("PRODUCED")}
    for key, node in nodes().items():
        if node.type != "Device":
            continue
        product = nodes()[product_of_batch[batch_of_device[key]]]
        udi = node.props["udi"]
        made = node.props["manufactured_at"].strftime("%y%m%d")
        assert udi.startswith(f"(01){product.props['gtin']}(11){made}(21)SN"), udi


def test_products_customers_and_complaints_cover_the_scenario() -> None:
    names = {n.props["name"] for n in nodes().values() if n.type == "Product"}
    assert {"ECG-Monitor Pro 12", "ECG-Monitor Lite 3", "Main board MB-2"} <= names
    assert ("Product:P-MB2", "Product:P-PRO12") in {(e.src, e.dst) for e in edges("COMPONENT_OF")}
    countries = [n.props["country"] for n in nodes().values() if n.type == "Customer"]
    assert 5 <= len(countries) <= 6
    assert len(set(countries)) == len(countries)
    severities = {n.props["severity"] for n in nodes().values() if n.type == "Complaint"}
    assert "serious_injury" in severities
    assert len([n for n in nodes().values() if n.type == "ServiceEvent"]) >= 3


# --------------------------------------------------------------------------- the story


def test_lapsed_certificate_does_not_cover_the_suspicious_lot() -> None:
    lot = nodes()[LOT]
    received = lot.props["received_at"].date()
    assert [e.src for e in edges("SUPPLIED") if e.dst == LOT] == [SUPPLIER]
    assert [e.src for e in edges("HAS_LOT") if e.dst == LOT] == ["Material:MAT-C100"]
    certs = [nodes()[e.src].props for e in edges("CERTIFIES") if e.dst == SUPPLIER]
    assert certs, "S-7 has a certificate"
    lapsed = [c for c in certs if c["valid_to"] < received]
    assert lapsed, "a certificate of S-7 ended before L-2026-0042 was received"
    assert not [c for c in certs if c["valid_from"] <= received <= c["valid_to"]]
    # ... while good lots of the same capacitor come from a supplier that was certified
    for e in edges("HAS_LOT"):
        if e.src != "Material:MAT-C100" or e.dst == LOT:
            continue
        when = nodes()[e.dst].props["received_at"].date()
        (supplier,) = [s.src for s in edges("SUPPLIED") if s.dst == e.dst]
        valid = [
            c
            for c in edges("CERTIFIES")
            if c.dst == supplier
            and nodes()[c.src].props["valid_from"] <= when <= nodes()[c.src].props["valid_to"]
        ]
        assert valid, f"{e.dst} was received while {supplier} was certified"


def test_soldering_station_failed_calibration_after_a_pass_with_batches_between() -> None:
    events = sorted(
        (nodes()[e.src].props for e in edges("MAINTAINS") if e.dst == STATION),
        key=lambda p: p["performed_at"],
    )
    calibrations = [p for p in events if p["kind"] == "calibration"]
    fails = [i for i, p in enumerate(calibrations) if p["result"] == "fail"]
    assert fails, "EQ-SOLDER-3 has a failed calibration"
    failure = calibrations[fails[0]]
    passes = [p for p in calibrations[: fails[0]] if p["result"] == "pass"]
    assert passes, "... after a passing one"
    start, end = passes[-1]["performed_at"], failure["performed_at"]
    window = sorted(
        e.dst for e in edges("PROCESSED") if e.src == STATION and start < e.props["at"] <= end
    )
    assert window == ["Batch:B-MB-106", "Batch:B-MB-107"]
    before = [e.dst for e in edges("PROCESSED") if e.src == STATION and e.props["at"] <= start]
    assert before, "the station also processed batches before its last pass (not suspect)"


def test_complaints_trace_back_to_the_suspicious_lot() -> None:
    graph = genealogy()
    cases = complaint_devices()
    from_lot = {c: d for c, d in cases.items() if LOT in nx.ancestors(graph, d)}
    assert len(from_lot) >= 4
    assert len(from_lot) < len(cases), "there are unrelated complaints too"
    severities = {nodes()[c].props["severity"] for c in from_lot}
    assert "serious_injury" in severities
    descriptions = " ".join(nodes()[c].props["description"] for c in from_lot)
    assert "baseline noise" in descriptions
    assert "reboots" in descriptions


def _p_value(population: int, cases: int, exposure: int, hits: int) -> float:
    """One-sided hypergeometric P(X >= hits)."""
    total = math.comb(population, exposure)
    upper = min(cases, exposure)
    return (
        sum(
            math.comb(cases, k) * math.comb(population - cases, exposure - k)
            for k in range(hits, upper + 1)
        )
        / total
    )


def test_common_cause_over_complaint_devices_points_at_the_lot_and_supplier() -> None:
    graph = genealogy()
    devices = [k for k in nodes() if k.startswith("Device:")]
    cases = set(complaint_devices().values())
    kinds = ("MaterialLot", "Supplier", "Batch", "Equipment", "Process", "ChangeOrder")
    ranking: list[tuple[float, str]] = []
    for key in nodes():
        if key.partition(":")[0] not in kinds:
            continue
        reached = {d for d in nx.descendants(graph, key) if d.startswith("Device:")}
        hits = len(reached & cases)
        if hits >= 2:
            ranking.append((_p_value(len(devices), len(cases), len(reached), hits), key))
    ranking.sort()
    assert ranking[0][1] == LOT
    assert ranking[0][0] < 0.05
    assert ranking[0][0] < ranking[1][0]
    suppliers = [key for _, key in ranking if key.startswith("Supplier:")]
    assert suppliers[0] == SUPPLIER


def test_quarantined_batch_with_a_failed_final_inspection_and_no_later_pass() -> None:
    statuses = {k: n.props.get("status") for k, n in nodes().items() if n.type == "Batch"}
    assert "quarantined" in statuses.values()
    assert "in_process" in statuses.values()
    finals: dict[str, list[tuple[dt.datetime, str]]] = {}
    for e in edges("INSPECTED"):
        props = nodes()[e.src].props
        if e.dst.startswith("Batch:") and props["kind"] == "final":
            finals.setdefault(e.dst, []).append((props["performed_at"], props["result"]))
    open_failures = [
        batch
        for batch, results in finals.items()
        if (last_fail := max((t for t, r in results if r == "fail"), default=None)) is not None
        and not any(r == "pass" and t > last_fail for t, r in results)
    ]
    assert open_failures == ["Batch:B-LITE-304"]
    assert statuses["Batch:B-LITE-304"] == "quarantined"
    shipped = {e.src for e in edges("SHIPPED_IN")}
    quarantined_devices = [e.dst for e in edges("PRODUCED") if e.src == "Batch:B-LITE-304"]
    assert quarantined_devices
    assert not shipped & set(quarantined_devices)
    reworked = sorted(r for _, r in finals["Batch:B-PRO-202"])
    assert reworked == ["fail", "pass"]


def test_change_orders_design_implemented_and_proposed_what_if() -> None:
    co118 = nodes()["ChangeOrder:CO-118"].props
    assert (co118["kind"], co118["status"]) == ("design", "implemented")
    effective = co118["effective_at"]
    assert effective == utc("2026-02-01")
    assert "Product:P-MB2" in {e.dst for e in edges("CHANGES") if e.src == "ChangeOrder:CO-118"}
    implemented = [e.dst for e in edges("IMPLEMENTED_IN") if e.src == "ChangeOrder:CO-118"]
    assert implemented
    assert all(nodes()[b].props["started_at"] >= effective for b in implemented)
    co121 = nodes()["ChangeOrder:CO-121"].props
    assert co121["status"] == "proposed"
    assert not [e for e in edges("IMPLEMENTED_IN") if e.src == "ChangeOrder:CO-121"]
    assert {e.dst for e in edges("CHANGES") if e.src == "ChangeOrder:CO-121"} >= {
        "Material:MAT-C100"
    }


@pytest.mark.parametrize(
    ("edge_type", "time_of_source", "time_of_target"),
    [
        ("SHIPPED_IN", "manufactured_at", "shipped_at"),
        ("HAS_COMPLAINT", "manufactured_at", "reported_at"),
        ("HAS_SERVICE", "manufactured_at", "performed_at"),
    ],
)
def test_timeline_is_consistent(edge_type: str, time_of_source: str, time_of_target: str) -> None:
    for e in edges(edge_type):
        assert nodes()[e.src].props[time_of_source] < nodes()[e.dst].props[time_of_target], e


def test_lots_are_received_before_they_are_consumed() -> None:
    for e in edges("CONSUMED_IN"):
        if e.src.startswith("MaterialLot:"):
            assert nodes()[e.src].props["received_at"] < e.props["at"], e.ident
