"""`audit verify` in bounded memory: the store is read a page at a time, and each entry's
changes are put in digest order through a sort that spills to a temporary file.

The answers must not depend on how the work is cut: a page of two records and a sort of two
rows in memory answer, on every store, intact or broken, what one page and one sort do.
Tampering goes behind the store's back as in tests/test_audit.py.
"""

from __future__ import annotations

import json
import random
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.embedded import rewrite
from tests.test_audit import (
    _add_record,
    _backdate_record,
    _delete_record,
    _edit_current_lot_quantity,
    _edit_edge_field,
    _edit_kept_lot_version,
    _renumber_version,
    cypher,
    delete_entry,
    edit_entry,
    load,
    node_of,
    three_writes,
)
from tracegraph import audit
from tracegraph.audit import VerifyResult, verify
from tracegraph.errors import BadInput
from tracegraph.generate import generate
from tracegraph.importer import import_records, read_jsonl
from tracegraph.store.base import (
    AuditEntry,
    GraphStore,
    PagesVersions,
    RecordVersions,
    WriteRequest,
    digest_rows,
    every_version,
)
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore

DAVE = WriteRequest(actor="dave", operation="import", source="QMS", reason="second recount")

#: A fourth write: the lot and its consumption changed again (three versions each), and the
#: new device's date.
AGAIN: list[dict[str, Any]] = [
    {"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-05", "quantity": 60},
    {"type": "CONSUMED_IN", "from": "MaterialLot:L-1", "to": "Batch:SUB-1", "quantity": 30},
    {"type": "Device", "id": "D-3", "manufactured_at": "2026-01-10"},
]

#: The smallest cut: two records a page, two change rows in memory before the sort spills.
TINY = {"page_size": 2, "sort_rows": 2}


def four_writes(store: GraphStore) -> list[AuditEntry]:
    three_writes(store)
    load(store, AGAIN, DAVE)
    entries = store.audit_entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    return entries


def same(whole: VerifyResult, cut: VerifyResult) -> None:
    assert cut.as_json() == whole.as_json()
    assert cut.message() == whole.message()


# --------------------------------------------------------------------------- intact


def test_a_store_of_several_writes_verifies_the_same_in_tiny_pages(store: GraphStore) -> None:
    four_writes(store)
    whole = verify(store)
    assert whole.intact, whole.message()
    assert whole.entries == 4
    # L-1 and its CONSUMED_IN edge have three versions each, D-3 two.
    assert whole.versions == whole.records + 5
    for page_size, sort_rows in [(2, 2), (1, 1), (3, 5), (1000, 3)]:
        same(whole, verify(store, page_size=page_size, sort_rows=sort_rows))


def test_the_store_reads_its_versions_in_pages_of_the_size_asked(store: GraphStore) -> None:
    four_writes(store)
    assert isinstance(store, PagesVersions)
    whole = sorted((r.ident, r.versions) for r in store.versions())
    for size in (1, 2, 5):
        assert sorted((r.ident, r.versions) for r in every_version(store, size)) == whole
    with pytest.raises(BadInput, match="page size 0: must be 1 or more"):
        every_version(store, 0)
    with pytest.raises(BadInput, match="sort rows 0: must be 1 or more"):
        verify(store, sort_rows=0)


def test_neo4j_asks_for_pages_of_the_size_given(
    neo4j_store: Neo4jStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    four_writes(neo4j_store)
    limits: list[int] = []
    edges_held: list[int] = []
    read = neo4j_store._read

    def spy(name: str, **params: Any) -> Any:
        rows = read(name, **params)
        if name == "record_page":
            limits.append(params["limit"])
        elif name == "record_edges":
            edges_held.append(sum(len(r["out"]) for r in rows))
        elif name == "record_edge_page":
            assert params["limit"] == 2
            edges_held.append(len(rows))
        return rows

    monkeypatch.setattr(neo4j_store, "_read", spy)
    result = verify(neo4j_store, **TINY)
    assert result.intact, result.message()
    # 12 nodes two at a time: six full pages and an empty one.
    assert limits == [2] * 7
    # Their edges come two at most, those of Batch:B-1 (three) a page at a time.
    assert sum(edges_held) == result.records - 12
    assert max(edges_held) == 2


def test_verify_as_of_in_tiny_pages(store: GraphStore) -> None:
    entries = four_writes(store)
    for entry in entries:
        view = store.at(entry.at)
        whole = verify(view)
        assert whole.intact, whole.message()
        assert whole.entries == entry.seq
        same(whole, verify(view, **TINY))


class _VersionsOnly:
    """A store that can only list its versions whole: `every_version`'s fallback."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store

    def audit_entries(self) -> list[AuditEntry]:
        return self.store.audit_entries()

    def versions(self, idents: Any = None) -> Iterator[RecordVersions]:
        return self.store.versions(idents)


def test_a_store_without_pages_is_verified_from_its_whole_list(
    embedded_store: EmbeddedStore,
) -> None:
    four_writes(embedded_store)
    plain: Any = _VersionsOnly(embedded_store)
    assert not isinstance(plain, PagesVersions)
    same(verify(embedded_store), verify(plain, **TINY))


# --------------------------------------------------------------------------- tampering


def _delete_kept_version(store: GraphStore) -> None:
    """L-1's first version (written by entry 1) taken out of its kept history."""
    if isinstance(store, EmbeddedStore):
        rewrite(store, lambda d: node_of(d, "MaterialLot:L-1")["h"].pop(0))
        return
    cypher(store, "MATCH (n:Node {key: 'MaterialLot:L-1'}) SET n._h = n._h[1..]")


def _reorder_kept_versions(store: GraphStore) -> None:
    """L-1's two kept versions swapped. The embedded store keeps them by entry, so there the
    swap is of what each says (its entry and time stay with its place)."""
    if isinstance(store, EmbeddedStore):

        def change(d: dict[str, Any]) -> None:
            kept = node_of(d, "MaterialLot:L-1")["h"]
            kept[0]["p"], kept[1]["p"] = kept[1]["p"], kept[0]["p"]

        rewrite(store, change)
        return
    (rec,) = cypher(store, "MATCH (n:Node {key: 'MaterialLot:L-1'}) RETURN n._h AS h")
    kept = [json.loads(v) for v in rec["h"]]
    cypher(
        store,
        "MATCH (n:Node {key: 'MaterialLot:L-1'}) SET n._h = $h",
        h=[json.dumps(v) for v in reversed(kept)],
    )


def _edit_middle_version(store: GraphStore) -> None:
    """The consumption's version written by entry 2, now kept, edited."""
    if isinstance(store, EmbeddedStore):

        def change(d: dict[str, Any]) -> None:
            edge = next(
                e
                for e in d["edges"]
                if (e["t"], e["s"], e["d"]) == ("CONSUMED_IN", "MaterialLot:L-1", "Batch:SUB-1")
            )
            edge["h"][1]["p"]["quantity"] = 7.0

        rewrite(store, change)
        return
    (rec,) = cypher(
        store,
        "MATCH (:Node {key: 'MaterialLot:L-1'})-[r:CONSUMED_IN]->(:Node {key: 'Batch:SUB-1'}) "
        "RETURN r._h AS h",
    )
    kept = [json.loads(v) for v in rec["h"]]
    kept[1]["p"]["quantity"] = 7.0
    cypher(
        store,
        "MATCH (:Node {key: 'MaterialLot:L-1'})-[r:CONSUMED_IN]->(:Node {key: 'Batch:SUB-1'}) "
        "SET r._h = $h",
        h=[json.dumps(v) for v in kept],
    )


def _edit_entry_actor(store: GraphStore) -> None:
    edit_entry(store, 2, "actor", "mallory")


def _delete_last_entry(store: GraphStore) -> None:
    delete_entry(store, 4)


@pytest.mark.parametrize(
    ("tamper", "seq"),
    [
        (_edit_current_lot_quantity, 4),
        (_edit_kept_lot_version, 1),
        (_edit_edge_field, 1),
        (_delete_record, 3),
        (_add_record, 1),
        (_backdate_record, 3),
        (_renumber_version, 2),
        (_delete_kept_version, 1),
        (_reorder_kept_versions, 1),
        (_edit_middle_version, 2),
        (_edit_entry_actor, 2),
        (_delete_last_entry, 4),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else str(v),
)
def test_tampering_is_named_the_same_in_tiny_pages(
    store: GraphStore, tamper: Callable[[GraphStore], None], seq: int
) -> None:
    four_writes(store)
    tamper(store)
    whole = verify(store)
    assert whole.broken is not None, "tampering went unnoticed"
    assert whole.broken.seq == seq, whole.message()
    same(whole, verify(store, **TINY))


# --------------------------------------------------------------------------- the sort


def _rows(count: int, rnd: random.Random) -> list[tuple[int, str, bytes]]:
    """Change rows in no order, with identities that sort differently as UTF-8 bytes and as
    UTF-16 (a character beyond the BMP against one near its end), and repeated identities
    (which keep the order they came in)."""
    names = ["Batch:B-1", "Batch:B-1 ", "Batch:B-1+", "Batch:é", "Batch:\uffff", "Batch:\U0001d11e"]
    names += ["CONSUMED_IN:Batch:B-1->Device:D-1", "Device:D-2", "Device:D-10"]
    return [(rnd.randint(1, 4), rnd.choice(names), f'["{i}"]'.encode()) for i in range(count)]


@pytest.mark.parametrize("limit", [1, 2, 7, 1000])
def test_the_sort_gives_digest_order_at_any_memory_limit(limit: int) -> None:
    rows = _rows(300, random.Random(limit))
    with audit._ChangeSort(limit) as changes:
        for row in rows:
            changes.add(*row)
        ordered = list(changes.ordered())
        assert changes.most_held <= limit
    want = sorted(rows, key=lambda r: (r[0], r[1]))  # stable: ties in the order they came
    assert ordered == [(seq, row) for seq, _, row in want]
    digests = audit._digests(ordered, {1, 2, 3})
    for seq in (1, 2, 3):
        expected = digest_rows([(i, row) for s, i, row in rows if s == seq])
        assert digests[seq] == expected
    assert 4 not in digests


def test_the_sort_leaves_no_file_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    with audit._ChangeSort(2) as changes:
        for row in _rows(10, random.Random(1)):
            changes.add(*row)
        assert list(tmp_path.iterdir()), "ten rows with two in memory: the sort spilled"
        assert len(list(changes.ordered())) == 10
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- memory


def _generated(path: Path, devices: int) -> EmbeddedStore:
    store = EmbeddedStore(path)
    lines = [orjson.dumps(r) for r in generate(devices, 7)]
    import_records(store, read_jsonl("generated.jsonl", lines), DAVE)
    return store


def _peak(store: GraphStore) -> tuple[int, VerifyResult]:
    tracemalloc.start()
    try:
        result = verify(store, page_size=100, sort_rows=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


def test_verify_holds_the_same_memory_for_a_store_15_times_larger(tmp_path: Path) -> None:
    small = _generated(tmp_path / "small.tgdb", 20)
    large = _generated(tmp_path / "large.tgdb", 2000)
    _peak(small)  # the first run fills the caches a process keeps (types, compiled patterns)
    small_peak, small_result = _peak(small)
    large_peak, large_result = _peak(large)
    assert small_result.intact
    assert large_result.intact
    assert large_result.versions > 14 * small_result.versions
    # Held whole, the change rows alone would take ~15 times the small store's.
    assert large_peak < 2 * small_peak, (small_peak, large_peak)
