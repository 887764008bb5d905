"""An import pauses the cyclic garbage collector and always gives it back as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tracegraph.errors import InvalidImport
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
