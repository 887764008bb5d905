"""Differential test: on random genealogies the embedded store and Neo4j answer identically.

Every method of the store protocol is compared: the writes' summaries, every read primitive
(`edges` each way and among a set, with and without properties; `reach` whole, depth-limited,
cut to a type, per seed and counted per seed, over several edge families), the audit chain and
the kept versions, an as-of view between two writes (which must answer as the same store did
live at that time), and the API key ring. Times differ between the stores, so each is compared
as the audit entry it belongs to.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.genealogy import FIELDS, genealogies, keys_of
from tracegraph.errors import BadInput, StoreError
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import (
    GENEALOGY,
    MAKING,
    OUTPUT,
    Direction,
    EntityType,
    RelType,
    iso,
)
from tracegraph.store.base import (
    GENESIS,
    ApiKeyRecord,
    GraphStore,
    RecordVersions,
    StoredNode,
    Version,
    WriteRequest,
    edge_ident,
)
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore
from tracegraph.trace import trace

FIRST = WriteRequest(actor="hypothesis", operation="import", source="random", reason="first")
REST = WriteRequest(actor="hypothesis", operation="import")

#: The walks compared: each family with a closure file of its own on Neo4j, in the directions
#: it has one, and one without (a walk a level at a time, as every depth-limited walk is).
WALKS: tuple[tuple[str, tuple[RelType, ...], Direction], ...] = (
    ("genealogy", GENEALOGY, Direction.down),
    ("genealogy", GENEALOGY, Direction.up),
    ("making", MAKING, Direction.down),
    ("output", OUTPUT, Direction.down),
    ("installed", (RelType.INSTALLED_IN,), Direction.up),
)

#: The types the random genealogies hold, and one they never do.
TYPES = (*(EntityType(t) for t in FIELDS), EntityType.Product)

UNKNOWN = "Batch:nope"


def _load(store: GraphStore, records: list[dict[str, Any]], request: WriteRequest) -> Any:
    lines = [orjson.dumps(r) for r in records]
    return import_records(store, read_jsonl("random.jsonl", lines), request).summary.as_json()


def _split(records: list[dict[str, Any]], cut: int) -> tuple[list[Any], list[Any]]:
    """The first ``cut`` nodes and the edges among them; then everything else, with a field
    changed on the first node (so the second write updates a record as well as adding)."""
    nodes = [r for r in records if "id" in r]
    early = {f"{r['type']}:{r['id']}" for r in nodes[:cut]}
    first = [
        r
        for r in records
        if ("id" in r and f"{r['type']}:{r['id']}" in early)
        or ("from" in r and r["from"] in early and r["to"] in early)
    ]
    rest = [r for r in records if r not in first]
    return first, [*rest, {**first[0], "attributes": {"revised": True}}]


def _props(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: iso(v) for k, v in sorted(props.items())}


class _Answers:
    """Every read of one store (or view), with its times given as audit sequence numbers."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.seq_at = {e.at: e.seq for e in store.audit_entries()}

    def versions(self, versions: Iterable[Version]) -> list[Any]:
        return [(v.audit_seq, self.seq_at[v.recorded_at], _props(v.props)) for v in versions]

    def node(self, node: StoredNode) -> dict[str, Any]:
        return {
            **node.as_json(),
            "created": self.seq_at[node.created_at],
            "recorded": self.seq_at[node.recorded_at],
            "audit_seq": node.audit_seq,
            "history": self.versions(node.history),
        }

    def record(self, record: RecordVersions) -> dict[str, Any]:
        return {
            "created": self.seq_at[record.created_at],
            "versions": self.versions(record.versions),
        }

    def all(self, starts: list[str], depth: int | None, target: EntityType) -> dict[str, Any]:
        store = self.store
        seeds = [*starts, UNKNOWN]
        out: dict[str, Any] = {}
        for start in starts:
            for direction in Direction:
                if store.existing([start]):
                    out[f"trace {start} {direction} {depth}"] = trace(
                        store, start, direction, depth
                    ).as_json()
                out[f"reach {start} {direction}"] = sorted(
                    store.reach([start], GENEALOGY, direction)
                )
        out["existing"] = sorted(store.existing(seeds))
        out["nodes"] = {k: self.node(n) for k, n in sorted(store.nodes(seeds).items())}
        out["keys"] = {str(t): store.keys_of_type(t) for t in TYPES}

        every = list(RelType)
        for way in (Direction.down, Direction.up, None):
            for name, types in (("genealogy", GENEALOGY), ("every", every)):
                out[f"edges {name} {way}"] = [e.as_json() for e in store.edges(seeds, types, way)]
                out[f"links {name} {way}"] = sorted(store.edges(seeds, types, way, props=False))
        out["edges of none"] = store.edges([], GENEALOGY, Direction.down)

        # Each answer with and without a depth and a target type; not every combination of
        # the two with every answer, which would double the round trips for little.
        for name, types, direction in WALKS:
            at = f"{name} {direction}"
            for hops, cut in ((None, None), (depth, target)):
                out[f"union {at} {hops} {cut}"] = sorted(
                    store.reach(seeds, types, direction, depth=hops, target=cut)
                )
                counts = store.reach(
                    seeds, types, direction, depth=hops, target=cut, each=True, count=True
                )
                out[f"count {at} {hops} {cut}"] = counts
            for hops, cut in ((None, target), (depth, None)):
                each = store.reach(seeds, types, direction, depth=hops, target=cut, each=True)
                out[f"each {at} {hops} {cut}"] = {k: sorted(v) for k, v in sorted(each.items())}
        out["reach of none"] = (
            store.reach([], GENEALOGY, Direction.down),
            store.reach([], GENEALOGY, Direction.down, each=True),
            store.reach([], GENEALOGY, Direction.down, each=True, count=True),
        )

        entries = store.audit_entries()
        out["audit"] = [
            {
                **{k: v for k, v in e.as_json().items() if k not in ("at", "prev_hash", "hash")},
                "chained": e.prev_hash == (entries[i - 1].hash if i else GENESIS),
            }
            for i, e in enumerate(entries)
        ]
        out["versions"] = {r.ident: self.record(r) for r in store.versions()}
        idents = [
            *seeds,
            *(edge_ident(e) for e in store.edges(seeds, every, Direction.down)),
            "SUPPLIED:Supplier:nope->MaterialLot:nope",
        ]
        out["versions of some"] = [(r.ident, self.record(r)) for r in store.versions(idents)]
        return out


def _write_and_read(
    store: GraphStore,
    first: list[dict[str, Any]],
    rest: list[dict[str, Any]],
    read: Callable[[GraphStore], dict[str, Any]],
) -> dict[str, Any]:
    """Write the two parts, reading after each, and read again as of a time between them."""
    out: dict[str, Any] = {"first write": _load(store, first, FIRST)}
    out["after the first"] = read(store)
    t1 = store.audit_entries()[-1].at
    out["second write"] = _load(store, rest, REST)
    out["after the second"] = read(store)
    t2 = store.audit_entries()[-1].at
    assert t2 > t1
    view = store.at(t1 + (t2 - t1) / 2)
    assert view.describe()["as_of"] == iso(t1 + (t2 - t1) / 2)
    view.ping()
    # As of a time between the writes: what the store answered live then.
    assert read(view) == out["after the first"], store.kind
    return out


def _keys(store: GraphStore) -> list[Any]:
    """Keep two keys, revoke one (twice: the first time stays), read them back."""
    made = dt.datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    ring = store.keyring
    one = ApiKeyRecord("k1", "MES line 1", "integrator", "a" * 64, made)
    two = ApiKeyRecord("k2", "QA", "auditor", "b" * 64, made + dt.timedelta(seconds=1))
    ring.add(two)
    ring.add(one)
    with pytest.raises(StoreError, match="already stored"):
        ring.add(one)
    first = ring.revoke("k1", made + dt.timedelta(days=1))
    again = ring.revoke("k1", made + dt.timedelta(days=2))
    view = store.at(dt.datetime.now(dt.UTC))
    assert view.keyring.all() == ring.all()
    with pytest.raises(BadInput, match="read-only"):
        view.keyring.add(ApiKeyRecord("k3", "late", "admin", "c" * 64, made))
    with pytest.raises(BadInput, match="read-only"):
        view.keyring.revoke("k2", made)
    return [
        [k.as_json() | {"sha256": k.sha256} for k in ring.all()],
        first,
        again,
        ring.revoke("nope", made),
    ]


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
    target = data.draw(st.sampled_from([EntityType.Device, EntityType.Batch, EntityType.Supplier]))
    first, rest = _split(records, data.draw(st.integers(min_value=1, max_value=len(keys))))

    def read(store: GraphStore) -> dict[str, Any]:
        return _Answers(store).all(starts, depth, target)

    with tempfile.TemporaryDirectory() as tmp:
        embedded = EmbeddedStore(Path(tmp) / "s.tgdb")
        neo4j = fresh_neo4j()
        answers = [_write_and_read(store, first, rest, read) for store in (embedded, neo4j)]
        assert answers[0] == answers[1]
        assert _keys(embedded) == _keys(neo4j)
        for store in (embedded, neo4j):
            store.ping()
            assert store.describe()["kind"] == store.kind
