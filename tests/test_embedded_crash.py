"""A writer killed in the middle of a commit leaves the previous state readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tracegraph.model import EntityType, RelType
from tracegraph.store.embedded import EmbeddedStore

WRITER = """
import sys
from tracegraph.importer import import_paths
from tracegraph.store.base import WriteRequest
from tracegraph.model import EntityType, RelType
from tracegraph.store.embedded import EmbeddedStore
store = EmbeddedStore(sys.argv[1])
import_paths(store, [sys.argv[2]], WriteRequest(actor="crash-test", operation="import"))
"""


def _records(first: int, count: int) -> bytes:
    lines = [
        orjson.dumps({"type": "Device", "id": f"D-{i}", "manufactured_at": "2026-01-01"})
        for i in range(first, first + count)
    ]
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("crash_at", ["mid-write", "before-rename"])
def test_killed_writer_leaves_previous_state(tmp_path: Path, crash_at: str) -> None:
    db = tmp_path / "store.tgdb"
    first = tmp_path / "first.jsonl"
    first.write_bytes(_records(0, 50))
    second = tmp_path / "second.jsonl"
    second.write_bytes(_records(50, 5000))
    EmbeddedStore(db)  # created empty
    subprocess.run([sys.executable, "-c", WRITER, str(db), str(first)], check=True)
    before = db.read_bytes()

    env = {**os.environ, "TRACEGRAPH_TEST_CRASH_AT": crash_at}
    killed = subprocess.run(
        [sys.executable, "-c", WRITER, str(db), str(second)], env=env, check=False
    )
    assert killed.returncode == -signal.SIGKILL

    assert db.read_bytes() == before  # the committed file was never touched
    store = EmbeddedStore(db)
    assert len(store.keys_of_type(EntityType.Device)) == 50
    assert [e.seq for e in store.audit_entries()] == [1]
    # The next writer is not disturbed by the dead one's leftovers.
    subprocess.run([sys.executable, "-c", WRITER, str(db), str(second)], check=True)
    assert "Device:D-5049" in EmbeddedStore(db).existing(["Device:D-5049"])
    assert list(tmp_path.glob(".store.tgdb.*")) == []  # the dead writer's temp file is swept


def test_reopened_store_reads_back_identical_values(tmp_path: Path) -> None:
    # Values are typed in memory (instants, dates, numbers, objects); the file must give the
    # same back, or answers change after a restart.
    from tests.test_store_contract import LINES, load

    db = tmp_path / "store.tgdb"
    first = EmbeddedStore(db)
    load(first, LINES)
    load(
        first,
        [
            {"type": "Certificate", "id": "C-1", "kind": "ISO 13485",
             "valid_from": "2025-01-01", "valid_to": "2026-12-31"},
            {"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-05", "quantity": 7},
        ],
    )  # fmt: skip
    again = EmbeddedStore(db)
    keys = sorted(first.graph.nodes)
    assert again.nodes(keys) == first.nodes(keys)
    everything = list(first.graph.nodes)
    assert again.edges(everything, list(RelType), None) == first.edges(
        everything, list(RelType), None
    )
    assert again.audit_entries() == first.audit_entries()
