"""An import pauses the cyclic garbage collector and always gives it back as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tracegraph import importer
from tracegraph.errors import InvalidImport, StoreError
from tracegraph.importer import import_records, read_jsonl
from tracegraph.store.base import WriteRequest
from tracegraph.store.embedded import EmbeddedStore

REQ = WriteRequest(actor="test", operation="import", source="MES", reason="gc test")
GOOD = [{"type": "Batch", "id": "B-1", "started_at": "2026-01-07"}]
BAD = [{"type": "Batch", "id": "B-2"}]


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def lines(records: list[dict[str, str]]) -> Iterator[bytes]:
    for record in records:
        assert not gc.isenabled(), "the collector runs during the import"
        yield orjson.dumps(record)


def test_the_collector_is_paused_during_an_import_and_resumed_after(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "s.tgdb")
    gc.enable()
    import_records(store, read_jsonl("good.jsonl", lines(GOOD)), REQ)
    assert gc.isenabled()
    with pytest.raises(InvalidImport):
        import_records(store, read_jsonl("bad.jsonl", lines(BAD)), REQ)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "s.tgdb")
    gc.disable()
    import_records(store, read_jsonl("good.jsonl", lines(GOOD)), REQ)
    assert not gc.isenabled()


def test_the_initial_load_of_neo4j_pauses_the_collector_and_gives_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole file is held until its CSV files are written: the collector must not walk
    it (a stand-in neo4j-admin here; tests/test_neo4j_load.py runs the real one)."""
    from tracegraph.store import neo4j_load

    data = tmp_path / "data.jsonl"
    data.write_bytes(b"\n".join(orjson.dumps(r) for r in GOOD) + b"\n")
    seen: list[bool] = []
    real_parse, real_csv = importer.parse, neo4j_load.write_csv

    def parse(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real_parse(*args, **kwargs)  # type: ignore[arg-type]

    def write_csv(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real_csv(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(neo4j_load, "parse", parse)
    monkeypatch.setattr(neo4j_load, "write_csv", write_csv)
    home = tmp_path / "home"
    home.mkdir()
    for code in (0, 1):
        admin = tmp_path / f"admin-{code}"
        admin.write_text(f"#!/bin/sh\nexit {code}\n")
        admin.chmod(0o755)
        gc.enable()
        if code:
            with pytest.raises(StoreError, match="neo4j-admin database import failed"):
                neo4j_load.initial_load([data], home, REQ, admin=[str(admin)])
        else:
            neo4j_load.initial_load([data], home, REQ, admin=[str(admin)])
        assert gc.isenabled()
    assert seen == [False] * 4
