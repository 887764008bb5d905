"""The bulk write's quick paths give what the record-by-record ones give.

A first import into an empty store takes shortcuts (the write plan made whole, rows zipped from
columns, the edges' identities joined into one text to sort, the digest encoded from the change
tuples as they are). Each is held here to the general path it stands for: the same plan, the
same rows in the tables, the same order, the same digest.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from tracegraph import importer
from tracegraph.errors import StoreError
from tracegraph.generate import generate
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import Edge, EntityType, Node, RelType, utc
from tracegraph.store.base import Change, WriteRequest, changes_digest, plan_write
from tracegraph.store.embedded import EmbeddedStore

REQ = WriteRequest(actor="test", operation="import", source="test")


def lines(devices: int = 40) -> list[bytes]:
    return [orjson.dumps(r) for r in generate(devices, 3)]


def rows(path: Path) -> Any:
    """The tables as a reader sees them, times aside (they differ from write to write)."""
    db = sqlite3.connect(path)
    try:
        return (
            db.execute("SELECT id, key, props, typeof(props), a FROM node ORDER BY id").fetchall(),
            db.execute(
                "SELECT src, fam, type, dst, props, typeof(props), a FROM edge "
                "ORDER BY src, fam, type, dst"
            ).fetchall(),
            db.execute(
                "SELECT dst, fam, type, src FROM edge INDEXED BY edge_in "
                "ORDER BY dst, fam, type, src"
            ).fetchall(),
        )
    finally:
        db.close()


def test_the_plan_made_whole_is_the_plan_made_record_by_record() -> None:
    parsed = importer.parse(read_jsonl("g.jsonl", lines()))
    nodes = [parsed.nodes[k] for k in sorted(parsed.nodes)]
    edges = importer._in_ident_order(parsed.edges)
    quick = plan_write(nodes, edges, {}, {})
    # a stored record that is not in this write sends each list down the loop
    slow = plan_write(nodes, edges, {"Supplier:elsewhere": {}}, {("X", "a", "b"): {}})
    assert quick.changes == slow.changes
    assert (quick.node_creates, quick.edge_creates) == (slow.node_creates, slow.edge_creates)
    assert quick.summary().as_json() == slow.summary().as_json()


def test_edges_sort_by_their_identity_as_tuples_do() -> None:
    # ids that are prefixes of one another, and hold characters that sort before "-" and ":"
    ids = ["B", "B-1", "B 1", "B!", "B-10", "B:1", "B\u00e9", "B\U0001f600", "B-1 "]
    edges: dict[tuple[str, str, str], Edge] = {
        (rel, src, dst): Edge(rel, src, dst)
        for rel in (RelType.SHIPPED_IN, RelType.DELIVERED_TO)
        for src in (f"Device:{i}" for i in ids)
        for dst in (f"Shipment:{i}" for i in ids)
    }
    assert [e.ident for e in importer._in_ident_order(edges)] == sorted(edges)


def test_a_first_import_writes_the_rows_the_general_path_writes(tmp_path: Path) -> None:
    data = lines()
    first = EmbeddedStore(tmp_path / "first.tgdb")
    import_records(first, read_jsonl("g.jsonl", data), REQ)
    first.close()
    # the same import into a store that holds one unrelated node (id 1): not empty, so the
    # ends are gathered, the store is read and the reverse index grows row by row
    general = EmbeddedStore(tmp_path / "general.tgdb")
    general.write([Node(EntityType.Supplier, "elsewhere")], [], REQ)
    import_records(general, read_jsonl("g.jsonl", data), REQ)
    general.close()
    a, b = rows(tmp_path / "first.tgdb"), rows(tmp_path / "general.tgdb")
    shift = 1
    assert [(i + shift, *rest[:3]) for i, *rest in a[0]] == [r[:4] for r in b[0][1:]]
    assert [(s + shift, f, t, d + shift, p, k) for s, f, t, d, p, k, _ in a[1]] == [
        r[:6] for r in b[1]
    ]
    assert len(a[2]) == len(b[2]) == len(a[1])


def test_a_write_with_an_end_that_is_nowhere_is_refused_into_an_empty_store(
    tmp_path: Path,
) -> None:
    store = EmbeddedStore(tmp_path / "store.tgdb")
    lot = Node(EntityType.MaterialLot, "L-1", {"received_at": utc("2026-01-05")})
    loose = Edge(RelType.CONSUMED_IN, "MaterialLot:L-1", "Batch:B-9")
    with pytest.raises(StoreError, match=r"CONSUMED_IN:MaterialLot:L-1->Batch:B-9: an endpoint"):
        store.write([lot], [loose], REQ)
    assert store.existing(["MaterialLot:L-1"]) == set()


def test_the_digest_of_mappings_other_than_dicts_is_that_of_dicts() -> None:
    at = dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)
    before = {"quantity": 1.0}
    after = {"quantity": 2.0, "received_at": at}
    plain: list[Change] = [("MaterialLot:L-1", "update", before, after)]
    proxied: list[Change] = [
        ("MaterialLot:L-1", "update", MappingProxyType(before), MappingProxyType(after))
    ]
    assert changes_digest(proxied) == changes_digest(plain)
