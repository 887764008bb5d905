"""GraphML of a trace or a recall scope, read back with networkx and checked against the answer,
on both stores; and `tracegraph export graphml`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import networkx as nx
import orjson
import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from tracegraph.graphml import graphml_bytes, recall_graph, trace_graph
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import Direction
from tracegraph.recall import recall
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.trace import trace
from tracegraph.udi import parse_udi

GS = "\x1d"
UDI_D1 = f"]d20109501101530003{GS}10B-1{GS}21SN1"


def n(type_: str, id_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": id_, **fields}


def e(type_: str, src: str, dst: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "from": src, "to": dst, **fields}


# L-1 (from S-1, whose certificate did not cover its receipt) goes into SUB-1, which goes into
# B-1 with L-2; B-1 makes D-1 (shipped to C-1, with a complaint) and D-2. EQ-1 processed B-1.
RECORDS: list[dict[str, Any]] = [
    n("Supplier", "S-1", name="Acme", country="DE"),
    n("Certificate", "CERT-1", kind="ISO 13485", valid_from="2027-01-01", valid_to="2028-12-31"),
    n("Material", "M-1", name="Capacitor"),
    n("MaterialLot", "L-1", received_at="2026-01-05", quantity=100,
      attributes={"po": "PO-7", "tags": ["x", "y"]}),
    n("MaterialLot", "L-2", received_at="2026-01-06"),
    n("Batch", "SUB-1", started_at="2026-01-06", kind="subassembly"),
    n("Batch", "B-1", started_at="2026-01-07", status="released", kind="finished"),
    n("Device", "D-1", manufactured_at="2026-01-08", udi=UDI_D1),
    n("Device", "D-2", manufactured_at="2026-01-08"),
    n("Equipment", "EQ-1", name="Reflow oven"),
    n("Shipment", "SH-1", shipped_at="2026-01-09"),
    n("Customer", "C-1", name="Hospital", country="FR"),
    n("Complaint", "CMP-1", reported_at="2026-01-10", severity="malfunction"),
    e("CERTIFIES", "Certificate:CERT-1", "Supplier:S-1"),
    e("SUPPLIED", "Supplier:S-1", "MaterialLot:L-1"),
    e("HAS_LOT", "Material:M-1", "MaterialLot:L-1"),
    e("CONSUMED_IN", "MaterialLot:L-1", "Batch:SUB-1", quantity=20, at="2026-01-06T08:00:00Z"),
    e("CONSUMED_IN", "Batch:SUB-1", "Batch:B-1"),
    e("CONSUMED_IN", "MaterialLot:L-2", "Batch:B-1"),
    e("PROCESSED", "Equipment:EQ-1", "Batch:B-1", at="2026-01-07T10:00:00Z"),
    e("PRODUCED", "Batch:B-1", "Device:D-1"),
    e("PRODUCED", "Batch:B-1", "Device:D-2"),
    e("SHIPPED_IN", "Device:D-1", "Shipment:SH-1"),
    e("DELIVERED_TO", "Shipment:SH-1", "Customer:C-1"),
    e("HAS_COMPLAINT", "Device:D-1", "Complaint:CMP-1"),
]  # fmt: skip


@pytest.fixture
def plant(store: GraphStore) -> GraphStore:
    lines = [orjson.dumps(r) for r in RECORDS]
    import_records(store, read_jsonl("plant.jsonl", lines), WriteRequest("test", "import"))
    return store


def read_back(data: bytes) -> nx.MultiDiGraph[str]:
    graph = nx.read_graphml(io.BytesIO(data), force_multigraph=True)
    assert isinstance(graph, nx.MultiDiGraph)
    return graph


def edge_set(graph: nx.MultiDiGraph[str]) -> set[tuple[str, str, str]]:
    return {(d["type"], a, b) for a, b, d in graph.edges(data=True)}


@pytest.mark.parametrize(
    ("start", "direction", "depth"),
    [
        ("MaterialLot:L-1", Direction.down, None),
        ("Device:D-1", Direction.up, None),
        ("Device:D-1", Direction.up, 2),
    ],
)
def test_a_trace_as_graphml_is_the_trace_answer(
    plant: GraphStore, start: str, direction: Direction, depth: int | None
) -> None:
    answer = trace(plant, start, direction, depth).as_json()
    graph = read_back(graphml_bytes(trace_graph(plant, start, direction, depth)))
    assert {k: d["depth"] for k, d in graph.nodes(data=True)} == {
        node["key"]: node["depth"] for node in answer["nodes"]
    }
    assert edge_set(graph) == {(x["type"], x["from"], x["to"]) for x in answer["edges"]}
    assert graph.number_of_edges() == len(answer["edges"])
    for key, data in graph.nodes(data=True):
        type_, _, id_ = key.partition(":")
        assert (data["key"], data["type"], data["id"], data["label"]) == (key, type_, id_, key)


def test_fields_become_graphml_scalars(plant: GraphStore) -> None:
    graph = read_back(graphml_bytes(trace_graph(plant, "MaterialLot:L-1", Direction.down)))
    lot = graph.nodes["MaterialLot:L-1"]
    assert lot["quantity"] == 100
    assert lot["received_at"] == "2026-01-05T00:00:00Z"
    assert json.loads(lot["attributes"]) == {"po": "PO-7", "tags": ["x", "y"]}
    assert "status" not in graph.nodes["Batch:SUB-1"]  # absent, not "None"
    (consumed,) = [
        d for a, b, d in graph.edges(data=True) if (a, b) == ("MaterialLot:L-1", "Batch:SUB-1")
    ]
    assert consumed == {"type": "CONSUMED_IN", "quantity": 20, "at": "2026-01-06T08:00:00Z"}
    # The GS separators of a scanned UDI cannot be in XML: they are written as ␝, which reads
    # back as the same UDI.
    assert GS not in graph.nodes["Device:D-1"]["udi"]
    assert parse_udi(graph.nodes["Device:D-1"]["udi"]) == parse_udi(UDI_D1)


def test_a_recall_scope_as_graphml(plant: GraphStore) -> None:
    answer = recall(plant, ["Certificate:CERT-1"]).as_json()
    graph = read_back(graphml_bytes(recall_graph(plant, ["Certificate:CERT-1"])))
    listed = {
        item["key"]
        for section in ("lots", "batches", "devices", "shipments", "customers", "complaints")
        for item in answer[section]
    }
    on_reasons = {k for d in answer["devices"] for k in d["path"]}
    assert set(graph.nodes) == listed | on_reasons | {"Certificate:CERT-1"}
    assert set(graph.nodes) >= {"Supplier:S-1", "Device:D-1", "Customer:C-1", "Complaint:CMP-1"}
    assert {"Material:M-1", "Equipment:EQ-1", "MaterialLot:L-2"}.isdisjoint(graph.nodes)
    for device in answer["devices"]:
        assert graph.nodes[device["key"]]["reason"] == " → ".join(device["path"])
    assert graph.nodes["Certificate:CERT-1"]["suspect"] is True
    assert "suspect" not in graph.nodes["Device:D-1"]
    assert edge_set(graph) == {
        ("CERTIFIES", "Certificate:CERT-1", "Supplier:S-1"),
        ("SUPPLIED", "Supplier:S-1", "MaterialLot:L-1"),
        ("CONSUMED_IN", "MaterialLot:L-1", "Batch:SUB-1"),
        ("CONSUMED_IN", "Batch:SUB-1", "Batch:B-1"),
        ("PRODUCED", "Batch:B-1", "Device:D-1"),
        ("PRODUCED", "Batch:B-1", "Device:D-2"),
        ("SHIPPED_IN", "Device:D-1", "Shipment:SH-1"),
        ("DELIVERED_TO", "Shipment:SH-1", "Customer:C-1"),
        ("HAS_COMPLAINT", "Device:D-1", "Complaint:CMP-1"),
    }


# --------------------------------------------------------------------------- the CLI


def run(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def db(tmp_path: Path) -> str:
    data = tmp_path / "plant.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in RECORDS))
    path = str(tmp_path / "cli.tgdb")
    assert run("import", str(data), "--db", path, "--format", "json").exit_code == 0
    return path


def test_cli_export_graphml_of_a_trace_to_a_file(db: str, tmp_path: Path) -> None:
    out = tmp_path / "trace.graphml"
    result = run(
        "export", "graphml", "Batch:B-1", "--up", "--depth", "1", "--out", str(out), "--db", db
    )
    assert result.exit_code == 0, result.stderr
    graph = read_back(out.read_bytes())
    assert set(graph.nodes) == {
        "Batch:B-1", "Batch:SUB-1", "MaterialLot:L-2", "Equipment:EQ-1",
    }  # fmt: skip
    assert result.stdout.startswith(f"{out}: upstream trace of Batch:B-1")
    assert "4 nodes, 3 edges" in result.stdout


def test_cli_export_graphml_of_a_recall_scope_to_stdout(db: str) -> None:
    result = run("export", "graphml", "Device:D-2", "Batch:SUB-1", "--recall", "--db", db)
    assert result.exit_code == 0, result.stderr
    graph = read_back(result.stdout.encode())
    assert {k for k, d in graph.nodes(data=True) if d.get("suspect")} == {
        "Device:D-2",
        "Batch:SUB-1",
    }
    assert "Device:D-1" in graph  # downstream of the sub-assembly
    windowed = run(
        "export", "graphml", "Equipment:EQ-1", "--recall", "--from", "2026-01-08", "--db", db
    )
    assert windowed.exit_code == 0, windowed.stderr
    assert set(read_back(windowed.stdout.encode()).nodes) == {"Equipment:EQ-1"}


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["Batch:B-1", "Device:D-1"], "a trace starts from one key (got 2)"),
        (["Batch:B-1", "--from", "2026-01-01"], "--from and --to bound a recall scope"),
        (["Batch:B-1", "--recall", "--up"], "--recall takes --from/--to"),
        (["Batch:B-1", "--up", "--down"], "give --up or --down, not both"),
        (["Batch:NOPE"], "Batch:NOPE: no such node"),
    ],
)
def test_cli_export_graphml_bad_input_exits_2(db: str, args: list[str], reason: str) -> None:
    result = run("export", "graphml", *args, "--db", db)
    assert result.exit_code == 2
    assert reason in result.stderr
    assert result.stdout == ""
