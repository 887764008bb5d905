"""Bulk-import errors (§3 of the contract): every bad record is reported as ``file:line: message``.

Each kind of bad record is checked against the exact message a user sees, so that a change of
wording is a deliberate act. The refusal is all-or-nothing on both stores.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracegraph import importer
from tracegraph.errors import BadInput, InvalidImport
from tracegraph.importer import import_paths, import_records, read_jsonl
from tracegraph.model import EVIDENCE, GENEALOGY, EntityType
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore

REQ = WriteRequest(actor="test", operation="import", source="MES", reason="import-error test")

ENTITY_TYPES = (
    "Supplier, Certificate, Material, MaterialLot, Product, Batch, Device, Process, Equipment, "
    "MaintenanceEvent, Inspection, ChangeOrder, Document, Shipment, Customer, ServiceEvent, "
    "Complaint"
)
REL_TYPES = (
    "SUPPLIED, HAS_LOT, CONSUMED_IN, PRODUCED, INSTALLED_IN, PROCESSED, FOLLOWED, IMPLEMENTED_IN, "
    "SHIPPED_IN, DELIVERED_TO, HAS_SERVICE, HAS_COMPLAINT, COMPONENT_OF, HAS_BATCH, GOVERNS, "
    "CHANGES, CERTIFIES, INSPECTED, MAINTAINS"
)

SUPPLIER = {"type": "Supplier", "id": "S-1", "name": "Acme", "status": "approved"}
LOT = {"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-05", "quantity": 100}
BATCH = {"type": "Batch", "id": "B-1", "started_at": "2026-01-07"}
DEVICE = {"type": "Device", "id": "D-1", "manufactured_at": "2026-01-09"}
GOOD: list[dict[str, Any]] = [
    SUPPLIER,
    LOT,
    BATCH,
    DEVICE,
    {"type": "SUPPLIED", "from": "Supplier:S-1", "to": "MaterialLot:L-1"},
    {"type": "CONSUMED_IN", "from": "MaterialLot:L-1", "to": "Batch:B-1", "quantity": 20},
    {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-1"},
]
GOOD_KEYS = ["Supplier:S-1", "MaterialLot:L-1", "Batch:B-1", "Device:D-1"]


def line(record: dict[str, Any] | str) -> bytes:
    """A JSONL line: a record is dumped as JSON, a string is taken as the raw line."""
    return record.encode() if isinstance(record, str) else orjson.dumps(record)


def refused(store: GraphStore, records: list[dict[str, Any] | str]) -> InvalidImport:
    """Import the records as ``data.jsonl``; the import must be refused."""
    with pytest.raises(InvalidImport) as info:
        import_records(store, read_jsonl("data.jsonl", [line(r) for r in records]), REQ)
    return info.value


# --------------------------------------------------------------------------- one bad record


# (record, expected message). The record is the only line of data.jsonl, so each message is on
# line 1; an edge's endpoints are valid nodes given before it unless the case is about them.
CASES: dict[str, tuple[dict[str, Any] | str, str]] = {
    "unknown type": (
        {"type": "Widget", "id": "W-1"},
        "field 'type': unknown type 'Widget'; expected an entity type "
        f"({ENTITY_TYPES}) or a relationship type ({REL_TYPES})",
    ),
    "type in the wrong case": (
        {"type": "supplier", "id": "S-1", "name": "Acme"},
        "field 'type': unknown type 'supplier'; expected an entity type "
        f"({ENTITY_TYPES}) or a relationship type ({REL_TYPES})",
    ),
    "missing type": (
        {"id": "S-1", "name": "Acme"},
        "field 'type': required (an entity or relationship type)",
    ),
    "unknown field on a node": (
        {**SUPPLIER, "colour": "red"},
        "field 'colour': unknown field",
    ),
    "unknown field on an edge": (
        {"type": "SUPPLIED", "from": "Supplier:S-1", "to": "MaterialLot:L-1", "weight": 3},
        "field 'weight': unknown field",
    ),
    "missing required field": (
        {"type": "Supplier", "id": "S-1"},
        "field 'name': required",
    ),
    "missing id": (
        {"type": "Supplier", "name": "Acme"},
        "field 'id': required",
    ),
    "missing required edge field": (
        {"type": "PROCESSED", "from": "Equipment:EQ-1", "to": "Batch:B-1"},
        "field 'at': required",
    ),
    "edge without from": (
        {"type": "SUPPLIED", "to": "MaterialLot:L-1"},
        "field 'from': required",
    ),
    "empty required field": (
        {"type": "Supplier", "id": "S-1", "name": ""},
        "field 'name': required",
    ),
    "blank required field": (
        {"type": "Supplier", "id": "S-1", "name": "   "},
        "field 'name': required",
    ),
    "text field given a boolean": (
        {"type": "Supplier", "id": "S-1", "name": True},
        "field 'name': not text: True",
    ),
    "bad Supplier status": (
        {**SUPPLIER, "status": "preferred"},
        "field 'status': not one of 'approved', 'conditional' or 'blocked'",
    ),
    "bad Batch status": (
        {**BATCH, "status": "done"},
        "field 'status': not one of 'in_process', 'released', 'quarantined' or 'rejected'",
    ),
    "bad Complaint severity": (
        {"type": "Complaint", "id": "C-1", "reported_at": "2026-02-01", "severity": "high"},
        "field 'severity': not one of 'death', 'serious_injury', 'malfunction' or 'other'",
    ),
    "bad Inspection result": (
        {
            "type": "Inspection",
            "id": "I-1",
            "kind": "final",
            "performed_at": "2026-01-08",
            "result": "ok",
        },
        "field 'result': not one of 'pass' or 'fail'",
    ),
    "several problems in one record": (
        {"type": "Inspection", "id": "I-1", "kind": "visual", "result": "ok"},
        "field 'kind': not one of 'incoming', 'in_process' or 'final'; "
        "field 'performed_at': required; field 'result': not one of 'pass' or 'fail'",
    ),
    "bad date-time": (
        {**BATCH, "started_at": "yesterday"},
        "field 'started_at': not an ISO 8601 date or date-time: 'yesterday'",
    ),
    "impossible date-time": (
        {**BATCH, "started_at": "2026-02-30T10:00"},
        "field 'started_at': not an ISO 8601 date or date-time: '2026-02-30T10:00'",
    ),
    "date-time given as a number": (
        {**LOT, "received_at": 20260105},
        "field 'received_at': not an ISO 8601 date or date-time: 20260105",
    ),
    "bad date-time on an edge": (
        {"type": "PROCESSED", "from": "Equipment:EQ-1", "to": "Batch:B-1", "at": "noon"},
        "field 'at': not an ISO 8601 date or date-time: 'noon'",
    ),
    "bad date": (
        {
            "type": "Certificate",
            "id": "CERT-1",
            "kind": "ISO 13485",
            "valid_from": "2025-01-01",
            "valid_to": "2026-13-01",
        },
        "field 'valid_to': not a date (YYYY-MM-DD): '2026-13-01'",
    ),
    "date-time where a date is required": (
        {
            "type": "Certificate",
            "id": "CERT-1",
            "kind": "ISO 13485",
            "valid_from": "2025-01-01T00:00:00Z",
            "valid_to": "2026-12-31",
        },
        "field 'valid_from': not a date (YYYY-MM-DD): '2025-01-01T00:00:00Z'",
    ),
    "number field with text": (
        {**LOT, "quantity": "many"},
        "field 'quantity': not a number: 'many'",
    ),
    "attributes not an object": (
        {**DEVICE, "attributes": "fw=1.2"},
        "field 'attributes': not a JSON object: 'fw=1.2'",
    ),
    "attributes as an array": (
        {**DEVICE, "attributes": ["fw", "1.2"]},
        "field 'attributes': not a JSON object: ['fw', '1.2']",
    ),
    "edge key without a colon": (
        {"type": "PRODUCED", "from": "Batch", "to": "Device:D-1"},
        "field 'from': 'Batch': not a key; write Type:id, e.g. MaterialLot:L-42",
    ),
    "edge key without an id": (
        {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:"},
        "field 'to': 'Device:': not a key; write Type:id, e.g. MaterialLot:L-42",
    ),
    "edge key of an unknown type": (
        {"type": "SUPPLIED", "from": "Vendor:S-1", "to": "MaterialLot:L-1"},
        f"field 'from': 'Vendor:S-1': unknown type 'Vendor'; one of {ENTITY_TYPES}",
    ),
    "edge endpoint types not allowed": (
        {"type": "PRODUCED", "from": "MaterialLot:L-1", "to": "Device:D-1"},
        "PRODUCED cannot go from MaterialLot to Device; allowed: Batch → Device",
    ),
    "edge endpoint types not allowed, several allowed": (
        {"type": "CONSUMED_IN", "from": "Supplier:S-1", "to": "Batch:B-1"},
        "CONSUMED_IN cannot go from Supplier to Batch; allowed: Batch → Batch, MaterialLot → Batch",
    ),
    "edge to a node that exists nowhere": (
        {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-404"},
        "field 'to': Device:D-404 exists neither in the store nor in this import",
    ),
    "edge from a node that exists nowhere": (
        {"type": "PRODUCED", "from": "Batch:B-404", "to": "Device:D-1"},
        "field 'from': Batch:B-404 exists neither in the store nor in this import",
    ),
    "invalid JSON": (
        '{"type": "Supplier", "id": "S-1",',
        "not valid JSON (unexpected end of data, column 34)",
    ),
    "JSON with single quotes": (
        "{'type': 'Supplier', 'id': 'S-1', 'name': 'Acme'}",
        "not valid JSON (unexpected character, expected a string key, column 2)",
    ),
    "JSON with a trailing comma": (
        '{"type": "Supplier", "id": "S-1", "name": "Acme",}',
        "not valid JSON (trailing comma is not allowed, column 49)",
    ),
    "JSON array": (
        '[{"type": "Supplier", "id": "S-1", "name": "Acme"}]',
        "a record must be a JSON object",
    ),
    "JSON scalar": ("42", "a record must be a JSON object"),
}


@pytest.mark.parametrize(("record", "message"), list(CASES.values()), ids=list(CASES))
def test_each_kind_of_bad_record_is_reported_with_its_line(
    embedded_store: EmbeddedStore, record: dict[str, Any] | str, message: str
) -> None:
    # The endpoints every edge case may name exist in the store already (except D-404, B-404).
    base = [*GOOD[:4], {"type": "Equipment", "id": "EQ-1", "name": "Oven"}]
    import_records(embedded_store, read_jsonl("seed.jsonl", [line(r) for r in base]), REQ)
    error = refused(embedded_store, [record])
    assert error.details == [f"data.jsonl:1: {message}"]
    assert error.message == f"data.jsonl:1: {message} — import refused, nothing written (1 problem)"
    assert len(embedded_store.audit_entries()) == 1  # only the seed import


def test_at_least_eighteen_kinds_of_bad_record_are_covered() -> None:
    assert len(CASES) >= 18


# --------------------------------------------------------------------------- many problems


def test_every_problem_of_an_import_is_reported_in_file_order(
    embedded_store: EmbeddedStore,
) -> None:
    records: list[dict[str, Any] | str] = [
        SUPPLIER,  # 1
        {"type": "Widget", "id": "W-1"},  # 2
        LOT,  # 3
        {**BATCH, "status": "done"},  # 4
        "Supplier,S-1,Acme",  # 5: a CSV line in a JSONL file
        {"type": "Supplier", "id": "S-2"},  # 6
        {"type": "PRODUCED", "from": "MaterialLot:L-1", "to": "Device:D-1"},  # 7
        DEVICE,  # 8
        {**LOT, "id": "L-2", "quantity": "many"},  # 9
    ]
    error = refused(embedded_store, records)
    assert [d.split(": ", 1)[0] for d in error.details] == [
        "data.jsonl:2",
        "data.jsonl:4",
        "data.jsonl:5",
        "data.jsonl:6",
        "data.jsonl:7",
        "data.jsonl:9",
    ]
    assert error.details[1:5] == [
        "data.jsonl:4: field 'status': not one of 'in_process', 'released', 'quarantined' or "
        "'rejected'",
        "data.jsonl:5: not valid JSON (unexpected character, expected a JSON value, column 1)",
        "data.jsonl:6: field 'name': required",
        "data.jsonl:7: PRODUCED cannot go from MaterialLot to Device; allowed: Batch → Device",
    ]
    assert error.message == (
        f"{error.details[0]} (and 5 more) — import refused, nothing written (6 problems)"
    )
    assert embedded_store.existing(GOOD_KEYS) == set()


def test_missing_endpoint_errors_are_in_file_order_with_the_others(
    embedded_store: EmbeddedStore,
) -> None:
    records: list[dict[str, Any] | str] = [
        {"type": "PRODUCED", "from": "Batch:B-9", "to": "Device:D-9"},  # 1: both ends missing
        {"type": "Supplier", "id": "S-1"},  # 2: no name
    ]
    assert refused(embedded_store, records).details == [
        "data.jsonl:1: field 'from': Batch:B-9 exists neither in the store nor in this import",
        "data.jsonl:1: field 'to': Device:D-9 exists neither in the store nor in this import",
        "data.jsonl:2: field 'name': required",
    ]


def test_both_missing_ends_of_an_edge_are_reported(embedded_store: EmbeddedStore) -> None:
    error = refused(embedded_store, [{"type": "PRODUCED", "from": "Batch:B-9", "to": "Device:D-9"}])
    assert error.details == [
        "data.jsonl:1: field 'from': Batch:B-9 exists neither in the store nor in this import",
        "data.jsonl:1: field 'to': Device:D-9 exists neither in the store nor in this import",
    ]


def test_blank_lines_are_skipped_but_line_numbers_stay_true(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    body = [
        orjson.dumps(SUPPLIER).decode(),  # 1
        "",  # 2
        "   ",  # 3
        orjson.dumps({"type": "Supplier", "id": "S-2"}).decode(),  # 4
        "\t",  # 5
        "",  # 6
        orjson.dumps({**BATCH, "started_at": "soon"}).decode(),  # 7
    ]
    path.write_text("\r\n".join(body) + "\r\n", encoding="utf-8")  # CRLF, as from Windows
    store = EmbeddedStore(tmp_path / "store.tgdb")
    with pytest.raises(InvalidImport) as info:
        import_paths(store, [path], REQ)
    assert info.value.details == [
        f"{path}:4: field 'name': required",
        f"{path}:7: field 'started_at': not an ISO 8601 date or date-time: 'soon'",
    ]
    # Blank lines are not records: the same file without its bad lines imports one record.
    path.write_text("\n\n" + orjson.dumps(SUPPLIER).decode() + "\n\n", encoding="utf-8")
    assert import_paths(store, [path], REQ).records == 1


def test_a_file_of_only_blank_lines_holds_no_records(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"blank.jsonl: holds no records$") as info:
        import_paths(EmbeddedStore(tmp_path / "store.tgdb"), [path], REQ)
    assert not isinstance(info.value, InvalidImport)


def test_the_error_list_is_capped(embedded_store: EmbeddedStore) -> None:
    cap = importer.MAX_ERRORS
    records: list[dict[str, Any] | str] = [
        {"type": "Supplier", "id": f"S-{n}"} for n in range(1, cap + 6)
    ]
    error = refused(embedded_store, records)
    assert len(error.details) == cap + 1
    assert error.details[0] == "data.jsonl:1: field 'name': required"
    assert error.details[cap - 1] == f"data.jsonl:{cap}: field 'name': required"
    assert error.details[-1] == "... and 5 more problems"
    assert error.message == (
        f"data.jsonl:1: field 'name': required (and {cap + 4} more) — import refused, "
        f"nothing written ({cap + 5} problems)"
    )


def test_exactly_the_cap_is_listed_without_a_tail(embedded_store: EmbeddedStore) -> None:
    cap = importer.MAX_ERRORS
    records: list[dict[str, Any] | str] = [
        {"type": "Supplier", "id": f"S-{n}"} for n in range(1, cap + 1)
    ]
    error = refused(embedded_store, records)
    assert len(error.details) == cap
    assert error.details[-1] == f"data.jsonl:{cap}: field 'name': required"


# --------------------------------------------------------------------------- nothing written


BAD_AMONG_GOOD: dict[str, tuple[int, dict[str, Any]]] = {
    # (line the bad record is put on, the record)
    "bad node": (3, {**BATCH, "id": "B-2", "started_at": "yesterday"}),
    "bad edge": (6, {"type": "PRODUCED", "from": "MaterialLot:L-1", "to": "Device:D-1"}),
    "edge to nowhere": (8, {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-404"}),
}


@pytest.mark.parametrize(("at", "bad"), list(BAD_AMONG_GOOD.values()), ids=list(BAD_AMONG_GOOD))
def test_one_bad_record_among_good_ones_writes_nothing(
    store: GraphStore, at: int, bad: dict[str, Any]
) -> None:
    records: list[dict[str, Any] | str] = [*GOOD]
    records.insert(at - 1, bad)
    error = refused(store, records)
    assert len(error.details) == 1
    assert error.details[0].startswith(f"data.jsonl:{at}: ")
    assert store.existing(GOOD_KEYS) == set()
    assert store.edges(GOOD_KEYS, GENEALOGY, None) == []
    assert store.audit_entries() == []
    # The same records without the bad one are then imported whole.
    good: list[dict[str, Any] | str] = [*GOOD]
    report = import_records(store, read_jsonl("data.jsonl", [line(r) for r in good]), REQ)
    assert report.summary.created == len(GOOD)
    assert store.existing(GOOD_KEYS) == set(GOOD_KEYS)


def test_an_edge_may_reach_a_node_already_in_the_store(store: GraphStore) -> None:
    import_records(store, read_jsonl("nodes.jsonl", [line(r) for r in GOOD[:4]]), REQ)
    report = import_records(store, read_jsonl("edges.jsonl", [line(r) for r in GOOD[4:]]), REQ)
    assert report.summary.created == 3
    assert [(e.type, e.src, e.dst) for e in store.edges(GOOD_KEYS, GENEALOGY, None)] == [
        ("PRODUCED", "Batch:B-1", "Device:D-1"),
        ("CONSUMED_IN", "MaterialLot:L-1", "Batch:B-1"),
        ("SUPPLIED", "Supplier:S-1", "MaterialLot:L-1"),
    ]


# --------------------------------------------------------------------------- paths and CSV


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_missing_path_is_bad_input(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store.tgdb")
    good = tmp_path / "good.jsonl"
    good.write_bytes(line(SUPPLIER) + b"\n")
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(BadInput) as info:
        import_paths(store, [good, missing], REQ)
    assert not isinstance(info.value, InvalidImport)
    assert info.value.message == f"{missing}: no such file or folder"
    assert store.existing(["Supplier:S-1"]) == set()


def test_a_folder_without_csv_files_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("not data", encoding="utf-8")
    with pytest.raises(InvalidImport) as info:
        import_paths(EmbeddedStore(tmp_path / "store.tgdb"), [folder], REQ)
    assert info.value.details == [f"{folder}: folder holds no <Type>.csv files"]


def test_csv_problems_are_reported_with_csv_line_numbers(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    vendor = write_csv(folder / "Vendor.csv", ["id", "name"], [["V-1", "Acme"]])
    supplier = write_csv(
        folder / "Supplier.csv",
        ["id", "name", "status"],
        [["S-1", "Acme", "approved"], ["S-2", "Beta"], ["S-3", "Gamma", "bogus"]],
    )
    # A blank row in the middle is skipped, but still counts as a line.
    with open(supplier, "a", encoding="utf-8") as handle:
        handle.write("\nS-4,,approved\n")
    lots = write_csv(
        folder / "MaterialLot.csv", ["type", "id", "received_at"], [["MaterialLot", "L-1", "x"]]
    )
    supplied = write_csv(
        folder / "SUPPLIED.csv",
        ["from", "to"],
        [["Supplier:S-1", "MaterialLot"], ["Supplier:S-1", "MaterialLot:L-9"]],
    )
    with pytest.raises(InvalidImport) as info:
        import_paths(EmbeddedStore(tmp_path / "store.tgdb"), [folder], REQ)
    assert info.value.details == [
        # Entity files first, by name; then relationship files.
        f"{lots}:1: header: 'type' comes from the file name, not a column",
        f"{supplier}:3: 2 cells but the header names 3",
        f"{supplier}:4: field 'status': not one of 'approved', 'conditional' or 'blocked'",
        f"{supplier}:6: field 'name': required",
        f"{vendor}:1: file name: 'Vendor' is not an entity or relationship type "
        "(a CSV file is named <Type>.csv)",
        f"{supplied}:2: field 'to': 'MaterialLot': not a key; write Type:id, e.g. MaterialLot:L-42",
        f"{supplied}:3: field 'to': MaterialLot:L-9 exists neither in the store nor in this import",
    ]


def test_a_csv_folder_imports_end_to_end(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    write_csv(
        folder / "Supplier.csv",
        ["id", "name", "status", "country"],
        [["S-1", "Acme", "approved", "DE"], ["S-2", "Beta", "", ""]],
    )
    write_csv(
        folder / "MaterialLot.csv",
        ["id", "received_at", "quantity", "attributes"],
        [
            ["L-1", "2026-01-05", "100", '{"po": "PO-7"}'],
            ["L-2", "2026-01-06T12:00:00+02:00", "", ""],
        ],
    )
    write_csv(
        folder / "SUPPLIED.csv",
        ["from", "to", "source"],
        [["Supplier:S-1", "MaterialLot:L-1", "ERP"], ["Supplier:S-2", "MaterialLot:L-2", ""]],
    )
    store = EmbeddedStore(tmp_path / "store.tgdb")
    report = import_paths(store, [folder], REQ)
    assert (report.records, report.nodes, report.edges) == (6, 4, 2)
    assert report.summary.created == 6
    keys = ["Supplier:S-1", "Supplier:S-2", "MaterialLot:L-1", "MaterialLot:L-2"]
    nodes = store.nodes(keys)
    assert set(nodes) == set(keys)
    assert nodes["Supplier:S-1"].props == {"name": "Acme", "status": "approved", "country": "DE"}
    assert nodes["Supplier:S-2"].props == {"name": "Beta"}  # empty cells are absent fields
    assert nodes["MaterialLot:L-1"].as_json() == {
        "key": "MaterialLot:L-1",
        "type": "MaterialLot",
        "id": "L-1",
        "attributes": {"po": "PO-7"},
        "quantity": 100.0,
        "received_at": "2026-01-05T00:00:00Z",
    }
    assert nodes["MaterialLot:L-2"].as_json()["received_at"] == "2026-01-06T10:00:00Z"
    edges = store.edges(keys, GENEALOGY, None)
    assert [e.as_json() for e in edges] == [
        {"type": "SUPPLIED", "from": "Supplier:S-1", "to": "MaterialLot:L-1", "source": "ERP"},
        {"type": "SUPPLIED", "from": "Supplier:S-2", "to": "MaterialLot:L-2"},
    ]
    # Importing the folder again changes nothing.
    again = import_paths(store, [folder], REQ).summary
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)


def test_a_single_csv_file_with_a_byte_order_mark_imports(tmp_path: Path) -> None:
    path = tmp_path / "Supplier.csv"
    path.write_bytes("\ufeffid,name\nS-1,Acme\n".encode())  # as Excel saves "CSV UTF-8"
    store = EmbeddedStore(tmp_path / "store.tgdb")
    assert import_paths(store, [path], REQ).summary.created == 1
    assert store.nodes(["Supplier:S-1"])["Supplier:S-1"].props == {"name": "Acme"}


SAME_DATA: list[dict[str, Any]] = [
    {"type": "Supplier", "id": "S-1", "name": "Acme", "status": "approved", "country": "DE"},
    {
        "type": "Certificate",
        "id": "CERT-1",
        "kind": "ISO 13485",
        "valid_from": "2025-01-01",
        "valid_to": "2026-12-31",
    },
    {
        "type": "MaterialLot",
        "id": "L-1",
        "received_at": "2026-01-05",
        "quantity": 100,
        "attributes": {"po": "PO-7", "lines": [1, 2]},
    },
    {"type": "MaterialLot", "id": "L-2", "received_at": "2026-01-06T12:00:00+02:00"},
    {"type": "Batch", "id": "B-1", "started_at": "2026-01-07T08:00", "status": "released"},
    {"type": "Equipment", "id": "EQ-1", "name": "Reflow oven", "source": "CMMS"},
    {"type": "CERTIFIES", "from": "Certificate:CERT-1", "to": "Supplier:S-1"},
    {"type": "SUPPLIED", "from": "Supplier:S-1", "to": "MaterialLot:L-1"},
    {"type": "CONSUMED_IN", "from": "MaterialLot:L-1", "to": "Batch:B-1", "quantity": 2.5},
    {"type": "CONSUMED_IN", "from": "MaterialLot:L-2", "to": "Batch:B-1", "at": "2026-01-07"},
    {"type": "PROCESSED", "from": "Equipment:EQ-1", "to": "Batch:B-1", "at": "2026-01-07T09:00Z"},
]


def as_csv_folder(records: list[dict[str, Any]], folder: Path) -> None:
    """Write records as one <Type>.csv per type (edges: header from,to,...)."""
    folder.mkdir()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_type.setdefault(record["type"], []).append(record)
    for type_name, group in by_type.items():
        fields: list[str] = []
        for record in group:
            fields += [f for f in record if f != "type" and f not in fields]
        if "from" in fields:
            fields = ["from", "to", *(f for f in fields if f not in ("from", "to"))]

        def cell(value: Any) -> str:
            if value is None:
                return ""
            return orjson.dumps(value).decode() if isinstance(value, dict) else str(value)

        write_csv(
            folder / f"{type_name}.csv", fields, [[cell(r.get(f)) for f in fields] for r in group]
        )


def test_the_same_data_as_jsonl_and_as_csv_is_stored_the_same(tmp_path: Path) -> None:
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_bytes(b"\n".join(line(r) for r in SAME_DATA) + b"\n")
    folder = tmp_path / "csv"
    as_csv_folder(SAME_DATA, folder)
    from_jsonl = EmbeddedStore(tmp_path / "jsonl.tgdb")
    from_csv = EmbeddedStore(tmp_path / "csv.tgdb")
    import_paths(from_jsonl, [jsonl], REQ)
    import_paths(from_csv, [folder], REQ)

    keys = [f"{t}:{r['id']}" for r in SAME_DATA if (t := r["type"]) in EntityType.__members__]
    a, b = from_jsonl.nodes(keys), from_csv.nodes(keys)
    assert set(a) == set(b) == set(keys)
    for key in keys:
        assert (key, a[key].props) == (key, b[key].props)
    every_rel = [*GENEALOGY, *EVIDENCE]
    assert from_jsonl.edges(keys, every_rel, None) == from_csv.edges(keys, every_rel, None)
    assert len(from_csv.edges(keys, every_rel, None)) == 5
