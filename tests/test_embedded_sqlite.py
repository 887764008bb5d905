"""The embedded store on SQLite, as processes use it: upgrades of old stores, writers killed at
random moments, writers that interleave, readers that must not wait, a server and the command
line on one store at once. Every process here is a real `tracegraph` process."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.api import bearer, put_key
from tests.support.neo4j_server import free_port
from tracegraph.audit import verify
from tracegraph.errors import StoreError
from tracegraph.keys import Role, authenticate
from tracegraph.model import Direction, EntityType, RelType
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.upgrade import backup_path

DATA = Path(__file__).parent / "data"
#: The analyst key kept (hashed) in tests/data/v1-store.json, made by TraceGraph 0.1.
V1_KEY = "tg_e9aa1d40_RALDkUToHm1DRgPWKCrAW_yMYryYUwC5uLLVekWB8Ps"


def tracegraph(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tracegraph(*args), capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def devices(path: Path, first: int, count: int, batch: str = "B-1") -> Path:
    """A file of ``count`` devices, each produced by one batch (made if missing)."""
    lines = [{"type": "Batch", "id": batch, "started_at": "2026-01-01"}]
    for i in range(first, first + count):
        lines.append({"type": "Device", "id": f"D-{i}", "manufactured_at": "2026-01-02"})
        lines.append({"type": "PRODUCED", "from": f"Batch:{batch}", "to": f"Device:D-{i}"})
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in lines))
    return path


def state(db: Path) -> tuple[int, int, list[int]]:
    """(devices, PRODUCED edges, audit seqs) of the store at ``db``; the chain must verify."""
    store = EmbeddedStore(db, create=False)
    try:
        result = verify(store)
        assert result.intact, result.message()
        keys = store.keys_of_type(EntityType.Device)
        edges = store.edges(keys, [RelType.PRODUCED], Direction.up, props=False)
        return len(keys), len(edges), [e.seq for e in store.audit_entries()]
    finally:
        store.close()


@contextmanager
def held_write(db: Path, records: Path, gate: Path) -> Iterator[subprocess.Popen[str]]:
    """A `tracegraph import` stopped inside its write transaction (holding the write lock)
    until the block ends; then it commits and must succeed."""
    gate.mkdir()
    writer = subprocess.Popen(
        tracegraph("import", str(records), "--db", str(db)),
        env={**os.environ, "TRACEGRAPH_TEST_WRITE_GATE": str(gate)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(gate, "applied.", writer)
        yield writer
    finally:
        (gate / "go").touch()
        _out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err


def wait_for(gate: Path, prefix: str, process: subprocess.Popen[str]) -> None:
    """Until ``process`` marks that it reached a point (it polls nothing itself)."""
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(prefix) for p in gate.iterdir()):
        assert process.poll() is None, f"the writer ended early: {process.communicate()}"
        assert time.monotonic() < deadline, f"no {prefix}* mark in {gate}"
        time.sleep(0.01)


# --------------------------------------------------------------------------- upgrade


def old_store(tmp_path: Path) -> Path:
    db = tmp_path / "old.tgdb"
    shutil.copyfile(DATA / "v1-store.json", db)
    return db


def test_an_old_json_store_is_upgraded_on_first_open_with_a_backup(tmp_path: Path) -> None:
    db = old_store(tmp_path)
    original = db.read_bytes()
    store = EmbeddedStore(db, create=False)
    assert backup_path(db).read_bytes() == original
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"
    result = verify(store)
    assert result.intact, result.message()
    entries = store.audit_entries()
    assert [(e.seq, e.actor) for e in entries] == [(1, "alice"), (2, "bob"), (3, "carol")]
    # Versions survive: the lot's quantity was 100, then 90; the edge's 20, then 25.
    (lot,) = store.versions(["MaterialLot:L-1"])
    assert [v.props["quantity"] for v in lot.versions] == [100.0, 90.0]
    (edge,) = store.versions(["CONSUMED_IN:MaterialLot:L-1->Batch:B-1"])
    assert [v.props["quantity"] for v in edge.versions] == [20.0, 25.0]
    assert store.nodes(["MaterialLot:L-1"])["MaterialLot:L-1"].props["attributes"] == {"po": "PO-7"}
    then = store.at(entries[0].at)
    assert then.nodes(["MaterialLot:L-1"])["MaterialLot:L-1"].props["quantity"] == 100.0
    assert then.existing(["Device:D-2"]) == set()
    # API keys survive: the old key still opens the door; the revoked one stays revoked.
    keys = store.keyring.all()
    assert sorted((k.name, k.revoked) for k in keys) == [("gone", True), ("reader", False)]
    found = authenticate(store, V1_KEY)
    assert found is not None
    assert found.name == "reader"
    # The store now takes writes, chained to the old entries.
    records = devices(tmp_path / "more.jsonl", 10, 3, batch="B-1")
    assert run("import", str(records), "--db", str(db)).returncode == 0
    assert state(db)[2] == [1, 2, 3, 4]


def test_store_upgrade_command(tmp_path: Path) -> None:
    db = old_store(tmp_path)
    done = run("store", "upgrade", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert str(backup_path(db)) in done.stdout
    again = run("store", "upgrade", "--db", str(db))
    assert again.returncode == 0, again.stderr
    assert "already" in again.stdout
    assert state(db)[2] == [1, 2, 3]


def test_a_file_that_is_no_store_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "notes.tgdb"
    db.write_text("shopping list\n")
    result = run("trace", "Device:D-1", "--db", str(db))
    assert result.returncode == 1
    assert str(db) in result.stderr
    assert "not a TraceGraph store" in result.stderr
    assert db.read_text() == "shopping list\n"


def test_a_store_whose_creator_died_before_its_first_commit_opens_empty(tmp_path: Path) -> None:
    # Setting WAL mode writes the file's header before the schema is committed: a creator
    # killed between the two left a SQLite file without a table.
    db = tmp_path / "new.tgdb"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    assert db.read_bytes().startswith(b"SQLite format 3")
    store = EmbeddedStore(db)
    assert store.is_empty()
    store.close()
    # Another program's database is still no store.
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StoreError, match="not a TraceGraph store"):
        EmbeddedStore(other)


def test_a_read_on_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "typo" / "store.tgdb"
    result = run("trace", "Device:D-1", "--db", str(db))
    assert result.returncode == 2
    assert str(db) in result.stderr
    assert not (tmp_path / "typo").exists()


# --------------------------------------------------------------------------- kills


KILL_TRIALS = 20


def test_sigkill_at_random_moments_of_an_import_leaves_the_state_before_or_after(
    tmp_path: Path,
) -> None:
    first = devices(tmp_path / "first.jsonl", 0, 50)
    second = devices(tmp_path / "second.jsonl", 50, 20_000)
    base = tmp_path / "base.tgdb"
    assert run("import", str(first), "--db", str(base)).returncode == 0
    before = state(base)
    clean = tmp_path / "clean.tgdb"
    shutil.copyfile(base, clean)
    started = time.monotonic()
    assert run("import", str(second), "--db", str(clean)).returncode == 0
    took = time.monotonic() - started
    after = state(clean)
    assert after[:2] == (20_050, 20_050)

    rng = random.Random(13)
    outcomes = []
    for trial in range(KILL_TRIALS):
        db = tmp_path / f"trial-{trial}.tgdb"
        shutil.copyfile(base, db)
        writer = subprocess.Popen(
            tracegraph("import", str(second), "--db", str(db)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.2, 1.0) * took)  # the moment of the kill, not a timing test
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        found = state(db)
        assert found in (before, after), f"trial {trial}: {found}"
        outcomes.append(found == after)
        # Running the import again gives the graph of a clean import.
        assert run("import", str(second), "--db", str(db)).returncode == 0
        assert state(db)[:2] == after[:2]
        assert not list(tmp_path.glob(f"trial-{trial}.tgdb.*upgrad*"))
    # Most kills land inside the import (the rest after its commit); both kinds are checked.
    assert outcomes.count(False) >= KILL_TRIALS // 4, outcomes


# --------------------------------------------------------------------------- writers and readers


def test_interleaved_read_then_write_processes_lose_no_committed_write(tmp_path: Path) -> None:
    db = tmp_path / "s.tgdb"
    assert run("import", str(devices(tmp_path / "a0.jsonl", 0, 5)), "--db", str(db)).returncode == 0
    mine = devices(tmp_path / "a.jsonl", 100, 10, batch="B-1")
    theirs = devices(tmp_path / "b.jsonl", 200, 10, batch="B-2")
    with held_write(db, mine, tmp_path / "gate-a"):
        # B reads the store (its import checks its edges' ends) while A's write is open, then
        # waits for the write lock, and writes after A commits.
        gate = tmp_path / "gate-b"
        gate.mkdir()
        (gate / "go").touch()
        other = subprocess.Popen(
            tracegraph("import", str(theirs), "--db", str(db)),
            env={**os.environ, "TRACEGRAPH_TEST_WRITE_GATE": str(gate)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(gate, "begin.", other)
    _out, err = other.communicate(timeout=120)
    assert other.returncode == 0, err
    count, produced, seqs = state(db)
    assert (count, produced, seqs) == (25, 25, [1, 2, 3])


def test_a_second_writer_waits_a_bounded_time_then_names_the_busy_store(tmp_path: Path) -> None:
    db = tmp_path / "s.tgdb"
    assert run("import", str(devices(tmp_path / "a0.jsonl", 0, 5)), "--db", str(db)).returncode == 0
    with held_write(db, devices(tmp_path / "a.jsonl", 100, 3), tmp_path / "gate"):
        late = run(
            "import",
            str(devices(tmp_path / "b.jsonl", 200, 3)),
            "--db",
            str(db),
            env={"TRACEGRAPH_BUSY_SECONDS": "0.5"},
        )
        assert late.returncode == 1
        assert str(db) in late.stderr
        assert "busy" in late.stderr
    assert state(db)[0] == 8  # the held write committed; the refused one wrote nothing


def test_server_and_command_line_share_one_store(tmp_path: Path) -> None:
    db = tmp_path / "s.tgdb"
    assert run("import", str(devices(tmp_path / "a0.jsonl", 0, 5)), "--db", str(db)).returncode == 0
    seeded = EmbeddedStore(db)
    key = put_key(seeded, Role.analyst)
    seeded.close()
    port = free_port()
    server = subprocess.Popen(
        tracegraph("serve", "--port", str(port), "--db", str(db)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, headers=bearer(key), timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, "tracegraph serve ended"
                assert time.monotonic() < deadline, "tracegraph serve did not answer"
                time.sleep(0.05)
            assert client.get("/v1/nodes/Device/D-100").status_code == 404
            with held_write(db, devices(tmp_path / "a.jsonl", 100, 3), tmp_path / "gate"):
                # While a writer holds the lock, the server and another CLI process read.
                assert client.get("/v1/nodes/Device/D-1").status_code == 200
                assert client.get("/v1/nodes/Device/D-100").status_code == 404
                reader = run("trace", "Device:D-1", "--up", "--format", "json", "--db", str(db))
                assert reader.returncode == 0, reader.stderr
                assert "Batch:B-1" in reader.stdout
            # The CLI's committed write is what the running server answers next.
            assert client.get("/v1/nodes/Device/D-100").status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_one_store_object_answers_threads_side_by_side(tmp_path: Path) -> None:
    """The API shares one store among its request threads: each thread reads on its own
    connection, and a write by one is seen by the others' next read."""
    threads = 8
    db = tmp_path / "s.tgdb"
    assert (
        run("import", str(devices(tmp_path / "a0.jsonl", 0, 200)), "--db", str(db)).returncode == 0
    )
    store = EmbeddedStore(db)
    try:

        def closure(i: int) -> int:
            return len(store.reach([f"Device:D-{i}"], [RelType.PRODUCED], Direction.up))

        with ThreadPoolExecutor(threads) as pool:
            assert list(pool.map(closure, range(200))) == [1] * 200
        assert (
            run("import", str(devices(tmp_path / "b.jsonl", 500, 1)), "--db", str(db)).returncode
            == 0
        )
        with ThreadPoolExecutor(threads) as pool:
            seen = list(pool.map(lambda _: bool(store.existing(["Device:D-500"])), range(threads)))
        assert all(seen)
    finally:
        store.close()
