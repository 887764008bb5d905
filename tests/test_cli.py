"""The `tracegraph` command line (§5 of the contract), driven through Click's test runner.

Every test uses its own embedded store under tmp_path (``--db``), so nothing touches the
working directory. Typer's runner (on its own vendored Click) keeps stderr apart from stdout in
``Result``: ``stdout`` and ``stderr`` are checked separately.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner, Result

from cli.main import app
from tracegraph import __version__
from tracegraph.model import EntityType, RelType
from tracegraph.store.embedded import EmbeddedStore

RECORDS: list[dict[str, Any]] = [
    {"type": "Supplier", "id": "S-1", "name": "Acme", "status": "approved"},
    {"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-05", "quantity": 100},
    {"type": "MaterialLot", "id": "L-2", "received_at": "2026-01-06"},
    {"type": "Batch", "id": "B-1", "started_at": "2026-01-07", "status": "released"},
    {"type": "Device", "id": "D-1", "manufactured_at": "2026-01-09"},
    {"type": "Device", "id": "D-2", "manufactured_at": "2026-01-09"},
    {"type": "Shipment", "id": "SH-1", "shipped_at": "2026-01-10"},
    {"type": "SUPPLIED", "from": "Supplier:S-1", "to": "MaterialLot:L-1"},
    {"type": "SUPPLIED", "from": "Supplier:S-1", "to": "MaterialLot:L-2"},
    {"type": "CONSUMED_IN", "from": "MaterialLot:L-1", "to": "Batch:B-1", "quantity": 20},
    {"type": "CONSUMED_IN", "from": "MaterialLot:L-2", "to": "Batch:B-1"},
    {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-1"},
    {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-2"},
    {"type": "SHIPPED_IN", "from": "Device:D-1", "to": "Shipment:SH-1"},
]
NODE_KEYS = [f"{r['type']}:{r['id']}" for r in RECORDS if "id" in r]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(app, list(args), env=env)
    # A crash (not a deliberate exit) would otherwise only show as a wrong exit code.
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def flat(text: str) -> str:
    """Help text without Rich's box drawing and line wrapping, for phrase matching."""
    return " ".join(re.sub(r"[│╭╮╰╯─┃━]", " ", text).split())


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "cli.tgdb")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "data.jsonl", RECORDS)


@pytest.fixture
def loaded(db: str, data: Path) -> str:
    """The store, with RECORDS imported."""
    assert run("import", str(data), "--db", db, "--format", "json").exit_code == 0
    return db


def stored(db: str) -> EmbeddedStore:
    return EmbeddedStore(db)


# --------------------------------------------------------------------------- import


def test_import_prints_counts_and_exits_0(db: str, data: Path) -> None:
    result = run("import", str(data), "--db", db, "--format", "json")
    assert as_json(result) == {
        "records": 14,
        "nodes": 7,
        "edges": 7,
        "created": 14,
        "updated": 0,
        "unchanged": 0,
        "audit_seq": 1,
    }
    # Nothing on stderr but the line on what `tracegraph check` finds in the new records.
    assert re.fullmatch(
        r"(0 new data-quality findings \(tracegraph check\)"
        r"|[1-9][\d,]* new data-quality findings? \(tracegraph check\): .+)\n",
        result.stderr,
    )
    store = stored(db)
    assert store.existing(NODE_KEYS) == set(NODE_KEYS)
    assert len(store.audit_entries()) == 1


def test_importing_again_changes_nothing(loaded: str, data: Path) -> None:
    again = as_json(run("import", str(data), "--db", loaded, "--format", "json"))
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 14)
    assert again["audit_seq"] is None
    assert len(stored(loaded).audit_entries()) == 1


def test_importing_a_changed_value_updates_it(loaded: str, tmp_path: Path) -> None:
    changed = write_jsonl(
        tmp_path / "changed.jsonl",
        [{"type": "Batch", "id": "B-1", "started_at": "2026-01-07", "status": "quarantined"}],
    )
    out = as_json(run("import", str(changed), "--db", loaded, "--format", "json"))
    assert (out["created"], out["updated"], out["unchanged"]) == (0, 1, 0)
    batch = stored(loaded).nodes(["Batch:B-1"])["Batch:B-1"]
    assert batch.props["status"] == "quarantined"
    assert [v.props["status"] for v in batch.history] == ["released"]


def test_import_records_actor_reason_and_source_in_the_audit_trail(db: str, data: Path) -> None:
    result = run(
        "import",
        str(data),
        "--db",
        db,
        "--reason",
        "initial load",
        "--source",
        "MES",
        env={"TRACEGRAPH_ACTOR": "alice"},
    )
    assert result.exit_code == 0, result.stderr
    (entry,) = stored(db).audit_entries()
    assert (entry.actor, entry.operation, entry.reason, entry.source) == (
        "alice",
        "import",
        "initial load",
        "MES",
    )
    assert entry.created == 14


def test_import_as_csv_prints_a_header_and_one_row(db: str, data: Path) -> None:
    result = run("import", str(data), "--db", db, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout
        == "records,nodes,edges,created,updated,unchanged,audit_seq\n14,7,7,14,0,0,1\n"
    )


def test_a_bad_file_exits_2_lists_every_problem_and_writes_nothing(db: str, tmp_path: Path) -> None:
    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            RECORDS[0],
            {"type": "Supplier", "id": "S-2"},
            RECORDS[1],
            {"type": "Batch", "id": "B-1", "started_at": "yesterday"},
        ],
    )
    result = run("import", str(bad), "--db", db, "--format", "json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"tracegraph: {bad}:2: field 'name': required (and 1 more) — import refused, nothing "
        "written (2 problems)",
        f"  {bad}:4: field 'started_at': not an ISO 8601 date or date-time: 'yesterday'",
    ]
    store = stored(db)
    assert store.existing(NODE_KEYS) == set()
    assert store.audit_entries() == []


def test_a_single_bad_record_gives_a_single_line(db: str, tmp_path: Path) -> None:
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"type": "Widget", "id": "W-1"}])
    result = run("import", str(bad), "--db", db)
    assert result.exit_code == 2
    assert result.stdout == ""
    (only,) = result.stderr.splitlines()
    assert only.startswith(f"tracegraph: {bad}:1: field 'type': unknown type 'Widget'; ")
    assert only.endswith(" — import refused, nothing written (1 problem)")


def test_a_missing_file_exits_2_with_one_line(db: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = run("import", str(missing), "--db", db)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"tracegraph: {missing}: no such file or folder\n"


def test_import_of_a_csv_folder(db: str, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "Supplier.csv").write_text("id,name\nS-1,Acme\n", encoding="utf-8")
    (folder / "MaterialLot.csv").write_text("id,received_at\nL-1,2026-01-05\n", encoding="utf-8")
    (folder / "SUPPLIED.csv").write_text("from,to\nSupplier:S-1,MaterialLot:L-1\n", "utf-8")
    out = as_json(run("import", str(folder), "--db", db, "--format", "json"))
    assert (out["records"], out["nodes"], out["edges"], out["created"]) == (3, 2, 1, 3)
    down = as_json(run("trace", "Supplier:S-1", "--db", db, "--format", "json"))
    assert down["edges"] == [{"type": "SUPPLIED", "from": "Supplier:S-1", "to": "MaterialLot:L-1"}]


# --------------------------------------------------------------------------- trace


def test_trace_down_as_json(loaded: str) -> None:
    out = as_json(run("trace", "MaterialLot:L-1", "--down", "--db", loaded, "--format", "json"))
    assert out["start"] == "MaterialLot:L-1"
    assert [(n["key"], n["depth"]) for n in out["nodes"]] == [
        ("Batch:B-1", 1),
        ("Device:D-1", 2),
        ("Device:D-2", 2),
        ("MaterialLot:L-1", 0),
        ("Shipment:SH-1", 3),
    ]
    keys = [n["key"] for n in out["nodes"]]
    assert keys == sorted(keys)
    assert sorted((e["type"], e["from"], e["to"]) for e in out["edges"]) == [
        ("CONSUMED_IN", "MaterialLot:L-1", "Batch:B-1"),
        ("PRODUCED", "Batch:B-1", "Device:D-1"),
        ("PRODUCED", "Batch:B-1", "Device:D-2"),
        ("SHIPPED_IN", "Device:D-1", "Shipment:SH-1"),
    ]
    assert all(set(e) >= {"type", "from", "to"} for e in out["edges"])


def test_trace_defaults_to_down_and_to_json_when_piped(loaded: str) -> None:
    explicit = run("trace", "MaterialLot:L-1", "--down", "--db", loaded, "--format", "json")
    default = run("trace", "MaterialLot:L-1", "--db", loaded)
    assert default.exit_code == 0, default.stderr
    assert default.stdout == explicit.stdout


def test_trace_up(loaded: str) -> None:
    out = as_json(run("trace", "Device:D-1", "--up", "--db", loaded, "--format", "json"))
    assert [(n["key"], n["depth"]) for n in out["nodes"]] == [
        ("Batch:B-1", 1),
        ("Device:D-1", 0),
        ("MaterialLot:L-1", 2),
        ("MaterialLot:L-2", 2),
        ("Supplier:S-1", 3),
    ]
    assert len(out["edges"]) == 5
    # Edges keep their downstream direction in an upstream trace.
    assert {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-1"} in out["edges"]


def test_trace_depth_limits_the_hops(loaded: str) -> None:
    out = as_json(
        run("trace", "Supplier:S-1", "--down", "--depth", "1", "--db", loaded, "--format", "json")
    )
    assert [(n["key"], n["depth"]) for n in out["nodes"]] == [
        ("MaterialLot:L-1", 1),
        ("MaterialLot:L-2", 1),
        ("Supplier:S-1", 0),
    ]
    assert sorted(e["to"] for e in out["edges"]) == ["MaterialLot:L-1", "MaterialLot:L-2"]
    two = as_json(run("trace", "Supplier:S-1", "--depth", "2", "--db", loaded, "--format", "json"))
    assert max(n["depth"] for n in two["nodes"]) == 2


def test_trace_as_csv(loaded: str) -> None:
    result = run("trace", "Batch:B-1", "--down", "--db", loaded, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "key,type,depth",
        "Batch:B-1,Batch,0",
        "Device:D-1,Device,1",
        "Device:D-2,Device,1",
        "Shipment:SH-1,Shipment,2",
    ]


def test_trace_as_a_table(loaded: str) -> None:
    result = run("trace", "Batch:B-1", "--db", loaded, "--format", "table")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Downstream of Batch:B-1: 3 nodes, 3 edges\n")
    for key in ("Batch:B-1", "Device:D-1", "Device:D-2", "Shipment:SH-1"):
        assert key in result.stdout


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("Device:D-404", "Device:D-404: no such node in the store"),
        ("nocolon", "'nocolon': not a key; write Type:id, e.g. MaterialLot:L-42"),
        ("Device:", "'Device:': not a key; write Type:id, e.g. MaterialLot:L-42"),
    ],
    ids=["unknown key", "no colon", "no id"],
)
def test_trace_of_a_bad_key_exits_2_with_a_one_line_reason(
    loaded: str, key: str, reason: str
) -> None:
    result = run("trace", key, "--db", loaded, "--format", "json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"tracegraph: {reason}\n"


def test_trace_of_a_key_of_an_unknown_type_exits_2(loaded: str) -> None:
    result = run("trace", "Vendor:V-1", "--db", loaded)
    assert result.exit_code == 2
    assert result.stdout == ""
    (only,) = result.stderr.splitlines()
    assert only.startswith("tracegraph: 'Vendor:V-1': unknown type 'Vendor'; one of Supplier, ")


def test_trace_up_and_down_together_exits_2(loaded: str) -> None:
    result = run("trace", "Batch:B-1", "--up", "--down", "--db", loaded)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "give --up or --down, not both" in result.stderr


def test_trace_depth_below_1_exits_2(loaded: str) -> None:
    result = run("trace", "Batch:B-1", "--depth", "0", "--db", loaded)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--depth" in result.stderr


# --------------------------------------------------------------------------- store selection


def test_tracegraph_db_selects_the_store_when_db_is_not_given(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default store, if wrongly used, would land here
    monkeypatch.delenv("TRACEGRAPH_DB", raising=False)
    chosen = tmp_path / "from-env.tgdb"
    env = {"TRACEGRAPH_DB": str(chosen)}
    assert as_json(run("import", str(data), "--format", "json", env=env))["created"] == 14
    assert stored(str(chosen)).existing(["Device:D-1"]) == {"Device:D-1"}
    assert not (tmp_path / "tracegraph.tgdb").exists()
    # The env var is read by the query commands too ...
    out = as_json(run("trace", "Device:D-1", "--up", "--format", "json", env=env))
    assert out["counts"]["nodes"] == 5
    # ... and --db overrides it.
    other = run("trace", "Device:D-1", "--db", str(tmp_path / "other.tgdb"), env=env)
    assert other.exit_code == 2
    assert other.stderr.startswith(f"tracegraph: {tmp_path / 'other.tgdb'}: no TraceGraph store")
    assert not (tmp_path / "other.tgdb").exists()  # a read creates no store


# --------------------------------------------------------------------------- schema


def test_schema_prints_the_data_dictionary_as_markdown() -> None:
    result = run("schema")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.startswith("# Data dictionary\n")
    for etype in EntityType:
        assert f"\n### {etype}\n" in text
    for rtype in RelType:
        assert f"| `{rtype}` |" in text
    # Required fields are marked; enum values are listed.
    assert "| `received_at` | yes |" in text
    assert "one of in_process / released / quarantined / rejected" in text
    assert run("schema", "--format", "markdown").stdout == text


def test_schema_calls_certificate_validity_a_date() -> None:
    text = run("schema").stdout
    assert "| `valid_to` | yes | date (YYYY-MM-DD) |" in text


def test_schema_as_json_is_a_json_schema_with_one_of() -> None:
    result = run("schema", "--format", "json")
    assert result.exit_code == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    names = [*(str(t) for t in EntityType), *(str(r) for r in RelType)]
    assert schema["oneOf"] == [{"$ref": f"#/$defs/{name}"} for name in names]
    defs = schema["$defs"]
    for name in names:
        variant = defs[name]
        assert variant["type"] == "object"
        assert variant["additionalProperties"] is False
        assert variant["properties"]["type"] == {"const": name}
        assert variant["required"][0] == "type"
    assert defs["Supplier"]["required"] == ["type", "id", "name"]
    assert defs["PROCESSED"]["required"] == ["type", "from", "to", "at"]
    assert defs["Certificate"]["properties"]["valid_to"]["format"] == "date"
    # Every $ref points at a definition that exists.
    refs = re.findall(r'"\$ref":\s*"#/\$defs/([^"]+)"', result.stdout)
    assert refs
    assert set(refs) <= set(defs)


def test_schema_as_json_accepts_good_records_and_rejects_bad_ones() -> None:
    schema = json.loads(run("schema", "--format", "json").stdout)
    bad_records: list[dict[str, Any]] = [
        {"type": "Supplier", "id": "S-1"},
        {"type": "Supplier", "id": "S-1", "name": "Acme", "colour": "red"},
        {"type": "PROCESSED", "from": "Equipment:EQ-1", "to": "Batch:B-1"},
        {"type": "Widget", "id": "W-1"},
    ]
    if importlib.util.find_spec("jsonschema") is not None:  # pragma: no cover - optional
        jsonschema: Any = importlib.import_module("jsonschema")
        validator = jsonschema.Draft202012Validator(schema)
        for record in RECORDS:
            validator.validate(record)
        for record in bad_records:
            assert not validator.is_valid(record)
        return

    # Without the jsonschema package: the variant named by "type" decides, on required fields
    # and on additionalProperties: false (what the importer also checks).
    def accepts(record: dict[str, Any]) -> bool:
        variant = schema["$defs"].get(record["type"])
        return (
            variant is not None
            and set(variant["required"]) <= set(record)
            and set(record) <= set(variant["properties"])
        )

    assert all(accepts(r) for r in RECORDS)
    assert not any(accepts(r) for r in bad_records)


def test_schema_with_an_unknown_format_exits_2() -> None:
    result = run("schema", "--format", "xml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'xml': use markdown or json" in result.stderr


# --------------------------------------------------------------------------- help and version


def registered() -> dict[str, Any]:
    # Typer >= 0.20 carries its own copy of Click (typer._click), not the installed click.
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    return dict(root.commands)


COMMANDS = sorted(registered())
#: What the help of each command built so far must say; a command added later must at least
#: show the first words of its own description.
PURPOSE = {
    "import": "Import records",
    "trace": "The upstream or downstream closure of a node over genealogy edges",
    "schema": "Print the data dictionary",
    "generate": "Write a synthetic genealogy in the import format",
    "demo": "Load the ECG-monitor scenario",
}


def test_the_contract_commands_built_so_far_are_registered() -> None:
    assert {"import", "trace", "schema"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_states_its_purpose(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0, result.stderr
    text = flat(result.stdout)
    assert f"Usage: tracegraph {command} [OPTIONS]" in text
    description = " ".join((registered()[command].help or "").split())
    assert len(description) > 20, f"{command} has no description"
    assert " ".join(description.split()[:5]) in text
    if command in PURPOSE:
        assert PURPOSE[command] in text
    # Every query and write command says how the store is chosen.
    if command in ("import", "trace"):
        assert "--db" in text
        assert "TRACEGRAPH_DB" in text
        assert "--format" in text


def test_top_level_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.exit_code == 0, result.stderr
    text = flat(result.stdout)
    assert "traceability for medical devices" in text
    assert "TRACEGRAPH_DB" in text
    for command in COMMANDS:
        assert f" {command} " in text


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"tracegraph {__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", __version__)
