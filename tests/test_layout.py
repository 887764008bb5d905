"""The trace layout the web page draws: columns in flow order, per-level caps that say how many
they show, expansion, and geometry that never overlaps, on both stores."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import networkx as nx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.genealogy import genealogies, keys_of
from tracegraph.errors import BadInput, NotFound
from tracegraph.importer import import_records, read_jsonl
from tracegraph.layout import NODE_H, NODE_W, layout
from tracegraph.model import GENEALOGY, Direction
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore

REQ = WriteRequest(actor="test", operation="import")


def n(type_: str, id_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": id_, **fields}


def e(type_: str, src: str, dst: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "from": src, "to": dst, **fields}


def load(store: GraphStore, records: list[dict[str, Any]]) -> None:
    import_records(store, read_jsonl("t.jsonl", [orjson.dumps(r) for r in records]), REQ)


# Lot L-1 (from S-1, of M-1) goes into the sub-assembly SUB-1, which goes into B-1, B-2 and B-3.
# B-3's devices have the smallest keys (D-01..03), so "by key" alone would pick them; B-1 and
# B-2 have D-11..13 and D-21..23. D-11 was shipped (SH-1 → C-1) and has a complaint. EQ-1
# processed SUB-1: upstream of the sub-assembly, so outside the lot's downstream closure.
DEVICES = {"B-1": ["D-11", "D-12", "D-13"], "B-2": ["D-21", "D-22", "D-23"],
           "B-3": ["D-01", "D-02", "D-03"]}  # fmt: skip
PLANT: list[dict[str, Any]] = [
    n("Supplier", "S-1", name="Acme", country="DE"),
    n("Material", "M-1", name="Capacitor"),
    n("MaterialLot", "L-1", received_at="2026-01-05"),
    n("Batch", "SUB-1", started_at="2026-01-06", kind="subassembly", status="released"),
    *[n("Batch", b, started_at="2026-01-07", kind="finished") for b in DEVICES],
    *[n("Device", d, manufactured_at="2026-01-08") for ds in DEVICES.values() for d in ds],
    n("Equipment", "EQ-1", name="Reflow oven"),
    n("Shipment", "SH-1", shipped_at="2026-01-09"),
    n("Customer", "C-1", name="Hospital", country="FR"),
    n("Complaint", "CMP-1", reported_at="2026-01-10", severity="malfunction"),
    e("SUPPLIED", "Supplier:S-1", "MaterialLot:L-1"),
    e("HAS_LOT", "Material:M-1", "MaterialLot:L-1"),
    e("CONSUMED_IN", "MaterialLot:L-1", "Batch:SUB-1"),
    *[e("CONSUMED_IN", "Batch:SUB-1", f"Batch:{b}") for b in DEVICES],
    *[e("PRODUCED", f"Batch:{b}", f"Device:{d}") for b, ds in DEVICES.items() for d in ds],
    e("PROCESSED", "Equipment:EQ-1", "Batch:SUB-1", at="2026-01-06T10:00:00Z"),
    e("SHIPPED_IN", "Device:D-11", "Shipment:SH-1"),
    e("DELIVERED_TO", "Shipment:SH-1", "Customer:C-1"),
    e("HAS_COMPLAINT", "Device:D-11", "Complaint:CMP-1"),
]


@pytest.fixture
def plant(store: GraphStore) -> GraphStore:
    load(store, PLANT)
    return store


def columns(answer: dict[str, Any]) -> dict[str, tuple[int, str]]:
    return {node["key"]: (node["column"], node["band"]) for node in answer["nodes"]}


def level(answer: dict[str, Any], column: int, band: str = "main") -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        lv for lv in answer["levels"] if lv["column"] == column and lv["band"] == band
    ]
    assert len(found) == 1
    return found[0]


def test_columns_follow_the_flow_of_material(plant: GraphStore) -> None:
    answer = layout(plant, "MaterialLot:L-1").as_json()
    at = columns(answer)
    assert at["Supplier:S-1"] == at["Material:M-1"] == (0, "main")
    assert at["MaterialLot:L-1"] == (1, "main")
    assert at["Batch:SUB-1"] == (2, "main")  # the sub-assembly before the batches it went into
    assert {at[f"Batch:{b}"] for b in DEVICES} == {(3, "main")}
    assert {at[f"Device:{d}"] for ds in DEVICES.values() for d in ds} == {(4, "main")}
    assert at["Shipment:SH-1"] == (5, "main")
    assert at["Complaint:CMP-1"] == (5, "side")  # about a device, below the shipments
    assert at["Customer:C-1"] == (6, "main")
    assert "Equipment:EQ-1" not in at  # upstream of SUB-1, not of the lot
    assert [lv["label"] for lv in answer["levels"] if lv["band"] == "main"] == [
        "Suppliers · Materials", "Lots", "Sub-assembly batches", "Batches", "Devices",
        "Shipments", "Customers",
    ]  # fmt: skip
    # 2 sources, 1 lot, 4 batches, 9 devices, 1 shipment, 1 customer, 1 complaint; an edge
    # into each but the sources, plus the lot's second source.
    assert answer["counts"] == {"shown": 19, "total": 19, "edges": 18, "levels": 8}
    # Every edge runs left to right, and x grows with the column.
    x = {node["key"]: node["x"] for node in answer["nodes"]}
    for edge in answer["edges"]:
        assert x[edge["from"]] < x[edge["to"]], edge


def test_a_capped_level_says_how_many_it_shows_and_keeps_the_picture_connected(
    plant: GraphStore,
) -> None:
    answer = layout(plant, "MaterialLot:L-1", cap=2).as_json()
    shown = {node["key"] for node in answer["nodes"]}
    batches = level(answer, 3)
    assert (batches["shown"], batches["total"]) == (2, 3)
    assert {"Batch:B-1", "Batch:B-2"} <= shown
    assert "Batch:B-3" not in shown
    devices = level(answer, 4)
    assert (devices["shown"], devices["total"]) == (2, 9)
    # By key alone D-01 and D-02 would win; they hang off the hidden B-3, so the devices of the
    # shown batches are preferred.
    assert {k for k in shown if k.startswith("Device:")} == {"Device:D-11", "Device:D-12"}
    hidden = {node["key"]: node["hidden"] for node in answer["nodes"]}
    assert hidden["Batch:B-1"] == 1  # D-13
    assert hidden["Batch:B-2"] == 3  # D-21..23
    assert hidden["Batch:SUB-1"] == 2  # B-3, and EQ-1 outside the closure
    assert answer["counts"]["shown"] < answer["counts"]["total"] == 19


def test_expanding_a_node_pins_its_neighbours(plant: GraphStore) -> None:
    answer = layout(plant, "MaterialLot:L-1", cap=2, expand=["Batch:B-3"]).as_json()
    shown = {node["key"] for node in answer["nodes"]}
    assert {"Batch:B-3", "Device:D-01", "Device:D-02", "Device:D-03"} <= shown
    devices = level(answer, 4)
    assert (devices["shown"], devices["total"]) == (3, 9)  # the pinned three exceed the cap
    assert [node["expanded"] for node in answer["nodes"] if node["key"] == "Batch:B-3"] == [True]
    # A neighbour outside the closure: the equipment of the sub-assembly, under the lots.
    wider = layout(plant, "MaterialLot:L-1", expand=["Batch:SUB-1"]).as_json()
    assert columns(wider)["Equipment:EQ-1"] == (1, "side")
    assert wider["counts"]["total"] == 20
    assert {"type": "PROCESSED", "from": "Equipment:EQ-1", "to": "Batch:SUB-1"} in wider["edges"]


def test_direction_and_depth_bound_the_closure(plant: GraphStore) -> None:
    up = {node["key"] for node in layout(plant, "Device:D-11", "up").as_json()["nodes"]}
    assert up == {"Device:D-11", "Batch:B-1", "Batch:SUB-1", "MaterialLot:L-1", "Supplier:S-1",
                  "Material:M-1", "Equipment:EQ-1"}  # fmt: skip
    down = {node["key"] for node in layout(plant, "Device:D-11", "down").as_json()["nodes"]}
    assert down == {"Device:D-11", "Shipment:SH-1", "Customer:C-1", "Complaint:CMP-1"}
    near = layout(plant, "Batch:SUB-1", depth=1).as_json()
    assert {node["key"] for node in near["nodes"]} == {
        "Batch:SUB-1", "MaterialLot:L-1", "Equipment:EQ-1", "Batch:B-1", "Batch:B-2", "Batch:B-3",
    }  # fmt: skip
    start = [node for node in near["nodes"] if node["start"]]
    assert [s["key"] for s in start] == ["Batch:SUB-1"]


def test_bad_requests_are_bad_input(plant: GraphStore) -> None:
    with pytest.raises(NotFound, match="Device:NOPE"):
        layout(plant, "Device:NOPE")
    with pytest.raises(NotFound, match="Batch:NOPE"):
        layout(plant, "Device:D-11", expand=["Batch:NOPE"])
    with pytest.raises(BadInput, match="direction"):
        layout(plant, "Device:D-11", "sideways")
    with pytest.raises(BadInput, match="cap 0"):
        layout(plant, "Device:D-11", cap=0)
    with pytest.raises(BadInput, match="depth 0"):
        layout(plant, "Device:D-11", depth=0)
    with pytest.raises(BadInput, match="not a key"):
        layout(plant, "D-11")


@pytest.mark.neo4j
def test_both_stores_lay_out_the_demo_identically(tmp_path: Path, neo4j_store: GraphStore) -> None:
    from tracegraph.demo import load_demo

    embedded = EmbeddedStore(tmp_path / "demo.tgdb")
    load_demo(embedded)
    load_demo(neo4j_store)
    for key, expand in (("MaterialLot:L-2026-0042", []), ("Device:D-000125", ["Batch:B-MB-105"]),
                        ("Customer:C-02", [])):  # fmt: skip
        mine = layout(embedded, key, expand=expand, cap=5).as_json()
        theirs = layout(neo4j_store, key, expand=expand, cap=5).as_json()
        assert mine == theirs, key


def _check_geometry(
    answer: dict[str, Any], cap: int, pinned: set[str], records: list[dict[str, Any]]
) -> None:
    boxes = [(node["x"], node["y"]) for node in answer["nodes"]]
    assert len(boxes) == len(set(boxes))  # no two boxes in one place
    for node in answer["nodes"]:
        assert node["x"] > 0
        assert node["x"] + NODE_W <= answer["width"]
        assert node["y"] > 0
        assert node["y"] + NODE_H <= answer["height"]
    per_level = Counter((node["column"], node["band"]) for node in answer["nodes"])
    pins = Counter((node["column"], node["band"]) for node in answer["nodes"]
                   if node["key"] in pinned)  # fmt: skip
    for lv in answer["levels"]:
        at = (lv["column"], lv["band"])
        assert lv["shown"] == per_level[at]
        # A level shows up to its cap, more only for pinned nodes, and never hides what fits.
        assert lv["shown"] == min(lv["total"], max(cap, pins[at]))
    assert sum(lv["total"] for lv in answer["levels"]) == answer["counts"]["total"]
    # Edges go left to right, except inside a Batch → Batch or Device → Device cycle (bad data
    # the random genealogies include), where no order can.
    chains = nx.DiGraph(
        (r["from"], r["to"]) for r in records
        if r["type"] in ("CONSUMED_IN", "INSTALLED_IN")
        and r["from"].split(":")[0] == r["to"].split(":")[0]
    )  # fmt: skip
    cyclic = {k for component in nx.strongly_connected_components(chains) if len(component) > 1
              for k in component}  # fmt: skip
    x = {node["key"]: node["x"] for node in answer["nodes"]}
    for edge in answer["edges"]:
        if edge["from"] not in cyclic and edge["to"] not in cyclic:
            assert x[edge["from"]] < x[edge["to"]], edge


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=genealogies(), data=st.data())
def test_layouts_of_random_genealogies_are_sound(
    records: list[dict[str, Any]], data: st.DataObject
) -> None:
    keys = keys_of(records)
    start = data.draw(st.sampled_from(keys))
    direction = data.draw(st.sampled_from(["both", "up", "down"]))
    cap = data.draw(st.integers(min_value=1, max_value=4))
    expand = data.draw(st.lists(st.sampled_from(keys), max_size=2, unique=True))
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "s.tgdb")
        load(store, records)
        answer = layout(store, start, direction, expand=expand, cap=cap).as_json()
        again = layout(store, start, direction, expand=expand, cap=cap).as_json()
        assert answer == again  # deterministic
        # Everything the closure and the expansions hold is counted, shown or not.
        closure = {start}
        for way in (Direction.up, Direction.down):
            if direction in ("both", str(way)):
                closure |= store.reach([start], GENEALOGY, way)
        edges = [*store.edges(expand, GENEALOGY, Direction.up),
                 *store.edges(expand, GENEALOGY, Direction.down)]  # fmt: skip
        pinned = {start, *expand} | {k for edge in edges for k in (edge.src, edge.dst)}
        assert answer["counts"]["total"] == len(closure | pinned)
        # The start, the expanded nodes and their neighbours are always shown.
        assert pinned <= {node["key"] for node in answer["nodes"]}
        _check_geometry(answer, cap, pinned, records)
