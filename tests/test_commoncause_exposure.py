"""Common cause counts exposure per batch (commoncause.exposures), not per candidate: the
numbers must be those of one plain closure per candidate, whatever the data (devices installed
into devices of other batches, devices produced twice, chains and cycles of batches)."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.genealogy import genealogies, keys_of
from tracegraph.commoncause import (
    CANDIDATE_TYPES,
    P_DIGITS,
    common_cause,
    exposures,
    p_value,
    p_values,
    upstream_of_each,
)
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import (
    ENDPOINTS,
    GENEALOGY,
    MAKING,
    OUTPUT,
    Direction,
    EntityType,
    RelType,
    key_type,
)
from tracegraph.store.base import CountsExposure, GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore

REQ = WriteRequest(actor="test", operation="import", reason="exposure test")
E, R = EntityType, RelType


def _load(store: GraphStore, records: list[dict[str, Any]]) -> None:
    import_records(store, read_jsonl("exposure.jsonl", [orjson.dumps(r) for r in records]), REQ)


def _edges(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(r["type"], r["from"], r["to"]) for r in records if "from" in r]


def _plain_exposure(records: list[dict[str, Any]], seed: str, members: set[str] | None) -> int:
    """Devices downstream of the seed over genealogy edges: a BFS over the records."""
    genealogy = {str(r) for r in GENEALOGY}
    out: dict[str, list[str]] = {}
    for rel, src, dst in _edges(records):
        if rel in genealogy:
            out.setdefault(src, []).append(dst)
    seen: set[str] = set()
    todo = [seed]
    while todo:
        for nxt in out.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return sum(1 for k in seen if key_type(k) is E.Device and (members is None or k in members))


def _candidates(records: list[dict[str, Any]]) -> list[str]:
    return sorted(k for k in keys_of(records) if key_type(k) in CANDIDATE_TYPES)


@st.composite
def making_genealogies(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Random genealogies (INSTALLED_IN, Batch → Batch chains and cycles, devices of two
    batches) with processes and change orders on some batches: every candidate type."""
    records = draw(genealogies())
    batches = [k for k in keys_of(records) if key_type(k) is E.Batch]
    records += [
        {"type": "Process", "id": "PR0", "name": "SMT", "revision": "A"},
        {"type": "ChangeOrder", "id": "CO0", "kind": "design", "status": "implemented"},
    ]
    for rel, src in (("FOLLOWED", "Process:PR0"), ("IMPLEMENTED_IN", "ChangeOrder:CO0")):
        for batch in draw(st.lists(st.sampled_from(batches), unique=True, max_size=3)):
            records.append({"type": rel, "from": src, "to": batch})
    return records


# --------------------------------------------------------------------------- the model


def test_making_is_the_genealogy_upstream_of_the_devices() -> None:
    # The types at or after a device in the genealogy: a Device and what hangs off it.
    after = {E.Device}
    while True:
        more = {b for r in GENEALOGY for a, b in ENDPOINTS[r] if a in after} - after
        if not more:
            break
        after |= more
    # MAKING is every genealogy edge that touches none of them...
    assert set(MAKING) == {
        r for r in GENEALOGY if all(a not in after and b not in after for a, b in ENDPOINTS[r])
    }
    # ...and the only way in from the making side is PRODUCED, from a batch.
    into = {(r, a) for r in GENEALOGY for a, b in ENDPOINTS[r] if b in after and a not in after}
    assert into == {(R.PRODUCED, E.Batch)}
    # Every candidate type is on the making side.
    assert not CANDIDATE_TYPES & after


def test_output_edges_are_every_way_into_a_device() -> None:
    # Counting a candidate's devices as those its batches made relies on this: nothing else
    # leads into a device, so every device reached is made by a batch reached.
    into_devices = {r for r in GENEALOGY for _, b in ENDPOINTS[r] if b is E.Device}
    assert set(OUTPUT) == into_devices
    assert {a for r in OUTPUT for a, _ in ENDPOINTS[r]} == {E.Batch, E.Device}


# --------------------------------------------------------------------------- on each store

# Three generations of batches and serialised components installed across them:
#
#   S-1 ─ L-1 ─ B-SUB ─CONSUMED_IN─ B-MID ─CONSUMED_IN─ B-TOP
#   B-SUB ─ D-S1 D-S2;  B-MID ─ D-M1;  B-TOP ─ D-T1 D-T2
#   D-S1 ─INSTALLED_IN─ D-X1 (of B-OTHER);  D-X1 ─INSTALLED_IN─ D-T1
#   D-T2 is produced by B-TOP and by B-OTHER (a data error the count must survive)
#   B-C1 ⇄ B-C2 (a cycle) ─ D-C1 D-C2;  B-C2 ─CONSUMED_IN─ B-TOP
#   EQ-1 processed B-MID and B-C1; S-2 ─ L-2 ─ B-OTHER and B-C1
FIXED: list[dict[str, Any]] = [
    {"type": "Supplier", "id": "S-1", "name": "One"},
    {"type": "Supplier", "id": "S-2", "name": "Two"},
    {"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-01"},
    {"type": "MaterialLot", "id": "L-2", "received_at": "2026-01-01"},
    {"type": "Equipment", "id": "EQ-1", "name": "Oven"},
    *[
        {"type": "Batch", "id": b, "started_at": "2026-01-02"}
        for b in ("B-SUB", "B-MID", "B-TOP", "B-OTHER", "B-C1", "B-C2")
    ],
    *[
        {"type": "Device", "id": d, "manufactured_at": "2026-01-03"}
        for d in ("D-S1", "D-S2", "D-M1", "D-T1", "D-T2", "D-X1", "D-C1", "D-C2")
    ],
    *[
        {"type": rel, "from": src, "to": dst}
        for rel, src, dst in (
            ("SUPPLIED", "Supplier:S-1", "MaterialLot:L-1"),
            ("SUPPLIED", "Supplier:S-2", "MaterialLot:L-2"),
            ("CONSUMED_IN", "MaterialLot:L-1", "Batch:B-SUB"),
            ("CONSUMED_IN", "MaterialLot:L-2", "Batch:B-OTHER"),
            ("CONSUMED_IN", "MaterialLot:L-2", "Batch:B-C1"),
            ("CONSUMED_IN", "Batch:B-SUB", "Batch:B-MID"),
            ("CONSUMED_IN", "Batch:B-MID", "Batch:B-TOP"),
            ("CONSUMED_IN", "Batch:B-C1", "Batch:B-C2"),
            ("CONSUMED_IN", "Batch:B-C2", "Batch:B-C1"),
            ("CONSUMED_IN", "Batch:B-C2", "Batch:B-TOP"),
            ("PROCESSED", "Equipment:EQ-1", "Batch:B-MID"),
            ("PROCESSED", "Equipment:EQ-1", "Batch:B-C1"),
            ("PRODUCED", "Batch:B-SUB", "Device:D-S1"),
            ("PRODUCED", "Batch:B-SUB", "Device:D-S2"),
            ("PRODUCED", "Batch:B-MID", "Device:D-M1"),
            ("PRODUCED", "Batch:B-TOP", "Device:D-T1"),
            ("PRODUCED", "Batch:B-TOP", "Device:D-T2"),
            ("PRODUCED", "Batch:B-OTHER", "Device:D-T2"),
            ("PRODUCED", "Batch:B-OTHER", "Device:D-X1"),
            ("PRODUCED", "Batch:B-C1", "Device:D-C1"),
            ("PRODUCED", "Batch:B-C2", "Device:D-C2"),
            ("INSTALLED_IN", "Device:D-S1", "Device:D-X1"),
            ("INSTALLED_IN", "Device:D-X1", "Device:D-T1"),
        )
    ],
]
for _r in FIXED:
    if _r["type"] == "PROCESSED":
        _r["at"] = "2026-01-02"


class _WithoutCounts:
    """A store without the `CountsExposure` capability: every other primitive of ``inner``."""

    def __init__(self, inner: GraphStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in ("batch_exposure", "device_count"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def _without_counts(store: GraphStore) -> GraphStore:
    plain = cast(GraphStore, _WithoutCounts(store))
    assert not isinstance(plain, CountsExposure)
    return plain


def test_exposure_per_batch_equals_one_closure_per_candidate(store: GraphStore) -> None:
    _load(store, FIXED)
    candidates = _candidates(FIXED)
    got = exposures(store, candidates)
    assert got == store.reach(
        candidates, GENEALOGY, Direction.down, target=E.Device, each=True, count=True
    )
    # A store that cannot count the outputs itself gives the same numbers.
    assert exposures(_without_counts(store), candidates) == got
    assert got == {c: _plain_exposure(FIXED, c, None) for c in candidates}
    # Worked by hand: S-1 reaches B-SUB, B-MID, B-TOP: D-S1 D-S2 D-M1 D-T1 D-T2 and, through
    # the installations, D-X1; EQ-1 adds the cycle's D-C1 D-C2 to B-MID's D-M1 D-T1 D-T2.
    assert got["Supplier:S-1"] == 6
    assert got["Equipment:EQ-1"] == 5
    assert got["Batch:B-C2"] == got["Batch:B-C1"] == 4
    members = {"Device:D-T2", "Device:D-X1", "Device:D-C1", "Device:D-S2"}
    assert exposures(store, candidates, members) == {
        c: _plain_exposure(FIXED, c, members) for c in candidates
    }


def test_batch_exposure_numbers_each_seeds_batches_and_counts_what_they_make(
    store: GraphStore,
) -> None:
    """The capability itself, on each store (the sums over it are checked against plain counts
    above and below)."""
    _load(store, FIXED)
    assert isinstance(store, CountsExposure)
    batches = sorted(k for k in keys_of(FIXED) if key_type(k) is E.Batch)
    seeds = [*batches, "Supplier:S-1", "Equipment:EQ-1"]
    parts = store.batch_exposure([*seeds, "Batch:nope"])
    assert parts.batches.keys() == set(seeds)
    making = store.reach(seeds, MAKING, Direction.down, target=E.Batch, each=True)
    for seed in seeds:
        mine = making[seed] | ({seed} if key_type(seed) is E.Batch else set())
        assert len(parts.batches[seed]) == len(set(parts.batches[seed])) == len(mine), seed
    # Every batch is numbered once, and every device they make is counted once: by its batch
    # if only one reaches it, else in the group of those that do.
    assert sorted(set().union(*map(set, parts.batches.values()))) == list(range(len(batches)))
    assert len(parts.sole) == len(batches)
    made = set().union(*store.reach(batches, OUTPUT, Direction.down, each=True).values())
    assert sum(parts.sole) + sum(n for _, n in parts.groups) == len(made)
    assert all(len(set(b)) == len(b) >= 1 for b, _ in parts.groups)
    assert store.batch_exposure([]) == type(parts)({}, [], [])
    assert store.device_count() == len(store.keys_of_type(E.Device))


def _units_both_ways(store: GraphStore, cases: list[str]) -> dict[str, Any]:
    """Common cause among the units, counted in the store and listed (`units_of`): the same."""
    counted = common_cause(store, cases, units=True).as_json()
    assert common_cause(_without_counts(store), cases, units=True).as_json() == counted
    return counted


def test_units_counted_in_the_store_equal_the_units_listed(store: GraphStore) -> None:
    _load(store, FIXED)
    devices = sorted(k for k in keys_of(FIXED) if key_type(k) is E.Device)
    every = _units_both_ways(store, devices)
    # Every device is a case, so every device is a unit.
    assert every["units"] == every["population"] == len(devices)
    assert all(h["unit_exposure"] == h["exposure"] for h in every["ranking"])
    # D-S1 is installed in D-X1, and D-X1 in D-T1: no units, unless cases.
    some = _units_both_ways(store, ["Device:D-S1", "Device:D-T1", "Device:D-T2"])
    assert some["units"] == len(devices) - 1
    rank = {h["key"]: h for h in some["ranking"]}
    assert rank["Supplier:S-1"]["unit_exposure"] == rank["Supplier:S-1"]["exposure"] - 1
    # Asked again: remembered, the same.
    assert (
        common_cause(store, ["Device:D-S1", "Device:D-T1", "Device:D-T2"], units=True).as_json()
        == some
    )


def test_upstream_through_the_parents_equals_one_closure_per_case(store: GraphStore) -> None:
    _load(store, FIXED)
    devices = sorted(k for k in keys_of(FIXED) if key_type(k) is E.Device)
    plain = {
        d: up for d, up in store.reach(devices, GENEALOGY, Direction.up, each=True).items() if up
    }
    assert upstream_of_each(store, devices) == plain
    # D-T1 has two parents (its batch, and D-X1 installed in it, which holds D-S1 of B-SUB).
    assert {"Batch:B-TOP", "Device:D-X1", "Device:D-S1", "Batch:B-SUB", "Supplier:S-1"} <= plain[
        "Device:D-T1"
    ]


def test_exposure_of_an_unknown_or_idle_candidate_is_zero(store: GraphStore) -> None:
    _load(store, FIXED)
    _load(store, [{"type": "Supplier", "id": "S-idle", "name": "Idle"}])
    assert exposures(store, ["Supplier:S-idle", "Supplier:nope"]) == {
        "Supplier:S-idle": 0,
        "Supplier:nope": 0,
    }


def test_reach_per_seed_walks_the_making_edges_only(store: GraphStore) -> None:
    _load(store, FIXED)
    each = store.reach(
        ["Supplier:S-1", "Equipment:EQ-1", "nope:x"], MAKING, Direction.down, each=True
    )
    assert each == {
        "Supplier:S-1": {"MaterialLot:L-1", "Batch:B-SUB", "Batch:B-MID", "Batch:B-TOP"},
        "Equipment:EQ-1": {"Batch:B-MID", "Batch:B-TOP", "Batch:B-C1", "Batch:B-C2"},
    }
    # A family without a query of its own still answers, one closure per seed.
    up = store.reach(["Device:D-T1"], [R.INSTALLED_IN], Direction.up, each=True)
    assert up == {"Device:D-T1": {"Device:D-X1", "Device:D-S1"}}


# --------------------------------------------------------------------------- random data


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=making_genealogies(), data=st.data())
def test_exposure_equals_a_plain_count_on_random_genealogies(
    fresh_neo4j: Callable[[], Neo4jStore], records: list[dict[str, Any]], data: st.DataObject
) -> None:
    candidates = _candidates(records)
    devices = sorted(k for k in keys_of(records) if key_type(k) is E.Device)
    members = data.draw(st.none() | st.sets(st.sampled_from(devices)) if devices else st.none())
    expected = {c: _plain_exposure(records, c, members) for c in candidates}
    with tempfile.TemporaryDirectory() as tmp:
        embedded = EmbeddedStore(Path(tmp) / "s.tgdb")
        neo4j = fresh_neo4j()
        for store in (embedded, neo4j):
            _load(store, records)
            assert exposures(store, candidates, members) == expected, store.kind
            assert exposures(_without_counts(store), candidates, members) == expected, store.kind
            plain = {
                d: up
                for d, up in store.reach(devices, GENEALOGY, Direction.up, each=True).items()
                if up
            }
            assert upstream_of_each(store, devices) == plain, store.kind
            if members is None and len(devices) >= 2:
                cases = data.draw(st.lists(st.sampled_from(devices), min_size=2, unique=True))
                _units_both_ways(store, sorted(cases))
            if members is None:
                counted = store.reach(
                    candidates, GENEALOGY, Direction.down, target=E.Device, each=True, count=True
                )
                assert {c: counted.get(c, 0) for c in candidates} == expected, store.kind


# --------------------------------------------------------------------------- p-values


def _one_call(cases: int, exposure: int, population: int, total: int) -> float:
    """The p-value as it was computed before: one scipy call per candidate."""
    from scipy.stats import hypergeom

    p = float(hypergeom.sf(cases - 1, population, total, exposure))
    return float(f"{min(max(p, 0.0), 1.0):.{P_DIGITS}g}")


def test_vectorised_p_values_equal_one_call_each() -> None:
    rng = random.Random(7)
    for population, total in ((40, 9), (10_000, 1_000), (250_000, 3)):
        cases = [rng.randint(2, total) for _ in range(500)]
        exposed = [rng.randint(c, population) for c in cases]
        expected = [_one_call(c, e, population, total) for c, e in zip(cases, exposed, strict=True)]
        assert p_values(cases, exposed, population, total) == expected
        pairs = zip(cases, exposed, strict=True)
        assert [p_value(c, e, population, total) for c, e in pairs] == expected
    assert p_values([], [], 10, 2) == []


@pytest.mark.parametrize("threads", [2, 3])
def test_the_tail_split_between_threads_gives_the_same_values(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracegraph.commoncause as cc

    monkeypatch.setattr(cc, "_cores", lambda: threads)
    monkeypatch.setattr(cc, "PAIRS_PER_THREAD", 100)
    split = []
    real = ThreadPoolExecutor

    def counting(workers: int, **kwargs: Any) -> Any:
        split.append(workers)
        return real(workers, **kwargs)

    monkeypatch.setattr(cc, "ThreadPoolExecutor", counting)
    rng = random.Random(11)
    population, total = 100_000, 1_000  # Boost's slow, exact path: at most 104,729
    cases = [rng.randint(2, 40) for _ in range(700)]
    exposed = [rng.randint(c, 20_000) for c in cases]
    expected = [_one_call(c, e, population, total) for c, e in zip(cases, exposed, strict=True)]
    assert p_values(cases, exposed, population, total) == expected
    assert split == [threads]


@pytest.mark.parametrize("exposure", [2, 5, 40])
def test_p_value_edges_stay_in_range(exposure: int) -> None:
    (p,) = p_values([2], [exposure], 40, 9)
    assert 0.0 <= p <= 1.0
