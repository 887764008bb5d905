"""`tracegraph store backup`: a copy of an embedded store as of one moment, whole, in a new file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

import tracegraph.store.backup as backup_module
from tests.support.cli import run
from tracegraph.audit import verify
from tracegraph.demo import FAILED_CALIBRATION, SUSPECT_LOT, load_demo
from tracegraph.errors import BadInput
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import EntityType
from tracegraph.recall import recall
from tracegraph.store.backup import backup
from tracegraph.store.base import WriteRequest
from tracegraph.store.embedded import EmbeddedStore

REQ = WriteRequest(actor="test", operation="import", source="MES", reason="backup test")


def more_devices(store: EmbeddedStore, count: int) -> None:
    lines = [{"type": "Batch", "id": "B-LATE", "started_at": "2026-03-01"}]
    for i in range(count):
        lines.append({"type": "Device", "id": f"D-LATE-{i}", "manufactured_at": "2026-03-02"})
        lines.append({"type": "PRODUCED", "from": "Batch:B-LATE", "to": f"Device:D-LATE-{i}"})
    import_records(store, read_jsonl("late.jsonl", [orjson.dumps(r) for r in lines]), REQ)


def devices(store: EmbeddedStore) -> list[str]:
    return sorted(store.keys_of_type(EntityType.Device))


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[EmbeddedStore]:
    store = EmbeddedStore(tmp_path / "store.tgdb")
    load_demo(store)
    yield store
    store.close()


@pytest.fixture
def opened() -> Iterator[list[EmbeddedStore]]:
    stores: list[EmbeddedStore] = []
    yield stores
    for store in stores:
        store.close()


def test_the_copy_is_the_whole_store_what_its_wal_holds_included(
    demo: EmbeddedStore, tmp_path: Path, opened: list[EmbeddedStore]
) -> None:
    # The store is open, so its writes are still in its -wal file, not in the file itself.
    assert demo.path.with_name(demo.path.name + "-wal").stat().st_size > 0
    report = backup(demo, tmp_path / "copy.tgdb")
    assert report.copy == tmp_path / "copy.tgdb"
    assert report.bytes == report.copy.stat().st_size
    assert not list(tmp_path.glob("*.part*"))
    assert not list(tmp_path.glob("copy.tgdb-*"))
    copy = EmbeddedStore(report.copy, create=False)
    opened.append(copy)
    assert report.audit_head == copy.audit_head() == demo.audit_head()
    assert verify(copy).intact
    assert devices(copy) == devices(demo)
    suspect = [SUSPECT_LOT, FAILED_CALIBRATION]
    assert recall(copy, suspect).as_json() == recall(demo, suspect).as_json()


def test_a_write_landing_during_the_backup_is_not_in_the_copy(
    demo: EmbeddedStore,
    tmp_path: Path,
    opened: list[EmbeddedStore],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backup_module, "STEP_PAGES", 1)  # a step a page: the write lands mid-copy
    before = devices(demo)
    head_before = demo.audit_head()
    writer = EmbeddedStore(demo.path, create=False)  # another connection, as another process
    opened.append(writer)
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        if not seen:
            more_devices(writer, 50)
        seen.append((done, total))

    report = backup(demo, tmp_path / "copy.tgdb", progress)
    assert len(seen) > 2
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1][0] == seen[-1][1] == report.bytes
    assert len(devices(demo)) == len(before) + 50  # the write landed, in the store
    copy = EmbeddedStore(report.copy, create=False)
    opened.append(copy)
    assert devices(copy) == before
    assert report.audit_head == copy.audit_head() == head_before != demo.audit_head()
    assert verify(copy).intact


def test_an_existing_file_is_never_replaced(demo: EmbeddedStore, tmp_path: Path) -> None:
    dest = tmp_path / "kept.tgdb"
    dest.write_bytes(b"someone's file")
    with pytest.raises(BadInput, match=r"kept\.tgdb: already exists"):
        backup(demo, dest)
    assert dest.read_bytes() == b"someone's file"
    with pytest.raises(BadInput, match="no such folder"):
        backup(demo, tmp_path / "missing" / "copy.tgdb")


def test_a_backup_that_fails_midway_leaves_nothing(
    demo: EmbeddedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backup_module, "STEP_PAGES", 1)
    out = tmp_path / "out"
    out.mkdir()

    def interrupted(done: int, total: int) -> None:
        if done * 2 > total:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backup(demo, out / "copy.tgdb", interrupted)
    assert list(out.iterdir()) == []


def test_the_copy_keeps_the_store_s_permissions(demo: EmbeddedStore, tmp_path: Path) -> None:
    os.chmod(demo.path, 0o640)
    report = backup(demo, tmp_path / "copy.tgdb")
    assert report.copy.stat().st_mode & 0o777 == 0o640


def test_the_command(demo: EmbeddedStore, tmp_path: Path) -> None:
    dest = tmp_path / "copy.tgdb"
    done = run("store", "backup", str(dest), "--db", str(demo.path), "--format", "json")
    assert done.exit_code == 0, done.output
    out = orjson.loads(done.stdout)
    assert out["copy"] == str(dest)
    assert out["bytes"] == dest.stat().st_size
    assert out["audit_head"] == demo.audit_head()
    table = run(
        "store", "backup", str(tmp_path / "two.tgdb"), "--db", str(demo.path), "--format", "table"
    )
    assert table.exit_code == 0
    assert f"backed up to {tmp_path / 'two.tgdb'}" in table.stdout
    assert f"tracegraph audit verify --db {tmp_path / 'two.tgdb'}" in table.stderr

    again = run("store", "backup", str(dest), "--db", str(demo.path))
    assert again.exit_code == 2
    assert f"{dest}: already exists" in again.stderr
    neo = run("store", "backup", str(tmp_path / "n.tgdb"), "--db", "bolt://127.0.0.1:1")
    assert neo.exit_code == 2
    assert "neo4j-admin database dump" in neo.stderr
    missing = run("store", "backup", str(tmp_path / "m.tgdb"), "--db", str(tmp_path / "no.tgdb"))
    assert missing.exit_code == 2
    assert not (tmp_path / "no.tgdb").exists()
    assert not (tmp_path / "m.tgdb").exists()
