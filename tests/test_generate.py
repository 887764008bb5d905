"""The synthetic genealogy generator (tracegraph/generate.py)."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from functools import cache
from typing import Any

import networkx as nx
import orjson
import pytest

import tracegraph.generate as generator
from tracegraph.generate import BASE_DAY, DAY, base_day, generate, write_jsonl
from tracegraph.model import GENEALOGY, EntityType, RelType, Severity, parse_record

Record = dict[str, Any]


@cache
def records(devices: int, seed: int) -> tuple[Record, ...]:
    return tuple(generate(devices, seed))


def is_node(record: Record) -> bool:
    return record["type"] in EntityType.__members__


def key(record: Record) -> str:
    return f"{record['type']}:{record['id']}"


def of_type(recs: Iterable[Record], kind: str) -> list[Record]:
    return [r for r in recs if r["type"] == kind]


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# --------------------------------------------------------------------------- validity


@pytest.mark.parametrize("seed", [1, 42])
def test_every_record_is_valid_and_nodes_come_before_their_edges(seed: int) -> None:
    seen: set[str] = set()
    edge_ids: set[tuple[str, str, str]] = set()
    problems: list[str] = []
    for n, raw in enumerate(records(300, seed)):
        item = parse_record(raw)  # raises RecordError on anything invalid
        if is_node(raw):
            if key(raw) in seen:
                problems.append(f"{n}: duplicate {key(raw)}")
            seen.add(key(raw))
            continue
        for end in (raw["from"], raw["to"]):
            if end not in seen:
                problems.append(f"{n}: {raw['type']} refers to {end} before it is written")
        ident = (raw["type"], raw["from"], raw["to"])
        if ident in edge_ids:
            problems.append(f"{n}: edge {ident} given twice")
        edge_ids.add(ident)
        assert item is not None
    assert problems == []
    types = {r["type"] for r in records(300, seed)}
    assert set(EntityType) <= types, "every entity type occurs"
    # (small runs may have no module-equipped model and no batch after a change's effective date)
    assert set(RelType) - types <= {"IMPLEMENTED_IN", "INSTALLED_IN"}


def test_records_are_json_ready_with_utc_times_and_plain_dates() -> None:
    for raw in records(300, 1):
        for field, value in raw.items():
            if field.endswith("_at"):
                assert isinstance(value, str), (field, raw)
                assert value.endswith("Z"), (field, raw)
                assert when(value).utcoffset() == dt.timedelta(0)
            elif field in ("valid_from", "valid_to"):
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), raw
    # orjson accepts every record as it is (no datetime objects, no sets)
    assert orjson.loads(orjson.dumps(list(records(300, 1)))) == list(records(300, 1))


def test_ids_are_readable() -> None:
    patterns = {
        "MaterialLot": r"L-\d{6}",
        "Batch": r"B-\d{6}",
        "Device": r"D-\d{7}",
        "Shipment": r"SH-\d{6}",
        "Customer": r"C-\d{4}",
        "Complaint": r"CMP-\d{6}",
    }
    for raw in records(300, 1):
        pattern = patterns.get(raw["type"])
        if pattern:
            assert re.fullmatch(pattern, raw["id"]), raw["id"]


def _gtin_ok(gtin: str) -> bool:
    digits = [int(c) for c in gtin]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def test_finished_devices_have_gs1_udis_with_a_valid_gtin() -> None:
    recs = records(300, 1)
    gtins = {key(p): p.get("gtin") for p in of_type(recs, "Product")}
    product_of = {r["to"]: r["from"] for r in of_type(recs, "HAS_BATCH")}
    batch_of = {r["to"]: r["from"] for r in of_type(recs, "PRODUCED")}
    with_udi = 0
    for device in of_type(recs, "Device"):
        if "udi" not in device:
            continue
        with_udi += 1
        gtin = gtins[product_of[batch_of[key(device)]]]
        assert gtin is not None
        assert _gtin_ok(gtin)
        made = when(device["manufactured_at"]).strftime("%y%m%d")
        assert re.fullmatch(rf"\(01\){gtin}\(11\){made}\(21\)SN\d{{7}}", device["udi"])
    assert with_udi > 100


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_output_and_different_seed_different_output() -> None:
    first, again = io.BytesIO(), io.BytesIO()
    count = write_jsonl(generate(300, 7), first)
    assert write_jsonl(generate(300, 7), again) == count
    assert first.getvalue() == again.getvalue()
    other = io.BytesIO()
    write_jsonl(generate(300, 8), other)
    assert other.getvalue() != first.getvalue()
    assert list(records(300, 1)) != list(records(300, 42))


def test_write_jsonl_writes_one_line_per_record() -> None:
    out = io.BytesIO()
    count = write_jsonl(records(300, 1), out)
    lines = out.getvalue().split(b"\n")
    assert lines[-1] == b""
    assert count == len(records(300, 1)) == len(lines) - 1
    assert [orjson.loads(line) for line in lines[:-1]] == list(records(300, 1))
    empty = io.BytesIO()
    assert write_jsonl([], empty) == 0
    assert empty.getvalue() == b""


# --------------------------------------------------------------------------- shape and scale


@pytest.mark.parametrize("devices", [1, 2, 49, 50, 201, 249, 250, 251, 399, 1234])
def test_exactly_the_requested_number_of_devices(devices: int) -> None:
    recs = list(generate(devices, 3))
    assert len(of_type(recs, "Device")) == devices
    # finished batches have 50..200 units each, unless fewer than 50 devices are asked for
    finished = [r for r in of_type(recs, "Batch") if r["kind"] == "finished"]
    sizes = Counter(r["from"] for r in of_type(recs, "PRODUCED"))
    for batch in finished:
        size = sizes[key(batch)]
        assert 50 <= size <= 200 or size == devices < 50, (devices, size)


def test_every_batch_has_its_product_and_every_device_its_batch() -> None:
    recs = records(1234, 5)
    has_batch = Counter(r["to"] for r in of_type(recs, "HAS_BATCH"))
    batches = [key(b) for b in of_type(recs, "Batch")]
    assert {b: has_batch[b] for b in batches} == dict.fromkeys(batches, 1)
    produced = Counter(r["to"] for r in of_type(recs, "PRODUCED"))
    devices = [key(d) for d in of_type(recs, "Device")]
    assert {d: produced[d] for d in devices} == dict.fromkeys(devices, 1)
    # serialised modules are installed in exactly one finished device each
    installed = Counter(r["from"] for r in of_type(recs, "INSTALLED_IN"))
    assert installed
    assert set(installed.values()) == {1}
    assert not set(installed) & {r["to"] for r in of_type(recs, "INSTALLED_IN")}


def test_size_scales_linearly_with_devices() -> None:
    def counts(devices: int) -> tuple[int, int]:
        nodes = edges = 0
        for raw in generate(devices, 1):
            if is_node(raw):
                nodes += 1
            else:
                edges += 1
        return nodes, edges

    small, large = counts(5_000), counts(10_000)
    nodes_per_device = (large[0] - small[0]) / 5_000
    edges_per_device = (large[1] - small[1]) / 5_000
    assert 2.0 <= nodes_per_device <= 3.2
    assert 8.0 <= edges_per_device <= 12.5


def test_generation_streams() -> None:
    started = time.perf_counter()
    head = list(itertools.islice(generate(50_000_000, 1), 100_000))
    assert len(head) == 100_000
    assert any(r["type"] == "Device" for r in head)
    assert time.perf_counter() - started < 2.0


def test_lots_fan_out_and_shipments_hold_about_twenty_devices() -> None:
    recs = records(5_000, 2)
    uses = Counter(r["from"] for r in of_type(recs, "CONSUMED_IN") if r["from"].startswith("Mat"))
    assert sum(uses.values()) / len(uses) >= 3, "a lot feeds several batches"
    per_shipment = Counter(r["to"] for r in of_type(recs, "SHIPPED_IN"))
    mean = sum(per_shipment.values()) / len(per_shipment)
    assert 15 <= mean <= 25
    assert all(per_shipment.values())
    countries = {c["country"] for c in of_type(recs, "Customer")}
    assert len(countries) >= 5


@pytest.mark.parametrize("seed", [1, 2])
def test_complaint_and_service_fractions_are_plausible(seed: int) -> None:
    recs = records(5_000, seed)
    devices = len(of_type(recs, "Device"))
    complaints = of_type(recs, "Complaint")
    serviced = {r["from"] for r in of_type(recs, "HAS_SERVICE")}
    assert 0.004 <= len(complaints) / devices <= 0.025
    assert 0.025 <= len(serviced) / devices <= 0.09
    severities = Counter(c["severity"] for c in complaints)
    assert set(severities) <= {s.value for s in Severity}
    assert severities["malfunction"] > severities.get("death", 0)
    # complaints and service are on shipped devices, after they shipped
    shipped_at = {}
    shipments = {key(s): when(s["shipped_at"]) for s in of_type(recs, "Shipment")}
    for r in of_type(recs, "SHIPPED_IN"):
        shipped_at[r["from"]] = shipments[r["to"]]
    reported = {key(c): when(c["reported_at"]) for c in complaints}
    for r in of_type(recs, "HAS_COMPLAINT"):
        assert reported[r["to"]] > shipped_at[r["from"]]


def test_times_are_consistent() -> None:
    recs = records(1234, 1)
    received = {key(r): when(r["received_at"]) for r in of_type(recs, "MaterialLot")}
    completed = {key(b): b["completed_at"] for b in of_type(recs, "Batch") if "completed_at" in b}
    for r in of_type(recs, "CONSUMED_IN"):
        at = when(r["at"])
        if r["from"] in received:
            assert received[r["from"]] < at
        else:  # a sub-assembly batch is done before the batch that consumes it starts
            assert when(completed[r["from"]]) <= at
    made = {key(d): when(d["manufactured_at"]) for d in of_type(recs, "Device")}
    shipments = {key(s): when(s["shipped_at"]) for s in of_type(recs, "Shipment")}
    for r in of_type(recs, "SHIPPED_IN"):
        assert made[r["from"]] < shipments[r["to"]]


def test_a_time_line_that_fits_starts_on_the_base_day() -> None:
    assert base_day(DAY) == BASE_DAY
    assert base_day(100 * DAY) == BASE_DAY  # (100k devices: ~116 days)


def test_a_time_line_too_long_starts_earlier_and_ends_by_the_last_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A last day closer than the tail of any time line: 2,000 devices must start earlier.
    last = BASE_DAY + dt.timedelta(days=300)
    monkeypatch.setattr(generator, "LAST_DAY", last)
    recs = list(generate(2_000, 3))
    stamps = [when(v) for r in recs for f, v in r.items() if f.endswith("_at")]
    assert max(stamps).date() <= last
    made = [when(d["manufactured_at"]).date() for d in of_type(recs, "Device")]
    assert min(made) < BASE_DAY


@pytest.mark.parametrize(("devices", "seed"), [(300, 1), (300, 42), (5_000, 2)])
def test_genealogy_is_acyclic(devices: int, seed: int) -> None:
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_edges_from(
        (r["from"], r["to"]) for r in records(devices, seed) if r["type"] in GENEALOGY
    )
    assert graph.number_of_edges() > devices
    assert nx.is_directed_acyclic_graph(graph)


# --------------------------------------------------------------------------- the stories


def test_a_supplier_delivered_lots_while_its_certificate_had_lapsed() -> None:
    recs = records(5_000, 1)
    certs = {key(c): c for c in of_type(recs, "Certificate")}
    windows: defaultdict[str, list[tuple[dt.date, dt.date]]] = defaultdict(list)
    for r in of_type(recs, "CERTIFIES"):
        c = certs[r["from"]]
        windows[r["to"]].append(
            (dt.date.fromisoformat(c["valid_from"]), dt.date.fromisoformat(c["valid_to"]))
        )
    received = {key(r): when(r["received_at"]).date() for r in of_type(recs, "MaterialLot")}
    outside = [
        r["to"]
        for r in of_type(recs, "SUPPLIED")
        if windows[r["from"]]
        and not any(a <= received[r["to"]] <= b for a, b in windows[r["from"]])
    ]
    assert outside, "some lot was received outside its supplier's certificate validity"
    lapsed_suppliers = {r["from"] for r in of_type(recs, "SUPPLIED") if r["to"] in outside}
    assert len(lapsed_suppliers) == 1


def test_a_failed_calibration_follows_a_pass_with_batches_processed_between() -> None:
    recs = records(5_000, 1)
    events = {key(m): m for m in of_type(recs, "MaintenanceEvent")}
    history: defaultdict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for r in of_type(recs, "MAINTAINS"):
        event = events[r["from"]]
        if event["kind"] == "calibration":
            history[r["to"]].append((when(event["performed_at"]), event["result"]))
    processed: defaultdict[str, list[dt.datetime]] = defaultdict(list)
    for r in of_type(recs, "PROCESSED"):
        processed[r["from"]].append(when(r["at"]))
    windows_with_batches = 0
    for equipment, calibrations in history.items():
        calibrations.sort()
        for (before, first), (after, second) in itertools.pairwise(calibrations):
            if first == "pass" and second == "fail":
                windows_with_batches += any(before < t <= after for t in processed[equipment])
    assert windows_with_batches >= 1
    results = Counter(e["result"] for e in events.values())
    assert results["pass"] > 5 * results["fail"] > 0, "mostly pass, occasionally fail"


def test_change_orders_change_items_and_some_are_implemented() -> None:
    recs = records(5_000, 1)
    orders = {key(c): c for c in of_type(recs, "ChangeOrder")}
    assert {c["status"] for c in orders.values()} >= {"implemented", "proposed"}
    changed = {r["to"].partition(":")[0] for r in of_type(recs, "CHANGES")}
    assert {"Material", "Product", "Process"} <= changed
    implemented = of_type(recs, "IMPLEMENTED_IN")
    assert implemented
    batches = {key(b): b for b in of_type(recs, "Batch")}
    for r in implemented:
        order = orders[r["from"]]
        assert order["status"] == "implemented"
        assert when(batches[r["to"]]["started_at"]) >= when(order["effective_at"])
