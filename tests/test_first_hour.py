"""A newcomer's first hour (issue 18): the commands `make demo` prints work in a fresh shell,
and the small things a first user trips on — messages that name the option, counts in words,
keys kept whole in tables piped at 80 columns, verdicts on stdout."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run
from tests.support.serve import free_port, wait_until_healthy
from tracegraph.demo import load_demo
from tracegraph.errors import InvalidImport, NotFound
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import Direction, utc
from tracegraph.recall import recall
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.trace import trace

BIN = Path(sys.executable).parent
REQ = WriteRequest(actor="test", operation="import")


def _fresh_shell(home: Path) -> dict[str, str]:
    """The environment of a new terminal: the virtualenv not activated, not on PATH."""
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != BIN
    )
    return {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8"}


def test_the_commands_the_demo_prints_work_in_a_fresh_shell(tmp_path: Path) -> None:
    # A clone's layout: the project's virtualenv at .venv, as `make demo` makes it.
    (tmp_path / ".venv").symlink_to(BIN.parent, target_is_directory=True)
    env = _fresh_shell(tmp_path)
    demo = subprocess.run(
        [".venv/bin/tracegraph", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert demo.returncode == 0, demo.stderr
    assert "`source .venv/bin/activate` puts `tracegraph` there" in demo.stdout
    commands = [
        shlex.split(line.partition("#")[0])
        for line in demo.stdout.splitlines()
        if line.startswith("  .venv/bin/tracegraph ")
    ]
    assert len(commands) >= 5
    serve = [c for c in commands if c[1] == "serve"]
    for command in (c for c in commands if c[1] != "serve"):
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
        # `check` exits 1 when it finds errors, which the demo's data has (on purpose).
        assert done.returncode in ((0, 1) if command[1] == "check" else (0,)), (command, done)
        assert done.stdout, command
    # Commands quoted inside the story's sentences name the demo's store too.
    for quoted in re.findall(r"`(tracegraph (?:impact|evidence) [^`]*)`", demo.stdout):
        assert "--db" in quoted or "verify" in quoted, quoted
    (command,) = serve
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [*command, "--port", str(port)], cwd=tmp_path, env=env, stdout=sink, stderr=sink
        )
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", server, log)
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    path = tmp_path / "demo.tgdb"
    load_demo(EmbeddedStore(path))
    return str(path)


def test_a_bad_time_names_its_option(demo_db: str) -> None:
    for option in ("--from", "--to"):
        result = run("recall", "MaterialLot:L-2026-0042", option, "2026-13-01", "--db", demo_db)
        assert result.exit_code == 2
        assert result.stderr.startswith(f"tracegraph: {option}: not an ISO 8601 date")
    result = run("trace", "Device:D-000125", "--as-of", "2026-13-01", "--db", demo_db)
    assert result.exit_code == 2
    assert result.stderr.startswith("tracegraph: --as-of: ")


def test_a_bad_choice_reads_as_a_sentence(demo_db: str) -> None:
    result = run("common-cause", "--severity", "fatal", "--db", demo_db)
    assert result.exit_code == 2
    assert "Value error" not in result.stderr
    assert "'fatal' is not one of 'death'" in result.stderr


def test_counts_are_in_words(demo_db: str, tmp_path: Path) -> None:
    result = run("audit", "verify", "--db", demo_db, "--format", "table")
    assert result.exit_code == 0
    assert "audit trail intact: 1 entry, 455 versions of 455 records checked" in result.stdout
    # One device: "1 device in 1 batch, 1 shipment to 1 customer".
    from rich.console import Console

    from cli.demo import _recall_summary

    console = Console(record=True, width=120)
    counts = {
        "devices": 1,
        "batches": 1,
        "shipments": 1,
        "customers": 1,
        "complaints": 0,
        "service_events": 2,
    }
    _recall_summary(console, {"counts": counts, "customers": []})
    text = console.export_text()
    assert "1 device in 1 batch, 1 shipment to 1 customer; 0 complaints, 2 service events." in text


def test_audit_verify_takes_as_of(demo_db: str) -> None:
    before = run("audit", "verify", "--db", demo_db, "--as-of", "2000-01-01", "--format", "json")
    assert before.exit_code == 0, before.stderr
    assert json.loads(before.stdout)["entries"] == 0
    now = run("audit", "verify", "--db", demo_db, "--as-of", "2999-01-01", "--format", "json")
    assert json.loads(now.stdout)["entries"] == 1


def test_keys_stay_whole_in_a_table_piped_at_80_columns(demo_db: str) -> None:
    result = run("recall", "MaterialLot:L-2026-0042", "--db", demo_db, "--format", "table")
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    devices = json.loads(
        run("recall", "MaterialLot:L-2026-0042", "--db", demo_db, "--format", "json").stdout
    )["devices"]
    for device in devices:
        assert device["key"].partition(":")[2] in result.stdout  # never split across lines


def test_evidence_verify_says_not_intact_on_stdout(demo_db: str, tmp_path: Path) -> None:
    package = tmp_path / "ev"
    assert run("evidence", "Device:D-000125", "--out", str(package), "--db", demo_db).exit_code == 0
    report = next(p for p in package.rglob("*.json") if "data" in p.parts)
    report.write_bytes(report.read_bytes().replace(b"D-000125", b"D-000126", 1))
    result = run("evidence", "verify", str(package), "--format", "table")
    assert result.exit_code == 1
    assert "NOT intact" in result.stdout
    assert "altered" in result.stderr


def test_import_help_points_at_the_format_page() -> None:
    result = run("import", "--help")
    assert "§3" not in result.stdout
    assert "docs/import-format.md" in result.stdout


def test_make_waits_for_another_apt_instead_of_failing() -> None:
    makefile = (Path(__file__).parent.parent / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^APT := apt-get -o DPkg::Lock::Timeout=\d+$", makefile, re.M)
    recipes = [line for line in makefile.splitlines() if line.startswith("\t")]
    assert any("$(APT) install" in line for line in recipes)
    assert not any("apt-get" in line for line in recipes)  # every call goes through $(APT)


def test_a_window_that_does_not_apply_or_matches_nothing_says_so(store: GraphStore) -> None:
    load_demo(store)
    lot = recall(store, ["MaterialLot:L-2026-0042"], utc("2030-01-01"), None)
    assert lot.as_json()["counts"]["devices"] == 12  # a lot is affected whatever the window ...
    assert any("does not apply to a MaterialLot suspect" in n for n in lot.notes)  # ... and says so
    supplier = recall(store, ["Supplier:S-7"], utc("2030-01-01"), None)
    assert supplier.as_json()["counts"]["devices"] == 0
    assert supplier.notes == [
        "Supplier:S-7: none of its 2 lots was received in the window (received from 2025-10-14 "
        "to 2026-01-05)"
    ]
    inside = recall(store, ["Supplier:S-7"], utc("2026-01-01"), None)
    assert inside.as_json()["counts"]["devices"] > 0
    assert inside.notes == []


def test_as_of_before_a_node_existed_is_not_unknown(store: GraphStore) -> None:
    load_demo(store)
    before = store.at(utc("2001-01-01"))
    with pytest.raises(
        NotFound,
        match=r"Device:D-000125: not in the store as of 2001-01-01.*"
        r"first recorded 20\d\d-",
    ):
        trace(before, "Device:D-000125", Direction.up)
    with pytest.raises(NotFound, match="Device:D-999999: no such node in the store"):
        trace(before, "Device:D-999999", Direction.up)


def test_rates_read_the_same_in_every_table(demo_db: str) -> None:
    ranked = run("common-cause", "--db", demo_db, "--format", "table")
    assert ranked.exit_code == 0
    top = next(line for line in ranked.stdout.splitlines() if "L-2026-0042" in line)
    assert "50%" in top  # 6 of 12 devices, as the demo and the web page write it
    assert "0.500" not in top


def _jsonl(records: list[dict[str, object]]) -> list[bytes]:
    return [json.dumps(r).encode() for r in records]


def test_an_update_gives_its_required_fields_as_the_docs_say(store: GraphStore) -> None:
    # docs/import-format.md promised that left-out fields are kept, and the import refused an
    # update without its required fields: the contract (PRODUCT §3) makes a missing required
    # field an error, so the docs now say which fields are kept (the optional ones).
    load_demo(store)
    lot = "MaterialLot:L-2026-0042"
    received = store.nodes([lot])[lot].props["received_at"]
    change = [{"type": "MaterialLot", "id": "L-2026-0042", "quantity": 480}]
    with pytest.raises(InvalidImport, match=r"update\.jsonl:1: field 'received_at': required"):
        import_records(store, read_jsonl("update.jsonl", _jsonl(change)), REQ)
    whole = [{**change[0], "received_at": received.isoformat()}]
    report = import_records(store, read_jsonl("update.jsonl", _jsonl(whole)), REQ)
    assert (report.summary.updated, report.summary.created) == (1, 0)
    after = store.nodes([lot])[lot].props
    assert after["quantity"] == 480
    assert after["received_at"] == received
    assert after["source_ref"] == "GR-2026-0042"  # an optional field left out: kept
    docs = (Path(__file__).parent.parent / "docs" / "import-format.md").read_text()
    assert "keeps the optional fields the record leaves out" in docs


def test_edges_to_a_refused_record_are_not_each_reported(tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "MaterialLot.csv").write_text("id,received_at\nL-1,2026-13-40\n")
    (folder / "Supplier.csv").write_text("id,name\nS-1,Parts\n")
    (folder / "SUPPLIED.csv").write_text("from,to\nSupplier:S-1,MaterialLot:L-1\n")
    result = run("import", str(folder), "--db", str(tmp_path / "s.tgdb"))
    assert result.exit_code == 2
    assert "received_at" in result.stderr
    assert "exists neither in the store nor in this import" not in result.stderr


def test_common_cause_says_how_many_candidates_were_tested(demo_db: str) -> None:
    result = run("common-cause", "--db", demo_db, "--format", "table")
    assert result.exit_code == 0
    assert "p (BH)" in result.stdout
    ranked = json.loads(run("common-cause", "--db", demo_db, "--format", "json").stdout)
    assert f"{len(ranked['ranking'])} candidates were tested" in " ".join(result.stdout.split())
