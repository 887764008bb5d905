"""What one record may hold (docs/import-format.md, "Limits"), and the import's edges: an id is
at most 200 characters with no control character, text at most 10,000 characters, an
`attributes` object at most 8 levels deep and 64 KiB as JSON. Every path a record can take
refuses the same records with the same message (the msgspec path from JSON text and the dict
path decline them to pydantic), and what passes can be written and read back by both stores.

Also: a JSON Lines file may start with a byte order mark, as a CSV file may; a CSV cell over
the csv module's limit is a `file:line` problem; with Neo4j down, a command says so at once,
in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from cli.main import app as cli_app
from tests.support.neo4j_server import free_port
from tracegraph import model
from tracegraph.errors import InvalidImport
from tracegraph.importer import import_paths, import_records, read_jsonl
from tracegraph.model import (
    MAX_ID,
    MAX_OBJECT_BYTES,
    MAX_OBJECT_DEPTH,
    MAX_TEXT,
    RecordError,
    parse_record,
)
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore

REQ = WriteRequest(actor="test", operation="import", source="MES", reason="limits test")
TRACEGRAPH = str(Path(sys.executable).parent / "tracegraph")


def nested(depth: int) -> dict[str, Any]:
    """An object ``depth`` levels deep (the object itself is level 1)."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def sized(size: int) -> dict[str, Any]:
    """An object exactly ``size`` bytes long as compact JSON."""
    value = {"x": ""}
    value["x"] = "y" * (size - len(orjson.dumps(value)))
    assert len(orjson.dumps(value)) == size
    return value


def supplier(**fields: Any) -> dict[str, Any]:
    return {"type": "Supplier", "id": "S-1", "name": "Acme", **fields}


def every_path(record: dict[str, Any]) -> Any:
    """What each way of reading the record makes of it: the same for all, or the test fails.
    An error is its message; a record, its key and fields."""
    line = json.dumps(record).encode()  # (orjson writes at most 255 levels)

    def outcome(parse: Any) -> Any:
        try:
            item = parse()
        except RecordError as exc:
            return ("error", str(exc))
        return ("ok", getattr(item, "key", None) or item.ident, item.props)

    (fast_json,), _ = model._fast_json_lines([line])
    fast_dict = model._fast_record(record)
    answers = [
        outcome(lambda: model._validate_record(record)),
        outcome(lambda: parse_record(orjson.loads(line))),
    ]
    for fast in (fast_json, fast_dict):
        if fast is not None:  # the fast paths only ever accept: pydantic must agree
            answers.append(outcome(lambda f=fast: f))
    assert all(answer == answers[0] for answer in answers), answers
    return answers[0]


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    ("ident", "problem"),
    [
        ("a\x00b", "an id may not hold a control character (U+0000)"),
        ("L-\x07", "an id may not hold a control character (U+0007)"),
        ("L\t1", "an id may not hold a control character (U+0009)"),
        ("L\n1", "an id may not hold a control character (U+000A)"),
        ("L\x7f1", "an id may not hold a control character (U+007F)"),
        ("L\x851", "an id may not hold a control character (U+0085)"),
        ("x" * (MAX_ID + 1), f"an id is at most {MAX_ID} characters ({MAX_ID + 1})"),
    ],
)
def test_ids_that_could_not_be_typed_are_refused_on_every_path(ident: str, problem: str) -> None:
    assert every_path(supplier(id=ident)) == ("error", f"field 'id': {problem}")
    edge = {"type": "SUPPLIED", "from": f"Supplier:{ident}", "to": "MaterialLot:L-1"}
    assert every_path(edge) == ("error", f"field 'from': {problem}")
    edge = {"type": "SUPPLIED", "from": "Supplier:S-1", "to": f"MaterialLot:{ident}"}
    assert every_path(edge) == ("error", f"field 'to': {problem}")


@pytest.mark.parametrize("ident", ["x" * MAX_ID, "B 1", "Ünïcødé-\u00a0-42", " padded "])
def test_ids_within_the_limits_are_kept(ident: str) -> None:
    assert every_path(supplier(id=ident)) == ("ok", f"Supplier:{ident.strip()}", {"name": "Acme"})
    edge = {"type": "SUPPLIED", "from": f"Supplier:{ident}", "to": "MaterialLot:L-1"}
    assert every_path(edge)[0] == "ok"


def test_a_bad_id_is_refused_with_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    lines = [supplier(id="S-1"), supplier(id="S-\x002"), {"type": "Supplier", "id": "S-3"}]
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in lines) + b"\n")
    result = CliRunner().invoke(cli_app, ["import", str(path), "--db", str(tmp_path / "s.tgdb")])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"tracegraph: {path}:2: field 'id': an id may not hold a control character (U+0000) "
        "(and 1 more) — import refused, nothing written (2 problems)",
        f"  {path}:3: field 'name': required",
    ]


# --------------------------------------------------------------------------- text


def test_text_over_the_limit_is_refused_on_every_path() -> None:
    assert every_path(supplier(name="n" * MAX_TEXT))[0] == "ok"
    assert every_path(supplier(name=f"  {'n' * MAX_TEXT}  "))[0] == "ok"  # as stripped
    assert every_path(supplier(name="n" * (MAX_TEXT + 1))) == (
        "error",
        f"field 'name': longer than {MAX_TEXT:,} characters ({MAX_TEXT + 1:,})",
    )
    assert every_path(supplier(country="c" * (MAX_TEXT + 1)))[0] == "error"


def test_a_huge_value_is_not_quoted_whole_in_its_message() -> None:
    outcome = every_path({"type": "Batch", "id": "B-1", "started_at": "9" * 1_000_000})
    assert outcome[0] == "error"
    assert outcome[1].startswith("field 'started_at': not an ISO 8601 date or date-time: '999")
    assert len(outcome[1]) < 200


def test_a_megabyte_supplier_name_is_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "suppliers.jsonl"
    path.write_bytes(orjson.dumps(supplier(name="N" * 1_000_000)) + b"\n")
    result = CliRunner().invoke(cli_app, ["import", str(path), "--db", str(tmp_path / "s.tgdb")])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"tracegraph: {path}:1: field 'name': longer than 10,000 characters (1,000,000) — "
        "import refused, nothing written (1 problem)\n"
    )


# --------------------------------------------------------------------------- attributes


def test_attributes_are_held_to_a_depth_and_a_size_on_every_path() -> None:
    assert every_path(supplier(attributes=nested(MAX_OBJECT_DEPTH)))[0] == "ok"
    assert every_path(supplier(attributes={"a": [[[[[{"b": []}]]]]]}))[0] == "ok"  # 8 levels
    deep = f"field 'attributes': nested deeper than {MAX_OBJECT_DEPTH} levels"
    assert every_path(supplier(attributes=nested(MAX_OBJECT_DEPTH + 1))) == ("error", deep)
    assert every_path(supplier(attributes={"a": [[[[[[[[1]]]]]]]]})) == ("error", deep)
    assert every_path(supplier(attributes=nested(300))) == ("error", deep)
    assert every_path(supplier(attributes=sized(MAX_OBJECT_BYTES)))[0] == "ok"
    assert every_path(supplier(attributes=sized(MAX_OBJECT_BYTES + 1))) == (
        "error",
        f"field 'attributes': larger than 65,536 bytes as JSON ({MAX_OBJECT_BYTES + 1:,})",
    )


def test_attributes_at_the_limits_are_written_and_read_back(store: GraphStore) -> None:
    records = [
        supplier(id="S-DEEP", attributes=nested(MAX_OBJECT_DEPTH)),
        supplier(id="S-BIG", attributes=sized(MAX_OBJECT_BYTES)),
    ]
    import_records(store, read_jsonl("data.jsonl", [orjson.dumps(r) for r in records]), REQ)
    found = store.nodes(["Supplier:S-DEEP", "Supplier:S-BIG"])
    assert found["Supplier:S-DEEP"].props["attributes"] == nested(MAX_OBJECT_DEPTH)
    assert found["Supplier:S-BIG"].props["attributes"] == sized(MAX_OBJECT_BYTES)


def test_deep_attributes_are_refused_before_any_write(store: GraphStore) -> None:
    """300 levels used to pass validation and fail in the store's JSON writer."""
    records = [supplier(id="S-OK"), supplier(id="S-DEEP", attributes=nested(300))]
    lines = [json.dumps(r).encode() for r in records]  # (orjson writes at most 255 levels)
    with pytest.raises(InvalidImport) as info:
        import_records(store, read_jsonl("data.jsonl", lines), REQ)
    assert info.value.details == ["data.jsonl:2: field 'attributes': nested deeper than 8 levels"]
    assert store.nodes(["Supplier:S-OK"]) == {}


def test_an_instant_outside_the_utc_years_is_bad_input_not_a_crash() -> None:
    assert every_path(
        {"type": "Batch", "id": "B-1", "started_at": "0001-01-01T00:00:00+01:00"}
    ) == (
        "error",
        "field 'started_at': outside the years 1 to 9999 in UTC: '0001-01-01T00:00:00+01:00'",
    )


# --------------------------------------------------------------------------- files


def test_a_jsonl_file_with_a_byte_order_mark_imports_as_a_csv_file_does(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + orjson.dumps(supplier()) + b"\n")  # as Notepad saves it
    store = EmbeddedStore(tmp_path / "store.tgdb")
    assert import_paths(store, [path], REQ).summary.created == 1
    assert store.nodes(["Supplier:S-1"])["Supplier:S-1"].props == {"name": "Acme"}


def test_a_byte_order_mark_is_only_taken_at_the_start_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    first, second = orjson.dumps(supplier()), orjson.dumps(supplier(id="S-2"))
    path.write_bytes(first + b"\n\xef\xbb\xbf" + second + b"\n")
    with pytest.raises(InvalidImport) as info:
        import_paths(EmbeddedStore(tmp_path / "store.tgdb"), [path], REQ)
    assert info.value.details == [
        f"{path}:2: not valid JSON (UTF-8 byte order mark (BOM) is not supported, column 1)"
    ]


def test_an_empty_jsonl_file_still_holds_no_records(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(Exception, match="holds no records"):
        import_paths(EmbeddedStore(tmp_path / "store.tgdb"), [path], REQ)


def test_a_csv_cell_over_the_csv_limit_is_a_problem_with_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "Supplier.csv").write_text(f"id,name\nS-1,Acme\nS-2,{'x' * 200_000}\n")
    result = CliRunner().invoke(cli_app, ["import", str(folder), "--db", str(tmp_path / "s.tgdb")])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"tracegraph: {folder / 'Supplier.csv'}:3: not readable as CSV: field larger than "
        "field limit (131072) — import refused, nothing written (1 problem)\n"
    )


# --------------------------------------------------------------------------- Neo4j down


@pytest.mark.parametrize("scheme", ["bolt", "neo4j"])
def test_a_command_on_a_neo4j_that_is_down_says_so_at_once_in_one_line(
    tmp_path: Path, scheme: str
) -> None:
    uri = f"{scheme}://127.0.0.1:{free_port()}"  # nothing listens there
    env = {**os.environ, "NEO4J_PASSWORD": "secret-pw", "TRACEGRAPH_NEO4J_RETRY_SECONDS": "30"}
    started = time.monotonic()
    run = subprocess.run(
        [TRACEGRAPH, "trace", "Device:D-1", "--db", uri],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    waited = time.monotonic() - started
    assert run.returncode == 1
    # no retry warnings of the driver, no traceback: the one sentence
    assert run.stderr.splitlines() == [
        f"tracegraph: Neo4j at {uri} is not reachable ("
        + ("connection refused" if scheme == "bolt" else "it does not answer")
        + "): is the server running, and is --db / TRACEGRAPH_DB its address?"
    ]
    assert run.stdout == ""
    assert waited < 15, "the command waited out the query retries (30 s)"
