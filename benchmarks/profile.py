"""Where the time goes, for the targets a run misses: measured in the same run, on its data.

- recall end to end on Neo4j: time per store query (by its file name), and the share of the
  client's time spent turning Neo4j temporal values into Python ones (the driver's
  ``hydrate_datetime``), from ``cProfile``;
- the closure query and the server floor: ``PROFILE`` (rows and database hits per operator);
- an import: the share of parsing/validation, planning, audit and writing, from ``cProfile``.
"""

from __future__ import annotations

import cProfile
import importlib
import inspect
import pstats
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import neo4j
from neo4j import Query

from benchmarks.systems.cypher import SERVER_FLOOR
from tracegraph import queries
from tracegraph.store.neo4j import Neo4jStore


@contextmanager
def _query_times(store: Neo4jStore) -> Iterator[dict[str, list[float]]]:
    """Wall time of each named read the store makes, while the block runs."""
    times: dict[str, list[float]] = defaultdict(list)
    original = store._read

    def timed(name: str, **params: Any) -> list[neo4j.Record]:
        started = time.perf_counter()
        try:
            return original(name, **params)
        finally:
            times[name].append(time.perf_counter() - started)

    store._read = timed  # type: ignore[method-assign]
    try:
        yield times
    finally:
        del store._read


class ProbeMissing(RuntimeError):
    """A function the profile looks for is no longer defined where it looks: its figure would
    read 0 s without saying so."""


def _defined_names(module: ModuleType) -> set[str]:
    """The names of the functions and methods defined in ``module``'s own source file."""
    names: set[str] = set()
    source = inspect.getsourcefile(module)
    for value in vars(module).values():
        members = [value, *vars(value).values()] if inspect.isclass(value) else [value]
        for member in members:
            code = getattr(inspect.unwrap(member), "__code__", None) if callable(member) else None
            if code is not None and code.co_filename == source:
                names.add(code.co_name)
    return names


def probe(module: str, name: str) -> tuple[str, str]:
    """``(file suffix, function name)`` for matching cProfile's entries, after checking that
    ``module`` still defines a function ``name`` (raises `ProbeMissing` if not)."""
    loaded = importlib.import_module(module)
    if name not in _defined_names(loaded):
        raise ProbeMissing(
            f"benchmarks/profile.py looks for {module}.{name}, which is no longer defined; "
            "update the probe"
        )
    return module.replace(".", "/") + ".py", name


#: The functions the profiles time, by figure: (module, function) pairs, each checked to exist
#: (`check_probes`). A figure sums the outermost calls of its functions, so a function listed
#: with its own callee is not counted twice: the p-values are computed by `_p_array`, called
#: by `p_values` or, since common cause batches them, directly.
PROBES: dict[str, list[tuple[str, str]]] = {
    "temporal_to_native_s": [("tracegraph.store.neo4j", "_native")],
    "p_values_s": [("tracegraph.commoncause", "p_values"), ("tracegraph.commoncause", "_p_array")],
    "read_and_validate_s": [("tracegraph.importer", "parse")],
    "validate_records_s": [("tracegraph.model", "parse_record")],
    "check_endpoints_s": [("tracegraph.importer", "check_endpoints")],
    "store_write_s": [("tracegraph.store.embedded", "write"), ("tracegraph.store.neo4j", "write")],
    "plan_write_s": [("tracegraph.store.base", "plan_write")],
    "audit_digest_s": [("tracegraph.store.base", "changes_digest")],
}


def check_probes() -> dict[str, list[tuple[str, str]]]:
    """Every figure's ``(file suffix, name)`` matches; raises `ProbeMissing` at once (a run
    checks them before it starts, so that a renamed function stops it, not its last step)."""
    return {figure: [probe(m, n) for m, n in where] for figure, where in PROBES.items()}


def _calls(stats: pstats.Stats, where: list[tuple[str, str]]) -> int:
    """How many times the functions were called (their primitive calls)."""
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    return sum(
        int(cc)
        for (file, _line, name), (cc, *_rest) in raw.items()
        if any(file.endswith(suffix) and name == fn for suffix, fn in where)
    )


def _cumulative(stats: pstats.Stats, match: Callable[[str, str], bool]) -> float:
    """Cumulative seconds of the functions ``match(file, name)`` picks (outermost calls)."""
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = 0.0
    for (file, _line, name), (_cc, _nc, _tt, ct, callers) in raw.items():
        if match(file, name) and not any(match(c[0], c[2]) for c in callers):
            total += ct
    return float(total)


def _in(stats: pstats.Stats, where: list[tuple[str, str]]) -> float:
    """Cumulative seconds of the outermost calls of any of these functions."""
    return _cumulative(
        stats, lambda f, n: any(f.endswith(suffix) and n == name for suffix, name in where)
    )


def breakdown(store: Neo4jStore, run: Callable[[], object]) -> dict[str, Any]:
    """One end-to-end analysis on Neo4j, timed per store query, then once under cProfile."""
    # Checked first, so that a renamed function fails the profile instead of reading 0 s.
    where = check_probes()
    with _query_times(store) as times:
        started = time.perf_counter()
        run()
        total = time.perf_counter() - started
    profiler = cProfile.Profile()
    profiler.enable()
    started = time.perf_counter()
    run()
    profiled = time.perf_counter() - started
    profiler.disable()
    stats = pstats.Stats(profiler)
    hydrate = _cumulative(stats, lambda f, n: "hydration" in f and n.startswith("hydrate_"))
    to_native = _in(stats, where["temporal_to_native_s"])
    p_values = _in(stats, where["p_values_s"])
    return {
        "total_s": total,
        "queries": {
            name: {"calls": len(t), "seconds": sum(t)}
            for name, t in sorted(times.items(), key=lambda kv: -sum(kv[1]))
        },
        "outside_queries_s": total - sum(sum(t) for t in times.values()),
        "profiled_s": profiled,
        "temporal_hydration_s": hydrate,
        "temporal_to_native_s": to_native,
        "p_values_s": p_values,
        "p_values_calls": _calls(stats, where["p_values_s"]),
    }


def plan(driver: neo4j.Driver, database: str, text: str, **params: Any) -> dict[str, Any]:
    """PROFILE of one query: total db hits and rows, and the operators with their hits."""
    with driver.session(database=database) as session:
        result = session.run("PROFILE " + text, params)
        list(result)  # a profile is only complete once every row was pulled
        summary = result.consume()
    root = summary.profile or {}
    operators: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        operators.append(
            {
                "operator": str(node.get("operatorType", "")).split("@")[0],
                "rows": node.get("rows"),
                "db_hits": node.get("dbHits"),
            }
        )
        for child in node.get("children", []):
            walk(child)

    walk(root)
    return {
        "db_hits": sum(int(o["db_hits"] or 0) for o in operators),
        "operators": operators,
    }


def closure_plans(driver: neo4j.Driver, database: str, seeds: Sequence[str]) -> dict[str, Any]:
    text = queries.get("reach_genealogy_down").text
    return {
        "tracegraph_query": plan(driver, database, text, seeds=list(seeds)),
        "server_floor": plan(driver, database, SERVER_FLOOR, seeds=list(seeds)),
    }


#: The store's reads of a recall, and what the same reads cost shaped otherwise: one list in
#: one record instead of a record per row, and instants sent as (epoch second, nanosecond)
#: integers instead of Neo4j DateTime values (which the driver hydrates in pure Python).
_EDGES_ONE_LIST = (
    "UNWIND $keys AS k MATCH (a:Node {key: k})-[r]->(b:Node) "
    "WHERE type(r) IN $types AND b.key IN $keys "
    "RETURN collect([type(r), a.key, b.key]) AS edges"
)
_EDGES_ROWS_NO_PROPS = (
    "UNWIND $keys AS k MATCH (a:Node {key: k})-[r]->(b:Node) "
    "WHERE type(r) IN $types AND b.key IN $keys "
    "RETURN type(r) AS type, a.key AS src, b.key AS dst"
)
_NODES_ONE_LIST = (
    "UNWIND $keys AS k MATCH (n:Node {key: k}) RETURN collect([n.key, properties(n)]) AS nodes"
)
_NODES_ONE_LIST_EPOCH = (
    "UNWIND $keys AS k MATCH (n:Node {key: k}) RETURN collect([n.key, "
    "[p IN keys(n) WHERE NOT n[p] IS :: ZONED DATETIME | [p, n[p]]], "
    "[p IN keys(n) WHERE n[p] IS :: ZONED DATETIME | [p, n[p].epochSeconds, n[p].nanosecond]]"
    "]) AS nodes"
)


def fetch_variants(
    driver: neo4j.Driver, database: str, keys: Sequence[str], types: Sequence[str], runs: int = 3
) -> dict[str, Any]:
    """Median client ms of the store's `edges_among` and `node_get` over ``keys`` as the store
    runs them, and of the same reads shaped otherwise (see above)."""

    def read(text: str, **params: Any) -> None:
        driver.execute_query(
            Query(text), params, database_=database, routing_=neo4j.RoutingControl.READ
        )

    def median_ms(text: str, **params: Any) -> float:
        read(text, **params)
        took = []
        for _ in range(runs):
            started = time.perf_counter()
            read(text, **params)
            took.append(time.perf_counter() - started)
        return sorted(took)[len(took) // 2] * 1000

    keys = sorted(keys)
    edge_args = {"keys": keys, "types": list(types)}
    return {
        "keys": len(keys),
        "edges_among_as_stored_ms": median_ms(queries.get("edges_among").text, **edge_args),
        "edges_rows_without_props_ms": median_ms(_EDGES_ROWS_NO_PROPS, **edge_args),
        "edges_one_list_without_props_ms": median_ms(_EDGES_ONE_LIST, **edge_args),
        "node_get_as_stored_ms": median_ms(queries.get("node_get").text, keys=keys),
        "nodes_one_list_ms": median_ms(_NODES_ONE_LIST, keys=keys),
        "nodes_one_list_instants_as_integers_ms": median_ms(_NODES_ONE_LIST_EPOCH, keys=keys),
    }


def import_breakdown(run: Callable[[], object]) -> dict[str, float]:
    """One import under cProfile: seconds in validation, the write plan, the audit digest,
    the store's write and (the JSON embedded store) the file's serialisation."""
    figures = {"read_and_validate_s", "validate_records_s", "check_endpoints_s"}
    figures |= {"store_write_s", "plan_write_s", "audit_digest_s"}
    where = {figure: found for figure, found in check_probes().items() if figure in figures}
    profiler = cProfile.Profile()
    profiler.enable()
    started = time.perf_counter()
    run()
    total = time.perf_counter() - started
    profiler.disable()
    stats = pstats.Stats(profiler)

    return {
        "total_s": total,
        **{key: _in(stats, found) for key, found in where.items()},
        "driver_dehydration_s": _cumulative(
            stats, lambda f, n: "hydration" in f and n.startswith("dehydrate_")
        ),
    }
