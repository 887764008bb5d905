"""Differential test: on random genealogies the embedded store and Neo4j answer identically."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.genealogy import genealogies, keys_of
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import GENEALOGY, Direction
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore
from tracegraph.trace import trace

REQ = WriteRequest(actor="hypothesis", operation="import")


def _load(store: GraphStore, records: list[dict[str, Any]]) -> None:
    import_records(store, read_jsonl("random.jsonl", [orjson.dumps(r) for r in records]), REQ)


def _answers(store: GraphStore, starts: list[str], depth: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for start in starts:
        for direction in Direction:
            out[f"trace {start} {direction} {depth}"] = trace(
                store, start, direction, depth
            ).as_json()
            out[f"reach {start} {direction}"] = sorted(store.reach([start], GENEALOGY, direction))
    out["reach all"] = sorted(store.reach(starts, GENEALOGY, Direction.down))
    out["hop"] = [e.as_json() for e in store.hop(starts, GENEALOGY, Direction.up)]
    out["among"] = [e.as_json() for e in store.edges_among(starts, GENEALOGY)]
    nodes = store.nodes(starts)
    out["nodes"] = {k: v.as_json() for k, v in sorted(nodes.items())}
    return out


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=genealogies(), data=st.data())
def test_stores_agree_on_random_genealogies(
    fresh_neo4j: Callable[[], Neo4jStore], records: list[dict[str, Any]], data: st.DataObject
) -> None:
    keys = keys_of(records)
    starts = data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True))
    depth = data.draw(st.none() | st.integers(min_value=1, max_value=4))
    with tempfile.TemporaryDirectory() as tmp:
        embedded = EmbeddedStore(Path(tmp) / "s.tgdb")
        neo4j = fresh_neo4j()
        _load(embedded, records)
        _load(neo4j, records)
        assert _answers(embedded, starts, depth) == _answers(neo4j, starts, depth)
