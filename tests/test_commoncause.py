"""Common cause (PRODUCT.md §4): exact answers on a hand-built genealogy, on both stores.

Expected p-values are computed here from the definition with math.comb (not with scipy, which
the service uses), and the expected cases and exposures are worked out by hand from SCENARIO.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import sqlite3
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from cli.main import app
from tests.support.genealogy import genealogies, keys_of
from tracegraph.commoncause import (
    REMEMBERED,
    CommonCauseResult,
    benjamini_hochberg,
    common_cause,
)
from tracegraph.demo import SUPPLIER, SUSPECT_LOT, load_demo
from tracegraph.errors import BadInput, NotFound
from tracegraph.importer import import_records, read_jsonl
from tracegraph.store.base import EXPOSURE_STAMPED, CountsExposure, GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore

REQ = WriteRequest(actor="test", operation="import", reason="common-cause test")


def _node(type_: str, id_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": id_, **fields}


def _edge(type_: str, src: str, dst: str) -> dict[str, Any]:
    return {"type": type_, "from": src, "to": dst}


# Two suppliers, three lots, four batches of two products, ten devices, five complaints:
#
#   S-A ─ L-1 ─┬─ B-1 (+ EQ-1) ─ D-1 D-2 D-3          product P-X: B-1, B-2
#              └─ B-2 ───────── D-4 D-5
#   S-A ─ L-2 ─── B-3 (+ CO-1) ─ D-6 D-7 D-8          product P-Y: B-3, B-4
#   S-B ─ L-3 ─┬─ B-2, B-3
#              └─ B-4 ───────── D-9 D-10
#   PR-1 ─ every batch;  Material M-1 ─ every lot (not a candidate type)
#
# Complaints: C-1 on D-1 (malfunction, 03-01 10:00), C-5 on D-2 (other, 03-02),
# C-2 on D-2 (serious_injury, 03-05), C-3 on D-4 (malfunction, 03-10 23:30),
# C-4 on D-6 (malfunction, 04-01).
SCENARIO: list[dict[str, Any]] = [
    _node("Supplier", "S-A", name="Alpha Passives"),
    _node("Supplier", "S-B", name="Beta Boards"),
    _node("Material", "M-1", name="Capacitor"),
    _node("MaterialLot", "L-1", received_at="2026-01-02"),
    _node("MaterialLot", "L-2", received_at="2026-01-03"),
    _node("MaterialLot", "L-3", received_at="2026-01-04"),
    _node("Equipment", "EQ-1", name="Solder station 1"),
    _node("Process", "PR-1", name="SMT", revision="A"),
    _node("ChangeOrder", "CO-1", kind="design", status="implemented", title="Rev B"),
    _node("Product", "P-X", name="Monitor X"),
    _node("Product", "P-Y", name="Monitor Y"),
    *[_node("Batch", f"B-{i}", started_at=f"2026-02-0{i}") for i in range(1, 5)],
    *[_node("Device", f"D-{i}", manufactured_at="2026-02-10") for i in range(1, 11)],
    _node("Complaint", "C-1", reported_at="2026-03-01T10:00:00Z", severity="malfunction"),
    _node("Complaint", "C-2", reported_at="2026-03-05T08:00:00Z", severity="serious_injury"),
    _node("Complaint", "C-3", reported_at="2026-03-10T23:30:00Z", severity="malfunction"),
    _node("Complaint", "C-4", reported_at="2026-04-01T09:00:00Z", severity="malfunction"),
    _node("Complaint", "C-5", reported_at="2026-03-02T12:00:00Z", severity="other"),
    _edge("SUPPLIED", "Supplier:S-A", "MaterialLot:L-1"),
    _edge("SUPPLIED", "Supplier:S-A", "MaterialLot:L-2"),
    _edge("SUPPLIED", "Supplier:S-B", "MaterialLot:L-3"),
    *[_edge("HAS_LOT", "Material:M-1", f"MaterialLot:L-{i}") for i in (1, 2, 3)],
    _edge("CONSUMED_IN", "MaterialLot:L-1", "Batch:B-1"),
    _edge("CONSUMED_IN", "MaterialLot:L-1", "Batch:B-2"),
    _edge("CONSUMED_IN", "MaterialLot:L-2", "Batch:B-3"),
    _edge("CONSUMED_IN", "MaterialLot:L-3", "Batch:B-2"),
    _edge("CONSUMED_IN", "MaterialLot:L-3", "Batch:B-3"),
    _edge("CONSUMED_IN", "MaterialLot:L-3", "Batch:B-4"),
    {**_edge("PROCESSED", "Equipment:EQ-1", "Batch:B-1"), "at": "2026-02-01T09:00:00Z"},
    *[_edge("FOLLOWED", "Process:PR-1", f"Batch:B-{i}") for i in range(1, 5)],
    _edge("IMPLEMENTED_IN", "ChangeOrder:CO-1", "Batch:B-3"),
    _edge("HAS_BATCH", "Product:P-X", "Batch:B-1"),
    _edge("HAS_BATCH", "Product:P-X", "Batch:B-2"),
    _edge("HAS_BATCH", "Product:P-Y", "Batch:B-3"),
    _edge("HAS_BATCH", "Product:P-Y", "Batch:B-4"),
    *[_edge("PRODUCED", "Batch:B-1", f"Device:D-{i}") for i in (1, 2, 3)],
    *[_edge("PRODUCED", "Batch:B-2", f"Device:D-{i}") for i in (4, 5)],
    *[_edge("PRODUCED", "Batch:B-3", f"Device:D-{i}") for i in (6, 7, 8)],
    *[_edge("PRODUCED", "Batch:B-4", f"Device:D-{i}") for i in (9, 10)],
    _edge("HAS_COMPLAINT", "Device:D-1", "Complaint:C-1"),
    _edge("HAS_COMPLAINT", "Device:D-2", "Complaint:C-2"),
    _edge("HAS_COMPLAINT", "Device:D-4", "Complaint:C-3"),
    _edge("HAS_COMPLAINT", "Device:D-6", "Complaint:C-4"),
    _edge("HAS_COMPLAINT", "Device:D-2", "Complaint:C-5"),
]


def load(store: GraphStore, records: list[dict[str, Any]]) -> None:
    import_records(store, read_jsonl("data.jsonl", [orjson.dumps(r) for r in records]), REQ)


@pytest.fixture
def scenario(store: GraphStore) -> GraphStore:
    load(store, SCENARIO)
    return store


def upper_tail(k: int, n: int, big_k: int, big_n: int) -> float:
    """P(X >= k) for X ~ Hypergeometric(N = big_n, K = big_k, n draws), from the definition."""
    hits = sum(math.comb(big_k, i) * math.comb(big_n - big_k, n - i) for i in range(k, n + 1))
    return hits / math.comb(big_n, n)


def rows(result: CommonCauseResult) -> list[tuple[str, int, int]]:
    return [(h["key"], h["cases"], h["exposure"]) for h in result.as_json()["ranking"]]


def check_statistics(result: CommonCauseResult) -> None:
    """Every ranked entry's rate and p-value follow from its counts and the population."""
    out = result.as_json()
    total, population = len(out["cases"]), out["population"]
    for h in out["ranking"]:
        assert h["cases"] == len(h["case_devices"]) >= 2
        assert set(h["case_devices"]) <= set(out["cases"])
        assert h["rate"] == h["cases"] / h["exposure"]
        expected = upper_tail(h["cases"], h["exposure"], total, population)
        assert h["p_value"] == pytest.approx(expected, rel=1e-9, abs=1e-15)


# --------------------------------------------------------------------------- exact answers


def test_all_complaint_devices_give_the_hand_computed_ranking(scenario: GraphStore) -> None:
    result = common_cause(scenario)
    out = result.as_json()
    # D-2 has two complaints but is one case.
    assert out["cases"] == ["Device:D-1", "Device:D-2", "Device:D-4", "Device:D-6"]
    assert (out["population"], out["population_scope"]) == (10, "all devices")
    # K = 4 cases in N = 10 devices. L-1: 3 of its 5 devices (66/252); S-A: 4 of 8 (15/45);
    # B-1 and EQ-1: 2 of 3 (40/120); L-3 and S-B: 2 of 7 (116/120); PR-1: 4 of all 10 (1).
    # B-2, B-3, L-2 and CO-1 reach one case each and are not ranked; Material is no candidate.
    # Ties on p sort by more cases, then higher rate, then key.
    assert rows(result) == [
        ("MaterialLot:L-1", 3, 5),
        ("Supplier:S-A", 4, 8),
        ("Batch:B-1", 2, 3),
        ("Equipment:EQ-1", 2, 3),
        ("MaterialLot:L-3", 2, 7),
        ("Supplier:S-B", 2, 7),
        ("Process:PR-1", 4, 10),
    ]
    p = {h["key"]: h["p_value"] for h in out["ranking"]}
    assert p["MaterialLot:L-1"] == pytest.approx(66 / 252, rel=1e-12)
    assert p["Supplier:S-A"] == pytest.approx(1 / 3, rel=1e-12)
    assert p["Batch:B-1"] == p["Equipment:EQ-1"] == p["Supplier:S-A"]
    assert p["MaterialLot:L-3"] == pytest.approx(116 / 120, rel=1e-12)
    assert p["Process:PR-1"] == 1.0
    check_statistics(result)
    first = out["ranking"][0]
    assert first["case_devices"] == ["Device:D-1", "Device:D-2", "Device:D-4"]
    assert first["rate"] == 3 / 5
    names = {h["key"]: h["name"] for h in out["ranking"]}
    assert names["Supplier:S-A"] == "Alpha Passives"
    assert names["MaterialLot:L-1"] is None
    assert out["counts"] == {
        "cases": 4,
        "population": 10,
        "complaints": 5,
        # B-1 B-2 B-3 L-1 L-2 L-3 S-A S-B EQ-1 PR-1 CO-1
        "upstream": 11,
        "ranked": 7,
    }
    assert out["filters"] == {
        "devices": None,
        "severity": None,
        "product": None,
        "from": None,
        "to": None,
    }


def test_units_add_figures_and_change_none(scenario: GraphStore) -> None:
    plain = common_cause(scenario).as_json()
    assert "units" not in plain
    assert "unit_exposure" not in plain["ranking"][0]
    among = common_cause(scenario, units=True).as_json()
    # Nothing is installed in another device: every device is a unit, every figure the same.
    assert among["units"] == among["counts"]["units"] == among["population"] == 10
    assert [h["key"] for h in among["ranking"]] == [h["key"] for h in plain["ranking"]]
    for before, after in zip(plain["ranking"], among["ranking"], strict=True):
        assert {k: after[k] for k in before} == before
        assert after["unit_exposure"] == after["exposure"]
        assert after["unit_p_value"] == after["p_value"]
        assert after["unit_rate"] == after["rate"]


def test_severity_filter_picks_the_cases_and_drops_entities_reaching_one(
    scenario: GraphStore,
) -> None:
    result = common_cause(scenario, severity="malfunction")
    out = result.as_json()
    assert out["cases"] == ["Device:D-1", "Device:D-4", "Device:D-6"]
    # B-1 and EQ-1 now reach only D-1: excluded.
    assert {k for k, _, _ in rows(result)} == {
        "MaterialLot:L-1",
        "Supplier:S-A",
        "MaterialLot:L-3",
        "Supplier:S-B",
        "Process:PR-1",
    }
    assert dict((k, (c, e)) for k, c, e in rows(result)) == {
        "MaterialLot:L-1": (2, 5),
        "Supplier:S-A": (3, 8),
        "MaterialLot:L-3": (2, 7),
        "Supplier:S-B": (2, 7),
        "Process:PR-1": (3, 10),
    }
    assert out["counts"]["complaints"] == 3
    check_statistics(result)


def test_product_filter_narrows_population_cases_and_exposure(scenario: GraphStore) -> None:
    for given_as in ("P-X", "Product:P-X"):
        result = common_cause(scenario, product=given_as)
        out = result.as_json()
        assert (out["population"], out["population_scope"]) == (5, "Product:P-X")
        assert out["cases"] == ["Device:D-1", "Device:D-2", "Device:D-4"]  # D-6 is a P-Y
        # S-A reaches 8 devices in all but only 5 of P-X; L-3 and S-B reach one P-X case.
        # B-1, EQ-1: 2 of 3 with K = 3, N = 5: (C(3,2)C(2,1) + C(3,3)) / C(5,3) = 7/10.
        # L-1, PR-1, S-A hold the whole population: p = 1, tied, so by key.
        assert rows(result) == [
            ("Batch:B-1", 2, 3),
            ("Equipment:EQ-1", 2, 3),
            ("MaterialLot:L-1", 3, 5),
            ("Process:PR-1", 3, 5),
            ("Supplier:S-A", 3, 5),
        ]
        assert out["ranking"][0]["p_value"] == pytest.approx(7 / 10, rel=1e-12)
        assert [h["p_value"] for h in out["ranking"][2:]] == [1.0, 1.0, 1.0]
        assert out["counts"]["complaints"] == 4  # C-1, C-2, C-5 on D-1/D-2 and C-3 on D-4
        check_statistics(result)


def test_window_is_inclusive_at_both_ends(scenario: GraphStore) -> None:
    utc = dt.UTC
    result = common_cause(
        scenario,
        start=dt.datetime(2026, 3, 2, 12, tzinfo=utc),
        end=dt.datetime(2026, 3, 10, 23, 30, tzinfo=utc),
    )
    out = result.as_json()
    # C-5 (03-02 12:00) and C-3 (03-10 23:30) sit exactly on the bounds; C-1 is before.
    assert out["cases"] == ["Device:D-2", "Device:D-4"]
    assert out["counts"]["complaints"] == 3
    assert rows(result) == [
        ("MaterialLot:L-1", 2, 5),
        ("Supplier:S-A", 2, 8),
        ("Process:PR-1", 2, 10),
    ]
    assert out["filters"]["from"] == "2026-03-02T12:00:00Z"
    check_statistics(result)


def test_listed_devices_are_the_cases(scenario: GraphStore) -> None:
    result = common_cause(scenario, ["Device:D-10", "Device:D-9", "Device:D-9"])
    out = result.as_json()
    assert out["cases"] == ["Device:D-10", "Device:D-9"]
    assert rows(result)[0] == ("Batch:B-4", 2, 2)
    assert out["ranking"][0]["p_value"] == pytest.approx(1 / 45, rel=1e-12)  # 1 / C(10, 2)
    assert {k for k, _, _ in rows(result)} == {
        "Batch:B-4",
        "MaterialLot:L-3",
        "Supplier:S-B",
        "Process:PR-1",
    }
    assert out["counts"]["complaints"] == 0
    assert out["filters"]["devices"] == ["Device:D-10", "Device:D-9"]
    check_statistics(result)


def test_listed_devices_within_a_product(scenario: GraphStore) -> None:
    out = common_cause(scenario, ["Device:D-9", "Device:D-10"], product="P-Y").as_json()
    assert out["population"] == 5
    # Within P-Y, L-3 and S-B reach D-6..D-10 (5 devices), not B-2's.
    assert {h["key"]: h["exposure"] for h in out["ranking"]}["Supplier:S-B"] == 5
    with pytest.raises(BadInput, match=r"Device:D-1: not a device of Product:P-Y"):
        common_cause(scenario, ["Device:D-1", "Device:D-9"], product="P-Y")


@pytest.mark.parametrize(
    ("kwargs", "cases"),
    [
        ({"severity": "death"}, 0),
        ({"severity": "serious_injury"}, 1),
        ({"devices": ["Device:D-3"]}, 1),
    ],
)
def test_fewer_than_two_cases_is_an_explicit_empty_ranking(
    scenario: GraphStore, kwargs: dict[str, Any], cases: int
) -> None:
    out = common_cause(scenario, **kwargs).as_json()
    assert out["ranking"] == []
    assert out["counts"] == {
        "cases": cases,
        "population": 10,
        "complaints": cases if "severity" in kwargs else 0,
        "upstream": 0,
        "ranked": 0,
    }


def test_an_empty_store_is_an_empty_answer(store: GraphStore) -> None:
    out = common_cause(store).as_json()
    assert out["cases"] == []
    assert out["ranking"] == []
    assert out["population"] == 0
    assert set(out["counts"].values()) == {0}


def test_cases_sharing_nothing_of_a_candidate_type_rank_nothing(store: GraphStore) -> None:
    # Two devices from two batches whose only common ancestor is a Material.
    load(
        store,
        [
            _node("Material", "M-1", name="Capacitor"),
            _node("MaterialLot", "L-1", received_at="2026-01-01"),
            _node("MaterialLot", "L-2", received_at="2026-01-01"),
            _node("Batch", "B-1", started_at="2026-01-02"),
            _node("Batch", "B-2", started_at="2026-01-02"),
            _node("Device", "D-1", manufactured_at="2026-01-03"),
            _node("Device", "D-2", manufactured_at="2026-01-03"),
            _edge("HAS_LOT", "Material:M-1", "MaterialLot:L-1"),
            _edge("HAS_LOT", "Material:M-1", "MaterialLot:L-2"),
            _edge("CONSUMED_IN", "MaterialLot:L-1", "Batch:B-1"),
            _edge("CONSUMED_IN", "MaterialLot:L-2", "Batch:B-2"),
            _edge("PRODUCED", "Batch:B-1", "Device:D-1"),
            _edge("PRODUCED", "Batch:B-2", "Device:D-2"),
        ],
    )
    out = common_cause(store, ["Device:D-1", "Device:D-2"]).as_json()
    assert out["ranking"] == []
    assert out["counts"]["upstream"] == 4  # L-1, L-2, B-1, B-2, each reaching one case


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"devices": ["Device:D-99"]}, NotFound, r"^Device:D-99: no such node"),
        ({"devices": ["Batch:B-1"]}, BadInput, r"^Batch:B-1: not a Device"),
        ({"devices": ["D-1"]}, BadInput, r"not a key"),
        ({"devices": ["Gadget:G-1"]}, BadInput, r"unknown type 'Gadget'"),
        ({"severity": "fatal"}, BadInput, r"^severity 'fatal': not one of death, serious_inj"),
        ({"product": "P-Z"}, NotFound, r"^Product:P-Z: no such product"),
        ({"product": "Supplier:S-A"}, BadInput, r"a Supplier, not a Product"),
        ({"devices": ["Device:D-1"], "severity": "other"}, BadInput, r"not both"),
        (
            {
                "start": dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
                "end": dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
            },
            BadInput,
            r"is after",
        ),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    scenario: GraphStore, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        common_cause(scenario, **kwargs)


# --------------------------------------------------------------------------- round trips


class CountingStore:
    """A store proxy that counts calls to each primitive; `reach` per seed as "reach each",
    and per seed counted as "reach count"."""

    def __init__(self, inner: GraphStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            kind = "count" if kwargs.get("count") else "each" if kwargs.get("each") else None
            self.calls[f"{name} {kind}" if kind else name] += 1
            return attr(*args, **kwargs)

        return counted


def fan(n: int) -> list[dict[str, Any]]:
    """n lots of one supplier, each into its own batch of two complaint devices, plus one
    device without a complaint: 2n + 2 candidates (lots, batches, supplier, process)."""
    records: list[dict[str, Any]] = [
        _node("Supplier", "S-1", name="Acme"),
        _node("Process", "PR-1", name="SMT", revision="A"),
        _node("Product", "P-1", name="Monitor"),
        _node("Device", "D-idle", manufactured_at="2026-02-01"),
    ]
    for i in range(n):
        lot, batch = f"MaterialLot:L-{i}", f"Batch:B-{i}"
        records += [
            _node("MaterialLot", f"L-{i}", received_at="2026-01-01"),
            _node("Batch", f"B-{i}", started_at="2026-01-02"),
            _edge("SUPPLIED", "Supplier:S-1", lot),
            _edge("CONSUMED_IN", lot, batch),
            _edge("FOLLOWED", "Process:PR-1", batch),
            _edge("HAS_BATCH", "Product:P-1", batch),
        ]
        for j in range(2):
            device, complaint = f"D-{i}-{j}", f"C-{i}-{j}"
            records += [
                _node("Device", device, manufactured_at="2026-01-03"),
                _node("Complaint", complaint, reported_at="2026-03-01", severity="malfunction"),
                _edge("PRODUCED", batch, f"Device:{device}"),
                _edge("HAS_COMPLAINT", f"Device:{device}", f"Complaint:{complaint}"),
            ]
    return records


def _round_trips(
    store: GraphStore, n: int, monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> tuple[Counter[str], int, int]:
    load(store, fan(n))
    queries = Counter[str]()
    if isinstance(store, Neo4jStore):  # count the real queries too
        real_read = store._read

        def read(name: str, **params: Any) -> Any:
            queries[name] += 1
            return real_read(name, **params)

        monkeypatch.setattr(store, "_read", read)
    counting = CountingStore(store)
    out = common_cause(cast(GraphStore, counting), **kwargs).as_json()
    monkeypatch.undo()
    return counting.calls, out["counts"]["ranked"], sum(queries.values())


@pytest.mark.parametrize("kwargs", [{}, {"product": "P-1"}], ids=["all", "product"])
def test_store_round_trips_do_not_grow_with_the_candidates(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any]
) -> None:
    small, small_ranked, small_queries = _round_trips(store, 3, monkeypatch, **kwargs)
    if isinstance(store, Neo4jStore):
        store.clear()
    else:
        store = EmbeddedStore(cast(EmbeddedStore, store).path.with_name("big.tgdb"))
    big, big_ranked, big_queries = _round_trips(store, 30, monkeypatch, **kwargs)
    assert (small_ranked, big_ranked) == (2 * 3 + 2, 2 * 30 + 2)
    assert small == big
    # With a product: its batches and their devices (2 hops), the complaints (1), the cases'
    # parents (1), three closures, the product and the ranked names (2), one key check (1).
    assert sum(big.values()) <= 11
    assert big["edges"] <= 4
    # One walk upstream from all the cases' parents; for the exposures, one call for every
    # candidate's batches and what they make (on Neo4j two queries: the making walk and the
    # batches' outputs, counted where they are), or, with a product, two closures (one over
    # the making edges for all the candidates, one for all their batches).
    capable = isinstance(store, CountsExposure)
    assert big["upstream_each"] == (1 if capable else 0)
    if "product" in kwargs or not capable:
        assert (big["reach each"], big["batch_exposure"]) == (2 if capable else 3, 0)
    else:
        assert (big["reach each"], big["batch_exposure"]) == (0, 1)
    assert big["reach count"] == 0
    assert small_queries == big_queries


def _counting_exposures(store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The seeds of every `CountsExposure.batch_exposure` the store is asked for, in order."""
    assert isinstance(store, CountsExposure)
    seen: list[list[str]] = []
    real = store.batch_exposure

    def counted(seeds: Any, **kwargs: Any) -> Any:
        seen.append(sorted(seeds))
        return real(seeds, **kwargs)

    monkeypatch.setattr(store, "batch_exposure", counted)
    return seen


def _exposure_of(answer: dict[str, Any]) -> dict[str, int]:
    return {h["key"]: h["exposure"] for h in answer["ranking"]}


def _other(store: GraphStore, request: pytest.FixtureRequest) -> GraphStore:
    """A second connection to the same store, as another process would open it."""
    if isinstance(store, Neo4jStore):
        server = request.getfixturevalue("neo4j_server")
        return Neo4jStore(server.uri, server.user, server.password)
    return EmbeddedStore(cast(EmbeddedStore, store).path)


def _analysed_fan(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[list[str]], dict[str, Any]]:
    """`fan` (3) loaded and analysed once: the seeds counted so far, and the answer."""
    load(store, fan(3))
    seen = _counting_exposures(store, monkeypatch)
    return seen, common_cause(store).as_json()


def test_exposures_are_counted_once_per_state_of_the_store(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    seen, first = _analysed_fan(store, monkeypatch)
    assert seen == [sorted(h["key"] for h in first["ranking"])]
    # Unchanged store: the same answer, nothing counted again, also for a subset of the cases.
    assert common_cause(store).as_json() == first
    few = common_cause(store, ["Device:D-0-0", "Device:D-0-1"]).as_json()
    assert len(seen) == 1
    assert _exposure_of(few) == {
        k: v for k, v in _exposure_of(first).items() if k in _exposure_of(few)
    }
    # A write through another connection to the same store: the next analysis counts again
    # (the embedded store grew the exposures it keeps in that write: nothing to count).
    other = _other(store, request)
    try:
        load(
            other,
            [
                _node("Device", "D-new", manufactured_at="2026-01-03"),
                _edge("PRODUCED", "Batch:B-0", "Device:D-new"),
            ],
        )
    finally:
        other.close()
    after = _exposure_of(common_cause(store).as_json())
    assert len(seen) == (1 if isinstance(store, EmbeddedStore) else 2)
    grown = {"Batch:B-0", "MaterialLot:L-0", "Supplier:S-1", "Process:PR-1"}
    assert after == {k: v + (k in grown) for k, v in _exposure_of(first).items()}


def test_a_write_that_creates_no_exposure_edge_keeps_the_exposures(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    seen, first = _analysed_fan(store, monkeypatch)
    # Through another connection: a complaint on the idle device, a device no batch made yet,
    # a changed field of a case device. Cases and population move; no exposure does.
    other = _other(store, request)
    try:
        load(
            other,
            [
                _node("Complaint", "C-idle", reported_at="2026-03-02", severity="malfunction"),
                _edge("HAS_COMPLAINT", "Device:D-idle", "Complaint:C-idle"),
                _node("Device", "D-late", manufactured_at="2026-02-02"),
                _node("Device", "D-0-0", manufactured_at="2026-01-04"),
            ],
        )
        kept = common_cause(store).as_json()
        assert len(seen) == 1  # nothing counted again
        assert (kept["population"], len(kept["cases"])) == (first["population"] + 1, 7)
        REMEMBERED.forget(store)
        assert common_cause(store).as_json() == kept  # the same as counted afresh
        assert len(seen) == 2
        # An edge an exposure is counted over, between devices already there: counted again.
        load(other, [_edge("INSTALLED_IN", "Device:D-0-0", "Device:D-1-0")])
    finally:
        other.close()
    after = _exposure_of(common_cause(store).as_json())
    assert len(seen) == 3
    assert after["Batch:B-0"] == _exposure_of(kept)["Batch:B-0"] + 1


def test_the_embedded_stamp_stands_at_the_head_where_a_writer_did_not_keep_it(
    tmp_path: Path,
) -> None:
    store = EmbeddedStore(tmp_path / "s.tgdb")
    n = iter(range(100))

    def complain() -> None:
        i = next(n)
        load(store, [_node("Complaint", f"C-x{i}", reported_at="2026-03-02", severity="other"),
                     _edge("HAS_COMPLAINT", "Device:D-idle", f"Complaint:C-x{i}")])  # fmt: skip

    def install() -> None:
        i = next(n)
        load(store, [_node("Device", f"D-x{i}", manufactured_at="2026-02-02"),
                     _edge("INSTALLED_IN", "Device:D-0-0", f"Device:D-x{i}")])  # fmt: skip

    def meta(sql: str, *params: str) -> Any:
        with closing(sqlite3.connect(store.path)) as db, db:
            return db.execute(sql, params).fetchone()

    load(store, fan(1))
    stamp = store.exposure_stamp()
    complain()
    assert store.exposure_stamp() == stamp != store.audit_head()
    # A writer that does not keep the meta row (a TraceGraph from before it) installs a
    # device: the row is behind the chain, so the stamp is the head ...
    (behind,) = meta("SELECT value FROM meta WHERE name = 'exposure'")
    install()
    meta("UPDATE meta SET value = ? WHERE name = 'exposure'", behind)
    head = store.audit_head()
    assert store.exposure_stamp() == head != stamp
    # ... and a write of complaints goes on from the head the stamp stood at.
    complain()
    assert store.exposure_stamp() == head != store.audit_head()
    # The same for a store made before the row.
    meta("DELETE FROM meta WHERE name = 'exposure'")
    head = store.audit_head()
    assert store.exposure_stamp() == head
    complain()
    assert store.exposure_stamp() == head != store.audit_head()
    install()
    assert store.exposure_stamp() == store.audit_head() != head


def test_the_next_process_reads_the_exposures_the_embedded_store_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.tgdb"
    first = EmbeddedStore(path)
    load(first, fan(3))
    answer = common_cause(first).as_json()
    # Another process opens the store: nothing remembered in it, all kept in the file.
    second = EmbeddedStore(path)
    seen = _counting_exposures(second, monkeypatch)
    assert common_cause(second).as_json() == answer
    assert seen == []
    # A device made by B-0 into another stored device: the exposures above it are counted
    # again (a new edge into a stored node; see the test after this one for the others).
    load(first, [_node("Device", "D-new", manufactured_at="2026-01-03"),
                 _edge("PRODUCED", "Batch:B-0", "Device:D-new"),
                 _edge("INSTALLED_IN", "Device:D-new", "Device:D-1-0")])  # fmt: skip
    after = _exposure_of(common_cause(second).as_json())
    assert len(seen) == 1
    # (B-0 now reaches D-new and, through it, D-1-0 of B-1)
    assert after["Batch:B-0"] == _exposure_of(answer)["Batch:B-0"] + 2
    assert after["Batch:B-1"] == _exposure_of(answer)["Batch:B-1"]
    third = EmbeddedStore(path)
    assert _exposure_of(common_cause(third).as_json()) == after
    assert len(seen) == 1  # (third's were kept by second)
    # Forgetting drops what the file keeps too: the next process counts.
    REMEMBERED.forget(third)
    fourth = EmbeddedStore(path)
    counted = _counting_exposures(fourth, monkeypatch)
    assert _exposure_of(common_cause(fourth).as_json()) == after
    assert len(counted) == 1


def test_a_write_of_new_production_grows_the_exposures_the_embedded_store_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.tgdb"
    load(EmbeddedStore(path), fan(3))
    before = common_cause(EmbeddedStore(path), units=True).as_json()
    # B-0 makes two more devices, one installed in the other: B-0, L-0, S-1 and PR-1 reach
    # two devices more, one of them installed in another (one unit more).
    made = [_node("Device", d, manufactured_at="2026-01-03") for d in ("ND0", "ND1")]
    made += [_edge("PRODUCED", "Batch:B-0", f"Device:{d}") for d in ("ND0", "ND1")]
    load(EmbeddedStore(path), [*made, _edge("INSTALLED_IN", "Device:ND0", "Device:ND1")])
    later = EmbeddedStore(path)
    seen = _counting_exposures(later, monkeypatch)
    after = common_cause(later, units=True).as_json()
    assert seen == []  # nothing counted: every exposure was kept through the write
    grown = {"Batch:B-0", "MaterialLot:L-0", "Supplier:S-1", "Process:PR-1"}
    figures = {h["key"]: (h["exposure"], h["unit_exposure"]) for h in before["ranking"]}
    assert {h["key"]: (h["exposure"], h["unit_exposure"]) for h in after["ranking"]} == {
        k: (n + 2 * (k in grown), units + (k in grown)) for k, (n, units) in figures.items()
    }


def test_a_store_object_grows_the_exposures_through_its_own_writes_of_new_production(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, _ = _analysed_fan(store, monkeypatch)
    units = common_cause(store, units=True).as_json()  # (counts again: with installed devices)
    assert len(seen) == 2
    # Through this store object (a server importing over its API): B-0 makes two devices, one
    # installed in the other. Followed: nothing counted, each exposure above them grown.
    made = [_node("Device", d, manufactured_at="2026-01-03") for d in ("ND0", "ND1")]
    made += [_edge("PRODUCED", "Batch:B-0", f"Device:{d}") for d in ("ND0", "ND1")]
    load(store, [*made, _edge("INSTALLED_IN", "Device:ND0", "Device:ND1")])
    grown = {"Batch:B-0", "MaterialLot:L-0", "Supplier:S-1", "Process:PR-1"}
    after = common_cause(store, units=True).as_json()
    assert len(seen) == 2
    figures = {h["key"]: (h["exposure"], h["unit_exposure"]) for h in units["ranking"]}
    assert {h["key"]: (h["exposure"], h["unit_exposure"]) for h in after["ranking"]} == {
        k: (n + 2 * (k in grown), u + (k in grown)) for k, (n, u) in figures.items()
    }
    assert after["units"] == units["units"] + 1
    # The same as counted afresh.
    REMEMBERED.forget(store)
    assert common_cause(store, units=True).as_json() == after
    assert len(seen) == 3
    # A write it cannot follow (into a stored device): counted again.
    load(store, [_node("Device", "ND2", manufactured_at="2026-01-03"),
                 _edge("PRODUCED", "Batch:B-1", "Device:ND2"),
                 _edge("INSTALLED_IN", "Device:ND2", "Device:D-2-0")])  # fmt: skip
    common_cause(store, units=True)
    assert len(seen) == 4


@pytest.mark.neo4j
def test_counts_a_write_overtook_are_not_grown_again(
    neo4j_store: Neo4jStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(neo4j_store, fan(3))
    real = neo4j_store.batch_exposure
    made = [_node("Device", "ND0", manufactured_at="2026-01-03"),
            _edge("PRODUCED", "Batch:B-0", "Device:ND0")]  # fmt: skip

    def overtaken(seeds: Any, **kwargs: Any) -> Any:
        load(neo4j_store, made)  # lands after the stamp was read, before the count
        return real(seeds, **kwargs)

    monkeypatch.setattr(neo4j_store, "batch_exposure", overtaken)
    first = _exposure_of(common_cause(neo4j_store).as_json())
    monkeypatch.setattr(neo4j_store, "batch_exposure", real)
    # The write is in the counts, and was followed: growing them would count ND0 twice.
    again = _exposure_of(common_cause(neo4j_store).as_json())
    REMEMBERED.forget(neo4j_store)
    assert again == first == _exposure_of(common_cause(neo4j_store).as_json())
    assert again["Batch:B-0"] == 3


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=genealogies(), data=st.data())
def test_neo4j_follows_its_own_writes_of_new_production_as_a_fresh_count(
    fresh_neo4j: Callable[[], Neo4jStore], records: list[dict[str, Any]], data: st.DataObject
) -> None:
    store = fresh_neo4j()
    load(store, records)
    for units in (False, True):
        common_cause(store, units=units)
    before = store.exposure_stamp()
    growth = data.draw(st.composite(_growth)(records))
    load(store, growth)
    into_stored = any(
        r.get("type") == "INSTALLED_IN" and not r["to"].startswith("Device:ND") for r in growth
    )
    followed = store.exposure_growth(before, store.exposure_stamp())
    assert (followed is None) == into_stored
    grown = [common_cause(store, units=units).as_json() for units in (False, True)]
    REMEMBERED.forget(store)
    assert grown == [common_cause(store, units=units).as_json() for units in (False, True)]


def _growth(draw: st.DrawFn, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A write of new production onto a stored genealogy: new batches of stored lots and
    batches (and of each other) on stored equipment, new devices made by new or stored
    batches, some installed in others, some complained of; sometimes an edge into a stored
    device too (which the kept exposures cannot follow)."""
    stored = keys_of(records)

    def some(keys: list[str], most: int, least: int = 0) -> list[str]:
        if not keys:
            return []
        return draw(st.lists(st.sampled_from(keys), unique=True, min_size=least, max_size=most))

    def of(type_: str) -> list[str]:
        return [k for k in stored if k.startswith(f"{type_}:")]

    out: list[dict[str, Any]] = []
    batches: list[str] = []
    for i in range(draw(st.integers(0, 3))):
        batch = f"Batch:NB{i}"
        out.append(_node("Batch", f"NB{i}", started_at="2026-02-27T08:00:00Z"))
        out += [
            _edge("CONSUMED_IN", src, batch)
            for src in some(of("MaterialLot") + of("Batch") + batches, 3)
        ]
        out += [
            {**_edge("PROCESSED", src, batch), "at": "2026-02-27"}
            for src in some(of("Equipment"), 2)
        ]
        batches.append(batch)
    devices: list[str] = []
    for j in range(draw(st.integers(1, 5))):
        device = f"Device:ND{j}"
        out.append(_node("Device", f"ND{j}", manufactured_at="2026-03-28"))
        out += [_edge("PRODUCED", src, device) for src in some(batches + of("Batch"), 2)]
        if draw(st.booleans()):
            out += [
                _node("Complaint", f"NC{j}", reported_at="2026-05-28", severity="malfunction"),
                _edge("HAS_COMPLAINT", device, f"Complaint:NC{j}"),
            ]
        devices.append(device)
    pairs = [f"{a} {b}" for a in devices for b in devices if a != b]
    out += [_edge("INSTALLED_IN", *pair.split()) for pair in some(pairs, 2, least=1)]
    into_stored: bool = draw(st.booleans())
    if into_stored and devices and of("Device"):
        out.append(
            _edge(
                "INSTALLED_IN", draw(st.sampled_from(devices)), draw(st.sampled_from(of("Device")))
            )
        )
    return out


@settings(max_examples=60, deadline=None)
@given(records=genealogies(), data=st.data())
def test_exposures_kept_through_a_write_of_new_production_equal_a_fresh_count(
    records: list[dict[str, Any]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.tgdb"
        load(EmbeddedStore(path), records)
        for units in (False, True):
            common_cause(EmbeddedStore(path), units=units)  # kept in the file
        growth = data.draw(st.composite(_growth)(records))
        writer = EmbeddedStore(path)
        load(writer, growth)
        into_stored = any(
            r.get("type") == "INSTALLED_IN" and not r["to"].startswith("Device:ND") for r in growth
        )
        with closing(sqlite3.connect(path)) as db:
            (kept_stamp,) = db.execute(
                "SELECT value FROM meta WHERE name = 'exposure_kept'"
            ).fetchone() or (None,)
        # Grown in the write (kept under the new stamp), unless it reached a stored node.
        assert (kept_stamp == EXPOSURE_STAMPED + writer.exposure_stamp()) == (
            not into_stored and kept_stamp is not None
        )
        for units in (False, True):
            grown = common_cause(EmbeddedStore(path), units=units).as_json()
            fresh = EmbeddedStore(path)
            REMEMBERED.forget(fresh)
            assert grown == common_cause(fresh, units=units).as_json()


def test_an_analysis_does_not_wait_for_a_writer_to_keep_its_exposures(tmp_path: Path) -> None:
    path = tmp_path / "s.tgdb"
    load(EmbeddedStore(path), fan(2))
    expected = common_cause(EmbeddedStore(path)).as_json()
    REMEMBERED.forget(EmbeddedStore(path))
    store = EmbeddedStore(path, busy_seconds=60)
    answers: list[dict[str, Any]] = []
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")  # an import holding the write lock
        worker = threading.Thread(target=lambda: answers.append(common_cause(store).as_json()))
        worker.start()
        worker.join(timeout=30)
        done = not worker.is_alive()
        writer.execute("ROLLBACK")
    worker.join()
    assert done, "the analysis waited for the writer"
    assert answers == [expected]
    # Nothing was kept: the next process counts.
    assert EmbeddedStore(path).kept_exposures("anything", ["Batch:B-0"]) == {}
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT count(*) FROM exposure_kept").fetchone() == (0,)


def test_a_kept_table_of_another_shape_is_a_cache_that_holds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.tgdb"
    load(EmbeddedStore(path), fan(2))
    expected = common_cause(EmbeddedStore(path), units=True).as_json()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("DROP TABLE exposure_kept")
        db.execute("CREATE TABLE exposure_kept (key TEXT PRIMARY KEY, n INTEGER NOT NULL)")
    for _ in range(2):
        assert common_cause(EmbeddedStore(path), units=True).as_json() == expected


@pytest.mark.neo4j
def test_a_neo4j_store_emptied_and_loaded_again_is_stamped_afresh(neo4j_store: Neo4jStore) -> None:
    # Relationships go only all at once, and the chain with them: the counts alone would
    # match the same records loaded again, or others of the same shape.
    load(neo4j_store, fan(2))
    stamp = neo4j_store.exposure_stamp()
    load(neo4j_store, [_node("Complaint", "C-x", reported_at="2026-03-02", severity="other"),
                       _edge("HAS_COMPLAINT", "Device:D-idle", "Complaint:C-x")])  # fmt: skip
    assert neo4j_store.exposure_stamp() == stamp
    neo4j_store.clear()
    load(neo4j_store, fan(2))
    assert neo4j_store.exposure_stamp() != stamp


def test_a_view_after_the_last_write_shares_the_stores_exposures_an_older_one_counts(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(store, fan(2))
    then = dt.datetime.now(dt.UTC)
    live = _counting_exposures(store, monkeypatch)
    before = common_cause(store).as_json()
    view = store.at(then)
    seen = _counting_exposures(view, monkeypatch)
    # Nothing written since: the view sees the live graph (an HTTP answer's later pages).
    assert common_cause(view).as_json() == before
    assert (len(live), len(seen)) == (1, 0)
    load(store, [_node("Device", "D-new", manufactured_at="2026-01-03"),
                 _edge("PRODUCED", "Batch:B-0", "Device:D-new")])  # fmt: skip
    # Now older than the last write: it counts every time, the graph as it was.
    assert common_cause(view).as_json() == common_cause(view).as_json() == before
    assert len(seen) == 2
    assert _exposure_of(common_cause(store).as_json())["Batch:B-0"] == 3
    assert len(live) == 1  # (a device of a stored batch, written by this object: grown)


# --------------------------------------------------------------------------- the demo


def test_demo_ranks_the_suspect_lot_first_and_s7_first_among_suppliers(
    store: GraphStore,
) -> None:
    load_demo(store)
    result = common_cause(store)
    out = result.as_json()
    assert len(out["cases"]) == 9
    assert out["population"] == 40
    first = out["ranking"][0]
    assert first["key"] == SUSPECT_LOT
    # The lot went into the 12 devices of B-PRO-203, B-LITE-303 and B-PRO-204; 6 complain.
    assert (first["cases"], first["exposure"]) == (6, 12)
    assert first["p_value"] == pytest.approx(upper_tail(6, 12, 9, 40), rel=1e-9)
    assert round(first["p_value"], 3) == 0.012  # the figure tracegraph/data/README.md gives
    suppliers = [h["key"] for h in out["ranking"] if h["type"] == "Supplier"]
    assert suppliers[0] == SUPPLIER
    check_statistics(result)


# --------------------------------------------------------------------------- stores agree


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=genealogies(), data=st.data())
def test_stores_agree_on_random_genealogies(
    fresh_neo4j: Callable[[], Neo4jStore], records: list[dict[str, Any]], data: st.DataObject
) -> None:
    devices = [k for k in keys_of(records) if k.startswith("Device:")]
    listed = data.draw(st.lists(st.sampled_from(devices), unique=True) if devices else st.just([]))
    day = data.draw(st.integers(min_value=1, max_value=28))
    window = {
        "start": dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
        "end": dt.datetime(2026, 5, day, 23, 59, tzinfo=dt.UTC),
    }
    with tempfile.TemporaryDirectory() as tmp:
        embedded = EmbeddedStore(Path(tmp) / "s.tgdb")
        neo4j = fresh_neo4j()
        load(embedded, records)
        load(neo4j, records)
        for kwargs in ({}, window, {"devices": listed} if listed else {"severity": "other"}):
            mine, theirs = common_cause(embedded, **kwargs), common_cause(neo4j, **kwargs)
            assert mine.as_json() == theirs.as_json()
            check_statistics(mine)


# --------------------------------------------------------------------------- command line


def run(*args: str) -> Result:
    result = CliRunner().invoke(app, ["common-cause", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "cc.tgdb"
    load(EmbeddedStore(path), SCENARIO)
    return str(path)


def test_cli_json_is_the_service_answer(db: str) -> None:
    result = run("--db", db, "--format", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out == json.loads(json.dumps(common_cause(EmbeddedStore(db)).as_json()))
    assert out["ranking"][0]["key"] == "MaterialLot:L-1"
    assert set(out["ranking"][0]) >= {"key", "cases", "exposure", "rate", "p_value"}


def test_cli_to_date_covers_the_whole_day(db: str) -> None:
    # C-3 was reported at 23:30 on 03-10: a bare date must still include it.
    out = json.loads(
        run("--db", db, "--from", "2026-03-02", "--to", "2026-03-10", "--format", "json").stdout
    )
    assert out["cases"] == ["Device:D-2", "Device:D-4"]
    assert out["filters"]["to"] == "2026-03-10T23:59:59.999999Z"
    assert [h["key"] for h in out["ranking"]] == [
        "MaterialLot:L-1",
        "Supplier:S-A",
        "Process:PR-1",
    ]


def test_cli_severity_product_and_listed_devices(db: str) -> None:
    out = json.loads(run("--db", db, "--severity", "malfunction", "--format", "json").stdout)
    assert out["cases"] == ["Device:D-1", "Device:D-4", "Device:D-6"]
    out = json.loads(run("--db", db, "--product", "P-X", "--format", "json").stdout)
    assert (out["population"], out["population_scope"]) == (5, "Product:P-X")
    out = json.loads(run("Device:D-9", "Device:D-10", "--db", db, "--format", "json").stdout)
    assert out["ranking"][0]["key"] == "Batch:B-4"


def test_cli_csv_has_one_row_per_ranked_entity(db: str) -> None:
    result = run("--db", db, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["key"] for r in table] == [
        "MaterialLot:L-1",
        "Supplier:S-A",
        "Batch:B-1",
        "Equipment:EQ-1",
        "MaterialLot:L-3",
        "Supplier:S-B",
        "Process:PR-1",
    ]
    assert (table[0]["rank"], table[0]["cases"], table[0]["exposure"]) == ("1", "3", "5")
    assert float(table[0]["p_value"]) == pytest.approx(66 / 252)
    assert table[0]["case_devices"].split() == ["Device:D-1", "Device:D-2", "Device:D-4"]
    assert table[1]["name"] == "Alpha Passives"


def test_cli_table_shows_cases_and_population_then_the_ranking(db: str) -> None:
    result = run("--db", db, "--format", "table")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Cases: 4 of a population of 10 devices (all devices)")
    text = result.stdout
    assert text.index("MaterialLot:L-1") < text.index("Supplier:S-A") < text.index("Process:PR-1")
    empty = run("--db", db, "--severity", "death", "--format", "table")
    assert empty.exit_code == 0
    assert "No upstream entity reaches two or more cases." in empty.stdout
    empty_csv = run("--db", db, "--severity", "death", "--format", "csv")
    assert empty_csv.stdout.splitlines() == [
        "rank,key,type,name,cases,exposure,rate,p_value,case_devices"
    ]


def test_cli_table_shows_every_name_in_an_80_column_terminal(db: str) -> None:
    def table_at(columns: int) -> list[str]:
        result = CliRunner().invoke(
            app, ["common-cause", "--db", db, "--format", "table"], env={"COLUMNS": str(columns)}
        )
        assert result.exit_code == 0, result.stderr
        return result.stdout.splitlines()

    narrow = table_at(80)
    assert max(map(len, narrow)) <= 80
    # Names under their keys: the row after Supplier:S-A's holds its name.
    at = next(i for i, line in enumerate(narrow) if "Supplier:S-A" in line)
    assert "Alpha Passives" in narrow[at + 1]
    assert "Solder station 1" in "\n".join(narrow)
    wide = table_at(160)
    assert any("Supplier:S-A" in line and "Alpha Passives" in line for line in wide)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["Device:D-99"], "Device:D-99: no such node"),
        (["Batch:B-1"], "Batch:B-1: not a Device"),
        (["--severity", "fatal"], "--severity"),
        (["--product", "P-Z"], "Product:P-Z: no such product"),
        (["--from", "2026-13-01"], "--from: not an ISO 8601 date"),
        (["--to", "soon"], "--to: not an ISO 8601 date"),
        (["--from", "2026-04-02", "--to", "2026-04-01"], "is after"),
        (["Device:D-1", "--severity", "other"], "not both"),
        (["--format", "xml"], "--format"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(db: str, args: list[str], reason: str) -> None:
    result = run(*args, "--db", db)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert reason in result.stderr


def test_benjamini_hochberg_by_a_worked_example() -> None:
    # m = 4 sorted p-values; q_i = min over j >= i of p_j * 4 / j.
    assert benjamini_hochberg([0.005, 0.01, 0.03, 0.04]) == [0.02, 0.02, 0.04, 0.04]
    assert benjamini_hochberg([0.5, 0.9]) == [0.9, 0.9]
    assert benjamini_hochberg([0.6, 0.7, 0.8]) == [0.8, 0.8, 0.8]
    assert benjamini_hochberg([]) == []


def test_the_ranking_reports_p_adjusted_for_every_candidate_tested(store: GraphStore) -> None:
    load_demo(store)
    answer = common_cause(store).as_json()
    ranking = answer["ranking"]
    m = len(ranking)
    assert answer["p_adjustment"] == f"Benjamini-Hochberg over the {m} candidates ranked"
    raw = [h["p_value"] for h in ranking]
    expected = [min(1.0, min(raw[j] * m / (j + 1) for j in range(i, m))) for i in range(m)]
    assert [h["p_adjusted"] for h in ranking] == pytest.approx(expected, rel=1e-9)
    top = ranking[0]
    assert top["key"] == "MaterialLot:L-2026-0042"
    assert top["p_adjusted"] > top["p_value"]  # 40-odd candidates: the lot's 0.012 is not 0.012
