"""The first import into an empty embedded store (tracegraph/bulkload.py): the same tables and
the same audit digest as the ordinary import, read by two processes or one; every case it
cannot judge alone goes the ordinary way; nothing of its own is left behind, killed or not."""

from __future__ import annotations

import codecs
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracegraph import bulkload
from tracegraph.audit import verify
from tracegraph.errors import InvalidImport
from tracegraph.generate import generate
from tracegraph.importer import import_paths, import_records, read_paths
from tracegraph.store import WriteRequest
from tracegraph.store.embedded import EmbeddedStore

REQUEST = WriteRequest(actor="test", operation="import")


def dataset(path: Path, devices: int = 200, seed: int = 3) -> Path:
    """A generated genealogy (every type, fields on edges, UDIs), and records a first load
    must encode as the ordinary import does: ids with a quote, a backslash, non-ASCII text
    and spaces, an edge with fields, a blank line, a CRLF line, and a byte order mark."""
    records: list[dict[str, Any]] = list(generate(devices, seed))
    records += [
        {"type": "Supplier", "id": 'S-"quoted"', "name": "Zoë \\ Co", "country": "DE"},
        {"type": "Supplier", "id": "S back\\slash", "name": "Ω Works"},
        {"type": "Material", "id": "M-ü 1", "name": "Kondensator 10 µF"},
        {"type": "MaterialLot", "id": "L-ü 1", "received_at": "2026-01-05T10:00:00+02:00"},
        {"type": "SUPPLIED", "from": 'Supplier:S-"quoted"', "to": "MaterialLot:L-ü 1"},
        {"type": "HAS_LOT", "from": "Material:M-ü 1", "to": "MaterialLot:L-ü 1"},
        {"type": "SUPPLIED", "from": "Supplier:S back\\slash", "to": "MaterialLot:L-ü 1"},
    ]
    lines = [orjson.dumps(r) for r in records]
    lines.insert(len(lines) // 3, b"   ")  # a blank line
    lines[len(lines) // 2] += b"\r"  # a CRLF line ending
    path.write_bytes(codecs.BOM_UTF8 + b"\n".join(lines) + b"\n")
    return path


def tables(db: Path) -> tuple[list[Any], list[Any], list[str]]:
    """Every node and edge row as stored (ids included), and each audit entry's digest."""
    with sqlite3.connect(db) as con:
        nodes = con.execute("SELECT id, key, props, c = r FROM node ORDER BY id").fetchall()
        edges = con.execute(
            "SELECT src, fam, type, dst, props FROM edge ORDER BY src, fam, type, dst"
        ).fetchall()
        digests = [
            orjson.loads(entry)["changes_sha256"]
            for (entry,) in con.execute("SELECT entry FROM audit ORDER BY seq")
        ]
    return nodes, edges, digests


def assert_as_ordinary(data: Path, folder: Path) -> None:
    """The store at ``folder/bulk.tgdb`` holds what the ordinary import of ``data`` writes,
    its audit chain verifies, and no staging file is left."""
    plain = ordinary(data, folder / "plain.tgdb")
    plain.close()
    assert tables(folder / "bulk.tgdb") == tables(folder / "plain.tgdb")
    store = EmbeddedStore(folder / "bulk.tgdb", create=False)
    assert verify(store).intact
    store.close()
    assert leftovers(folder) == []


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.load-*.tmp"))


def ordinary(path: Path, db: Path) -> EmbeddedStore:
    store = EmbeddedStore(db)
    import_records(store, read_paths([path]), REQUEST)
    return store


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every file read in two processes, the second a forked child (pytest may run threads
    of its own, which the check before a fork would see); the children started are listed."""
    started: list[object] = []
    monkeypatch.setattr(bulkload, "SPLIT_BYTES", 0)
    monkeypatch.setattr(bulkload, "_may_fork", lambda: True)
    real = bulkload._Child

    class Counted(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            started.append(self)

    monkeypatch.setattr(bulkload, "_Child", Counted)
    return started


@pytest.mark.parametrize("processes", [1, 2])
def test_a_first_load_writes_what_the_ordinary_import_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[object], processes: int
) -> None:
    data = dataset(tmp_path / "g.jsonl")
    if processes == 1:
        monkeypatch.setattr(bulkload, "SPLIT_BYTES", 1 << 40)
    loaded = EmbeddedStore(tmp_path / "bulk.tgdb")
    report = import_paths(loaded, [data], REQUEST)
    assert len(children) == processes - 1
    assert report.summary.all_new
    assert report.summary.audit_seq == 1
    plain = ordinary(data, tmp_path / "plain.tgdb")
    assert verify(loaded).intact
    assert verify(plain).intact
    expected = tables(tmp_path / "plain.tgdb")
    assert tables(tmp_path / "bulk.tgdb") == expected
    assert report.records == report.nodes + report.edges == len(expected[0]) + len(expected[1])
    loaded.close()
    plain.close()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["in the first half", "in the second half"])
def test_a_line_it_cannot_judge_goes_the_ordinary_way_with_its_place(
    tmp_path: Path, children: list[object], where: str
) -> None:
    data = dataset(tmp_path / "g.jsonl")
    lines = data.read_bytes().split(b"\n")
    at = len(lines) // 4 if where == "in the first half" else 3 * len(lines) // 4
    lines[at] = b'{"type": "Device", "id": "D-bad", "manufactured_at": "not a time"}'
    data.write_bytes(b"\n".join(lines))
    store = EmbeddedStore(tmp_path / "s.tgdb")
    with pytest.raises(InvalidImport) as refused:
        import_paths(store, [data], REQUEST)
    assert children, "the first load did not start its child"
    assert f"{data}:{at + 1}: field 'manufactured_at'" in str(refused.value)
    assert store.is_empty()
    assert store.audit_entries() == []
    store.close()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "extra",
    [
        # a key given again later in the file: the ordinary import merges, later fields win
        [{"type": "Supplier", "id": "S-0001", "name": "Renamed GmbH"}],
        # an edge given twice, the second time with a field
        [{"type": "PRODUCED", "from": "Batch:B-dup", "to": "Device:D-dup", "source": "MES"}],
    ],
    ids=["key twice", "edge twice"],
)
def test_records_given_twice_are_merged_as_the_ordinary_import_merges(
    tmp_path: Path, children: list[object], extra: list[dict[str, Any]]
) -> None:
    data = dataset(tmp_path / "g.jsonl")
    head = [
        {"type": "Batch", "id": "B-dup", "started_at": "2026-01-01"},
        {"type": "Device", "id": "D-dup", "manufactured_at": "2026-01-02"},
        {"type": "PRODUCED", "from": "Batch:B-dup", "to": "Device:D-dup"},
    ]
    more = b"".join(orjson.dumps(r) + b"\n" for r in extra)
    body = data.read_bytes().removeprefix(codecs.BOM_UTF8)
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in head) + body + more)
    store = EmbeddedStore(tmp_path / "bulk.tgdb")
    import_paths(store, [data], REQUEST)
    assert children
    store.close()
    assert_as_ordinary(data, tmp_path)


def test_an_edge_to_a_node_in_no_file_is_reported_as_the_ordinary_import_reports_it(
    tmp_path: Path, children: list[object]
) -> None:
    data = dataset(tmp_path / "g.jsonl")
    edge = {"type": "PRODUCED", "from": "Batch:B-nowhere", "to": "Device:D-nowhere"}
    data.write_bytes(data.read_bytes() + orjson.dumps(edge) + b"\n")
    line = data.read_bytes().count(b"\n")
    store = EmbeddedStore(tmp_path / "s.tgdb")
    with pytest.raises(InvalidImport) as refused:
        import_paths(store, [data], REQUEST)
    assert children
    assert f"{data}:{line}: field 'from': Batch:B-nowhere exists neither" in str(refused.value)
    assert store.is_empty()
    store.close()
    assert leftovers(tmp_path) == []


def test_a_store_that_holds_something_is_written_the_ordinary_way(
    tmp_path: Path, children: list[object]
) -> None:
    first = tmp_path / "first.jsonl"
    first.write_bytes(orjson.dumps({"type": "Supplier", "id": "S-0001", "name": "Old"}) + b"\n")
    data = dataset(tmp_path / "g.jsonl")
    store = EmbeddedStore(tmp_path / "s.tgdb")
    import_paths(store, [first], REQUEST)
    report = import_paths(store, [data], REQUEST)
    assert not report.summary.all_new
    assert report.summary.updated == 1
    assert verify(store).intact
    store.close()


def test_a_child_that_dies_while_hashing_leaves_the_ordinary_import_to_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[object]
) -> None:
    """The child hashes the staged records while the parent writes them: if it dies, the
    parent's write transaction is rolled back and the ordinary import writes the file."""
    data = dataset(tmp_path / "g.jsonl")

    def dies(self: EmbeddedStore, stages: object) -> str:
        os._exit(3)  # (in the child: the parent's copy is never asked)

    monkeypatch.setattr(EmbeddedStore, "staged_digest", dies)
    store = EmbeddedStore(tmp_path / "bulk.tgdb")
    report = import_paths(store, [data], REQUEST)
    assert children
    assert not report.summary.all_new  # written the ordinary way
    store.close()
    assert_as_ordinary(data, tmp_path)


def test_staging_files_of_a_process_that_is_gone_are_removed_on_open(tmp_path: Path) -> None:
    db = tmp_path / "s.tgdb"
    EmbeddedStore(db).close()
    # A pid that is no process: one past the highest the kernel gives.
    limit = int(Path("/proc/sys/kernel/pid_max").read_text())
    dead = tmp_path / f".s.tgdb.load-{limit + 1}-1.tmp"
    alive = tmp_path / f".s.tgdb.load-{os.getpid()}-1.tmp"
    other = tmp_path / ".t.tgdb.load-1-1.tmp"  # another store's
    for path in (dead, alive, other):
        path.write_bytes(b"staged")
    EmbeddedStore(db).close()
    assert not dead.exists()
    assert alive.exists()
    assert other.exists()


# --------------------------------------------------------------------------- kills

KILL_TRIALS = 8


def running(marker: str) -> list[int]:
    """Pids of the processes whose command line names ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_sigkill_during_a_first_load_leaves_the_store_empty_or_whole_and_nothing_behind(
    tmp_path: Path,
) -> None:
    data = tmp_path / "first-load.jsonl"
    with open(data, "wb") as out:
        # large enough to be read by two processes (`bulkload.SPLIT_BYTES`)
        lines = [orjson.dumps(r) for r in generate(6_000, 5)]
        out.write(b"\n".join(lines) + b"\n")
    assert data.stat().st_size > bulkload.SPLIT_BYTES
    command = [sys.executable, "-m", "cli.main", "import", str(data), "--no-check", "--db"]
    clean = tmp_path / "clean.tgdb"
    started = time.monotonic()
    subprocess.run([*command, str(clean)], check=True, capture_output=True)
    took = time.monotonic() - started
    whole = tables(clean)
    rng = random.Random(29)
    outcomes = []
    staged = []  # staging files found after each kill: two while both processes stage
    for trial in range(KILL_TRIALS):
        db = tmp_path / f"trial-{trial}.tgdb"
        writer = subprocess.Popen(
            [*command, str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.3, 1.0) * took)  # the moment of the kill, not a timing test
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        staged.append(len(leftovers(tmp_path)))
        # Its child ends at its next word to the dead parent.
        deadline = time.monotonic() + 30
        while running(str(data)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running(str(data)) == []
        store = EmbeddedStore(db)  # (the open removes the dead load's staging files)
        assert leftovers(tmp_path) == []
        assert verify(store).intact
        empty = store.is_empty()
        store.close()
        if not empty:
            got = tables(db)
            assert (got[0], got[1]) == (whole[0], whole[1]), f"trial {trial}"
        outcomes.append(empty)
        # Loading again gives the store of a clean load.
        subprocess.run([*command, str(db)], check=True, capture_output=True)
        assert tables(db)[:2] == whole[:2]
    assert outcomes.count(True) >= KILL_TRIALS // 4, outcomes
    assert max(staged) == 2, staged  # the command line's import read in two processes


GATE = "TRACEGRAPH_TEST_WRITE_GATE"  # (the store's test-only hold inside a write)


def held_first_load(data: Path, db: Path, gate: Path) -> subprocess.Popen[bytes]:
    """A command-line first load of ``data`` into ``db``, stopped inside its write
    transaction (every record written, not committed) until ``gate/go`` appears."""
    gate.mkdir()
    writer = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "import", str(data), "--no-check", "--db", str(db)],
        env={**os.environ, GATE: str(gate)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not any(p.name.startswith("applied.") for p in gate.iterdir()):
        assert writer.poll() is None, writer.communicate()
        assert time.monotonic() < deadline, "the load never reached its commit"
        time.sleep(0.01)
    return writer


def sidecar(db: Path, suffix: str) -> Path:
    return db.with_name(db.name + suffix)


def test_a_first_load_nobody_else_has_open_skips_the_wal_and_a_kill_rolls_it_back(
    tmp_path: Path,
) -> None:
    """Alone on the store, the load writes through a rollback journal (each page once, not
    to the WAL and again at the checkpoint). A reader that comes meanwhile reads the store
    as it was, without waiting; a kill leaves a journal the next open rolls back."""
    data = dataset(tmp_path / "g.jsonl")
    clean = tmp_path / "clean.tgdb"
    EmbeddedStore(clean).close()
    subprocess.run(
        [sys.executable, "-m", "cli.main", "import", str(data), "--no-check", "--db", str(clean)],
        check=True,
        capture_output=True,
    )
    db = tmp_path / "s.tgdb"
    EmbeddedStore(db).close()
    writer = held_first_load(data, db, tmp_path / "gate")
    try:
        assert sidecar(db, "-journal").exists()
        assert not sidecar(db, "-wal").exists()
        reader = EmbeddedStore(db, create=False)
        assert reader.is_empty()
        reader.close()
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    store = EmbeddedStore(db)
    assert store.is_empty()
    assert verify(store).intact
    assert store._db().execute("PRAGMA journal_mode").fetchone() == ("wal",)
    store.close()
    assert not sidecar(db, "-journal").exists()
    assert leftovers(tmp_path) == []
    subprocess.run(
        [sys.executable, "-m", "cli.main", "import", str(data), "--no-check", "--db", str(db)],
        check=True,
        capture_output=True,
    )
    assert tables(db)[:2] == tables(clean)[:2]
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_first_load_while_another_process_reads_keeps_the_wal_and_never_holds_it_up(
    tmp_path: Path,
) -> None:
    data = dataset(tmp_path / "g.jsonl")
    db = tmp_path / "s.tgdb"
    reader = EmbeddedStore(db)
    try:
        assert reader.is_empty()  # (its connection stays open)
        writer = held_first_load(data, db, tmp_path / "gate")
        try:
            assert sidecar(db, "-wal").exists()
            assert not sidecar(db, "-journal").exists()
            assert reader.is_empty()
        finally:
            (tmp_path / "gate" / "go").touch()
            _out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert not reader.is_empty()
        assert verify(reader).intact
    finally:
        reader.close()
