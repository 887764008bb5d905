"""As of: a store read at a past time answers as the store knew it then, on both stores.

Times come from the audit entries (`entry.at` is the time its records were recorded), never
from sleeping.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.cli import run
from tests.support.genealogy import genealogies, keys_of
from tests.test_store_contract import LINES
from tracegraph import queries
from tracegraph.commoncause import exposures
from tracegraph.errors import BadInput, NotFound
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import GENEALOGY, MAKING, Direction, EntityType, RelType, iso
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore
from tracegraph.trace import trace

REQ = WriteRequest(actor="test", operation="import", reason="as-of test")

#: The update after the first answers: a field changed on a node and on an edge, a new node
#: with an edge, and a new edge between two nodes that were there before.
UPDATE: list[dict[str, Any]] = [
    {"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-05", "quantity": 80},
    {"type": "CONSUMED_IN", "from": "MaterialLot:L-1", "to": "Batch:SUB-1", "quantity": 25},
    {"type": "Device", "id": "D-3", "manufactured_at": "2026-01-09"},
    {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-3"},
    {"type": "SHIPPED_IN", "from": "Device:D-2", "to": "Shipment:SH-1"},
]


def load(store: GraphStore, records: list[dict[str, Any]]) -> dt.datetime:
    """Import, and return the time the store recorded the write at."""
    import_records(store, read_jsonl("data.jsonl", [orjson.dumps(r) for r in records]), REQ)
    return store.audit_entries()[-1].at


def answers(store: GraphStore) -> dict[str, Any]:
    """Every read primitive, and trace, over the contract genealogy."""
    keys = ["Supplier:S-1", "MaterialLot:L-1", "Batch:B-1", "Device:D-2", "Device:D-3"]
    out: dict[str, Any] = {
        "trace down": trace(store, "Supplier:S-1", Direction.down).as_json(),
        "trace up": trace(store, "Shipment:SH-1", Direction.up).as_json(),
        "trace depth": trace(store, "MaterialLot:L-1", Direction.down, 2).as_json(),
        "existing": sorted(store.existing(keys)),
        "nodes": {k: n.as_json() for k, n in sorted(store.nodes(keys).items())},
        "keys": store.keys_of_type(EntityType.Device),
        "edges": [e.as_json() for e in store.edges(keys, GENEALOGY, Direction.down)],
        "edges up": [e.as_json() for e in store.edges(["Shipment:SH-1"], GENEALOGY, Direction.up)],
        "reach": sorted(store.reach(["MaterialLot:L-1"], GENEALOGY, Direction.down)),
        "reach depth": sorted(store.reach(["Supplier:S-1"], GENEALOGY, Direction.down, depth=4)),
        "reach up": sorted(store.reach(["Shipment:SH-1"], GENEALOGY, Direction.up)),
        "among": [e.as_json() for e in store.edges([*keys, "Batch:SUB-1"], GENEALOGY, None)],
        "each": {
            k: sorted(v)
            for k, v in store.reach(
                [*keys, "Shipment:SH-1"], GENEALOGY, Direction.up, each=True
            ).items()
        },
        "count": store.reach(
            keys, GENEALOGY, Direction.down, target=EntityType.Device, each=True, count=True
        ),
        "count up": store.reach(
            ["Shipment:SH-1"],
            GENEALOGY,
            Direction.up,
            target=EntityType.Device,
            each=True,
            count=True,
        ),
    }
    return out


def test_as_of_before_an_update_gives_the_first_answers(store: GraphStore) -> None:
    t1 = load(store, LINES)
    first = answers(store)
    t2 = load(store, UPDATE)
    assert t2 > t1
    now = answers(store)
    # The update changes every answer the view is checked on, or the test would prove nothing.
    assert {k for k in first if first[k] != now[k]} == set(first) - {"trace depth"}
    view = store.at(t1)
    assert answers(view) == first
    assert answers(store.at(t2)) == now
    # Between the two writes the store knew the first state.
    assert answers(store.at(t1 + (t2 - t1) / 2)) == first


def test_as_of_shows_each_record_in_the_version_it_had_then(store: GraphStore) -> None:
    t1 = load(store, LINES)
    t2 = load(store, UPDATE)
    t3 = load(
        store, [{"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-05", "quantity": 60}]
    )
    quantities = {}
    for when in (t1, t2, t3):
        lot = store.at(when).nodes(["MaterialLot:L-1"])["MaterialLot:L-1"]
        quantities[when] = (lot.props["quantity"], [v.props["quantity"] for v in lot.history])
        assert lot.recorded_at == when
    assert quantities == {t1: (100.0, []), t2: (80.0, [100.0]), t3: (60.0, [100.0, 80.0])}
    (edge,) = store.at(t1).edges(["MaterialLot:L-1"], [RelType.CONSUMED_IN], Direction.down)
    assert edge.props == {"quantity": 20.0}
    (edge,) = store.at(t2).edges(["MaterialLot:L-1"], [RelType.CONSUMED_IN], Direction.down)
    assert edge.props == {"quantity": 25.0}


def test_records_created_after_the_time_do_not_exist(store: GraphStore) -> None:
    t1 = load(store, LINES)
    load(store, UPDATE)
    view = store.at(t1)
    assert view.existing(["Device:D-3", "Device:D-2"]) == {"Device:D-2"}
    assert view.nodes(["Device:D-3"]) == {}
    assert view.reach(["Device:D-3"], GENEALOGY, Direction.up, each=True) == {}
    assert "Device:D-3" not in view.keys_of_type(EntityType.Device)
    with pytest.raises(NotFound, match="Device:D-3"):
        trace(view, "Device:D-3", Direction.up)
    assert [e.seq for e in view.audit_entries()] == [1]
    assert {r.ident for r in view.versions()} == {r.ident for r in store.at(t1).versions()}
    assert "Device:D-3" not in {r.ident for r in view.versions()}
    (lot,) = view.versions(["MaterialLot:L-1"])
    assert [v.props["quantity"] for v in lot.versions] == [100.0]


def test_before_the_first_write_the_store_was_empty(store: GraphStore) -> None:
    t1 = load(store, LINES)
    view = store.at(t1 - dt.timedelta(microseconds=1))
    assert view.existing(["Supplier:S-1"]) == set()
    assert view.keys_of_type(EntityType.Supplier) == []
    assert view.reach(["Supplier:S-1"], GENEALOGY, Direction.down) == set()
    assert view.audit_entries() == []
    assert list(view.versions()) == []


def test_a_view_refuses_writes_and_never_moves_later(store: GraphStore) -> None:
    t1 = load(store, LINES)
    t2 = load(store, UPDATE)
    view = store.at(t1)
    with pytest.raises(BadInput, match="an as-of view is read-only"):
        view.write([], [], REQ)
    assert [e.seq for e in store.audit_entries()] == [1, 2]
    assert view.at(t2).existing(["Device:D-3"]) == set()  # at() of a view: the earlier time
    assert view.at(t1 - dt.timedelta(seconds=1)).existing(["Device:D-2"]) == set()
    assert view.describe()["as_of"] == iso(t1)


def test_a_view_of_a_past_time_is_stable_across_later_writes(store: GraphStore) -> None:
    t1 = load(store, LINES)
    view = store.at(t1)
    first = answers(view)
    load(store, UPDATE)
    assert answers(view) == first


def test_naive_times_are_read_as_utc(store: GraphStore) -> None:
    t1 = load(store, LINES)
    load(store, UPDATE)
    naive = t1.astimezone(dt.UTC).replace(tzinfo=None)
    assert store.at(naive).existing(["Device:D-3"]) == set()
    assert store.at(naive).existing(["Device:D-2"]) == {"Device:D-2"}


def test_where_used_closure_as_of(store: GraphStore) -> None:
    t1 = load(
        store,
        [
            {"type": "Material", "id": "M-1", "name": "Capacitor"},
            {"type": "Product", "id": "P-1", "name": "Board"},
            {"type": "Product", "id": "P-2", "name": "Monitor"},
            {"type": "COMPONENT_OF", "from": "Material:M-1", "to": "Product:P-1"},
        ],
    )
    load(store, [{"type": "COMPONENT_OF", "from": "Product:P-1", "to": "Product:P-2"}])
    down = [RelType.COMPONENT_OF]
    assert store.reach(["Material:M-1"], down, Direction.down) == {"Product:P-1", "Product:P-2"}
    assert store.at(t1).reach(["Material:M-1"], down, Direction.down) == {"Product:P-1"}
    assert store.at(t1).reach(["Product:P-2"], down, Direction.up) == set()


# --------------------------------------------------------------------------- random genealogies


def _split(records: list[dict[str, Any]], cut: int) -> tuple[list[Any], list[Any]]:
    """The first ``cut`` nodes and the edges among them; then everything else."""
    nodes = [r for r in records if "id" in r]
    early = {f"{r['type']}:{r['id']}" for r in nodes[:cut]}
    first = [
        r
        for r in records
        if ("id" in r and f"{r['type']}:{r['id']}" in early)
        or ("from" in r and r["from"] in early and r["to"] in early)
    ]
    rest = [r for r in records if r not in first]
    return first, rest


def _random_answers(store: GraphStore, starts: list[str]) -> dict[str, Any]:
    known = sorted(store.existing(starts))
    out: dict[str, Any] = {"known": known}
    for start in known:
        for direction in Direction:
            out[f"trace {start} {direction}"] = trace(store, start, direction).as_json()
    out["reach"] = sorted(store.reach(starts, GENEALOGY, Direction.down, depth=2))
    for direction in Direction:
        out[f"links {direction}"] = sorted(store.edges(starts, GENEALOGY, direction, props=False))
    out["nodes"] = {k: n.as_json() for k, n in sorted(store.nodes(starts).items())}
    out["each"] = {
        k: sorted(v) for k, v in store.reach(starts, GENEALOGY, Direction.down, each=True).items()
    }
    batches = store.reach(starts, MAKING, Direction.down, target=EntityType.Batch, each=True)
    out["each batch"] = {k: sorted(v) for k, v in batches.items()}
    out["count"] = store.reach(
        starts, GENEALOGY, Direction.up, target=EntityType.Batch, each=True, count=True
    )
    # Exposures go through output_each where the store has it, else through reach: both
    # paths must count alike, live and as of a time.
    out["exposures"] = exposures(store, starts)
    out["batches"] = store.keys_of_type(EntityType.Batch)
    return out


def _as_of_matches_a_store_that_only_had_the_first_part(
    make: Callable[[Path], GraphStore], records: list[dict[str, Any]], data: st.DataObject
) -> None:
    nodes = keys_of(records)
    first, rest = _split(records, data.draw(st.integers(min_value=1, max_value=len(nodes))))
    starts = data.draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=3, unique=True))
    # A changed field on a node of the first part, written with the rest.
    changed = {**first[0], "attributes": {"revised": True}}
    with tempfile.TemporaryDirectory() as tmp:
        only_first = EmbeddedStore(Path(tmp) / "first.tgdb")
        load(only_first, first)
        store = make(Path(tmp))
        t1 = load(store, first)
        load(store, [*rest, changed])
        assert _random_answers(store.at(t1), starts) == _random_answers(only_first, starts)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=genealogies(), data=st.data())
def test_embedded_as_of_equals_the_store_before_the_later_writes(
    records: list[dict[str, Any]], data: st.DataObject
) -> None:
    _as_of_matches_a_store_that_only_had_the_first_part(
        lambda tmp: EmbeddedStore(tmp / "store.tgdb"), records, data
    )


@pytest.mark.neo4j
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=genealogies(), data=st.data())
def test_neo4j_as_of_equals_the_store_before_the_later_writes(
    fresh_neo4j: Callable[[], Neo4jStore], records: list[dict[str, Any]], data: st.DataObject
) -> None:
    _as_of_matches_a_store_that_only_had_the_first_part(lambda _: fresh_neo4j(), records, data)


# --------------------------------------------------------------------------- Neo4j plans

_CLOSURES = sorted(
    n for n in queries.load_all() if n.endswith("_as_of") and n.startswith(("reach", "count"))
)


@pytest.mark.neo4j
@pytest.mark.parametrize("name", _CLOSURES)
def test_as_of_closures_stay_a_pruning_breadth_first_expand(
    neo4j_store: Neo4jStore, name: str
) -> None:
    # On a store with data: the plan depends on the statistics, and an empty store can hide a
    # bad one.
    load(neo4j_store, LINES)
    load(neo4j_store, UPDATE)
    query = queries.get(name)
    params = {p: None for p in query.params} | {"seeds": ["x"]}
    result = neo4j_store.driver.execute_query("EXPLAIN " + query.text, params)

    def operators(plan: dict[str, Any]) -> list[tuple[str, str]]:
        found = [(str(plan["operatorType"]), str(plan.get("args", {}).get("Details", "")))]
        for child in plan.get("children", []):
            found += operators(child)
        return found

    assert result.summary.plan is not None
    expands = [d for op, d in operators(result.summary.plan) if op.startswith("VarLengthExpand")]
    assert len(expands) == 1, expands
    (details,) = expands
    # The time filter is evaluated inside the expand, not on the paths it produced.
    assert re.search(r"WHERE all\(\w+ IN relationships\(\w+\) WHERE \w+\._c <= \$as_of\)", details)
    ops = [op for op, _ in operators(result.summary.plan)]
    assert any(op.startswith("VarLengthExpand(Pruning,BFS") for op in ops), ops


# --------------------------------------------------------------------------- CLI


def test_cli_trace_as_of(tmp_path: Path, cli_db: tuple[str, dict[str, str]]) -> None:
    db, env = cli_db
    first_file = tmp_path / "first.jsonl"
    first_file.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in LINES))
    update_file = tmp_path / "update.jsonl"
    update_file.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in UPDATE))

    def trace_json(*extra: str) -> Any:
        out = run("trace", "Batch:B-1", "--db", db, "--format", "json", *extra, env=env)
        assert out.exit_code == 0, out.stderr
        return orjson.loads(out.stdout)

    assert run("import", str(first_file), "--db", db, env=env).exit_code == 0
    before = trace_json()
    assert run("import", str(update_file), "--db", db, env=env).exit_code == 0
    after = trace_json()
    assert {n["key"] for n in after["nodes"]} - {n["key"] for n in before["nodes"]} == {
        "Device:D-3"
    }
    log = run("audit", "log", "Batch:B-1", "--db", db, "--format", "json", env=env)
    (created,) = orjson.loads(log.stdout)["versions"]
    t1 = created["at"]  # the time of the first write, as the audit trail tells it
    assert trace_json("--as-of", t1) == before
    assert trace_json("--as-of", "2099-01-01") == after
    gone = run("trace", "Batch:B-1", "--db", db, "--as-of", "2000-01-01", env=env)
    # Not unknown: it did not exist yet, and the message says since when it does.
    assert gone.exit_code == 2
    assert gone.stderr == (
        "tracegraph: Batch:B-1: not in the store as of 2000-01-01T00:00:00Z; it was first "
        f"recorded {created['at']}\n"
    )
    bad = run("trace", "Batch:B-1", "--db", db, "--as-of", "yesterday", env=env)
    assert bad.exit_code == 2
    assert bad.stderr.startswith("tracegraph: ")
    assert len(bad.stderr.splitlines()) == 1
    # audit log takes --as-of too: the lot's history as known at t1 has one version.
    lot = run(
        "audit", "log", "MaterialLot:L-1", "--db", db, "--as-of", t1, "--format", "json", env=env
    )
    assert [v["change"] for v in orjson.loads(lot.stdout)["versions"]] == ["create"]
