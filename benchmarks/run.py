"""Run the benchmark: ``python -m benchmarks.run --size S|M|L|tiny``.

One run, one data set, every system on the same probes. Before anything is timed, every
system's answer to the probe is checked against the others (reachable sets for recall, the
whole JSON answer between TraceGraph's two stores, rankings for common cause, category sets
for impact); a probe whose answers differ is not timed and the run exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from benchmarks import audit_verify, frontends, neo4j_load, profile, report
from benchmarks.data import Dataset, load
from benchmarks.probes import (
    Candidate,
    RecallProbe,
    candidates,
    case_sets,
    change_orders,
    recall_probes,
)
from benchmarks.servers import Neo4jInfo, PgCluster, cpu_seconds, neo4j_server
from benchmarks.sizes import SIZES, Size
from benchmarks.systems import tracegraph as tg
from benchmarks.systems.csr import CsrFloor
from benchmarks.systems.cypher import CypherBaselines
from benchmarks.systems.postgres import PostgresGraph, plan_problems
from benchmarks.systems.sqlite_floor import SqliteFloor
from benchmarks.timing import Outcome, Plan, Staged, Task, measure
from tracegraph.model import GENEALOGY, Direction, EntityType
from tracegraph.recall import SECTIONS as RECALL_SECTIONS
from tracegraph.store.base import GraphStore
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore

GIB = 1024**3
#: Records per import when the whole file does not fit one import's memory.
EMBEDDED_CHUNK = 1_000_000
ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
Log = Callable[[str], None]


class AnswersDiffer(RuntimeError):
    """Two systems gave different answers to the same probe."""


@dataclass
class Run:
    size: Size
    seed: int
    log: Log
    results: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- machine


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    versions: dict[str, str | None] = {}
    for package in ("tracegraph", "neo4j", "neo4j-rust-ext", "psycopg", "scipy", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024**2, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "commit": commit,
        "load_average_start": list(os.getloadavg()),
        "versions": versions,
    }


# --------------------------------------------------------------------------- checks


def _same(name: str, expected: Any, got: dict[str, Any]) -> list[str]:
    """Names of the systems whose normalised answer differs from ``expected``."""
    return [f"{name}: {system} differs" for system, value in got.items() if value != expected]


def _describe_diff(a: set[str], b: set[str]) -> str:
    only_a, only_b = sorted(a - b)[:3], sorted(b - a)[:3]
    return (
        f"{len(a - b)} only in the first (e.g. {only_a}), "
        f"{len(b - a)} only in the second ({only_b})"
    )


# --------------------------------------------------------------------------- loads


def fresh_neo4j(info: Neo4jInfo, batch: int) -> Neo4jStore:
    """A store on an emptied database with new indexes (created by the new store's first
    query), as if the database were new."""
    old = tg.open_neo4j(info.uri, info.user, info.password, batch)
    tg.reset_neo4j(old)
    old.close()
    store = tg.open_neo4j(info.uri, info.user, info.password, batch)
    tg.ready_neo4j(store)
    return store


def load_neo4j(run: Run, info: Neo4jInfo, data: Dataset) -> Neo4jStore:
    size, log = run.size, run.log
    sweep: list[dict[str, Any]] = []
    limit = min(size.sweep_records, data.records)
    # A throw-away import first: the JVM compiles the write path before anything is timed.
    store = fresh_neo4j(info, 5_000)
    tg.import_file(store, data.path, 5_000, limit=min(limit, 20_000))
    store.close()
    for chunk, batch in size.sweep:
        if chunk > 4 * limit and sweep:
            continue
        store = fresh_neo4j(info, batch)
        cpu0, own0 = cpu_seconds(info.pid), time.process_time()
        records, imports, seconds = tg.import_file(store, data.path, chunk, limit=limit)
        server_cpu, client_cpu = cpu_seconds(info.pid) - cpu0, time.process_time() - own0
        row = tg.ImportRun("neo4j", records, seconds, chunk, batch, imports).as_json()
        row.update(server_cpu_s=server_cpu, client_cpu_s=client_cpu)
        sweep.append(row)
        log(
            f"  neo4j import sweep: {records:,} records, chunk {chunk:,}, batch {batch:,}: "
            f"{records / seconds:,.0f} records/s"
        )
        store.close()
    best = max(sweep, key=lambda r: r["records_per_s"])
    chunk, batch = best["chunk_records"], best["write_batch"]
    scratch = fresh_neo4j(info, batch)
    # Where an import's time goes (client side), on the same beginning of the file.
    breakdown = profile.import_breakdown(
        lambda: tg.import_file(scratch, data.path, chunk, limit=limit)
    )
    scratch.close()
    store = fresh_neo4j(info, batch)
    cpu0, own0 = cpu_seconds(info.pid), time.process_time()
    records, imports, seconds = tg.import_file(store, data.path, chunk)
    server_cpu, client_cpu = cpu_seconds(info.pid) - cpu0, time.process_time() - own0
    # Until a checkpoint, most of a fresh load is only in the transaction log.
    with contextlib.suppress(Exception):
        store.driver.execute_query("CALL db.checkpoint()", database_=store.database)
    full = tg.ImportRun("neo4j", records, seconds, chunk, batch, imports).as_json()
    full.update(
        server_cpu_s=server_cpu,
        client_cpu_s=client_cpu,
        records_per_cpu_s=records / (server_cpu + client_cpu) if server_cpu else None,
        store_bytes=info.store_bytes(),
    )
    log(
        f"  neo4j import: {records:,} records in {seconds:.1f} s "
        f"({records / seconds:,.0f}/s; chunk {chunk:,}, batch {batch:,}; "
        f"CPU: server {server_cpu:.1f} s, client {client_cpu:.1f} s)"
    )
    run.results.setdefault("import", {})["neo4j"] = {
        "full": full,
        "sweep": sweep,
        "profile": {"records": limit, **breakdown},
    }
    return store


def load_embedded(run: Run, data: Dataset, work: Path) -> Path:
    """The run's embedded store: the whole file in one import (in a process of its own, see
    `tg.import_in_child`), after a profiled import of the file's beginning. Returns its path."""
    limit = min(run.size.sweep_records, data.records)
    scratch = tg.open_embedded(work / f"profile-{run.size.name}.tgdb")
    breakdown = profile.import_breakdown(
        lambda: tg.import_file(scratch, data.path, None, limit=limit)
    )
    scratch.close()
    tg.remove_embedded(scratch.path)
    path = work / f"bench-{run.size.name}.tgdb"
    # What the machine can give the import now, less a margin for everything else on it.
    available = tg.available_memory()
    memory = None if available is None else max(available - GIB, GIB)
    try:
        full = tg.import_in_child(data.path, path, memory_limit=memory)
    except tg.ImportOutOfMemory as exc:
        # The rest of the run still needs the store: loaded in pieces, and the report says so.
        run.log(f"  embedded import: {exc}; loading it {EMBEDDED_CHUNK:,} records per import")
        full = tg.import_in_child(data.path, path, EMBEDDED_CHUNK, memory)
        full["one_import_failed"] = str(exc)
    records, seconds, cpu = full["records"], full["seconds"], full["client_cpu_s"]
    run.log(
        f"  embedded import: {records:,} records in {seconds:.1f} s ({records / seconds:,.0f}/s; "
        f"CPU {cpu:.1f} s: {records / cpu:,.0f}/s; peak memory "
        f"{full['max_rss_bytes'] / 1024**2:,.0f} MiB; {full['how']})"
    )
    run.results.setdefault("import", {})["embedded"] = {
        "full": full,
        "profile": {"records": limit, **breakdown},
    }
    return path


#: Sizes up to which the EPCIS document is generated and imported: the EPCIS reader holds the
#: document whole (about 14 KB of memory per device), so size L's would not fit this machine.
EPCIS_MAX_DEVICES = 100_000


def load_neo4j_initial(run: Run, data: Dataset, size: Size) -> None:
    """`tracegraph import --initial-load` of the whole file into a fresh local Neo4j (offline,
    neo4j-admin): only where the run starts Neo4j itself, before the servers take memory."""
    try:
        initial = neo4j_load.neo4j_initial_load(data.path, size.neo4j_pagecache)
    except Exception as exc:  # reported as one of the run's problems
        run.problems.append(f"neo4j initial load: {exc}")
        run.log(f"    PROBLEM: neo4j initial load: {exc}")
        return
    run.results.setdefault("import", {})["neo4j_initial_load"] = initial
    run.log(
        f"  neo4j initial load: {initial['records']:,} records in {initial['seconds']:.1f} s "
        f"({initial['records_per_s']:,.0f}/s; CPU: client {initial['client_cpu_s']:.1f} s, "
        f"neo4j-admin {initial['admin_cpu_s']:.1f} s)"
    )


def load_epcis(run: Run, work: Path) -> None:
    """The same genealogy as an EPCIS 2.0 document (`tracegraph generate --format epcis`),
    imported into a new embedded store in a process of its own: its rate beside JSON Lines'."""
    devices = run.size.devices
    if devices > EPCIS_MAX_DEVICES:
        run.log(f"  EPCIS import: skipped above {EPCIS_MAX_DEVICES:,} devices (memory)")
        return
    from tracegraph.epcis import write_records
    from tracegraph.generate import generate

    document = work / f"epcis-{run.size.name}.jsonld"
    started = time.perf_counter()
    with document.open("wb") as out:
        events = write_records(generate(devices, run.seed), out)
    written = time.perf_counter() - started
    path = work / f"epcis-{run.size.name}.tgdb"
    full = tg.import_in_child(document, path)
    tg.remove_embedded(path)
    size = document.stat().st_size
    document.unlink()
    run.log(
        f"  EPCIS import: {events:,} events ({size / 1024**2:,.0f} MB) -> {full['records']:,} "
        f"records in {full['seconds']:.1f} s ({full['records'] / full['seconds']:,.0f} records/s; "
        f"peak memory {full['max_rss_bytes'] / 1024**2:,.0f} MiB)"
    )
    run.results.setdefault("import", {})["embedded_epcis"] = {
        **full,
        "events": events,
        "document_bytes": size,
        "write_seconds": written,
    }


@dataclass(frozen=True)
class Reference:
    """The embedded store of `frontends.REFERENCE_DEVICES` devices that every size's cold
    queries are compared with, built in the same run."""

    data: Dataset
    measured: list[Candidate]
    path: Path


def load_reference(run: Run, work: Path) -> Reference:
    devices = frontends.REFERENCE_DEVICES
    data = load(work, devices, run.seed, run.log)
    measured = candidates(data, run.seed, lambda _line: None)
    path = work / f"reference-{devices}.tgdb"
    full = tg.import_in_child(data.path, path)
    run.log(
        f"  embedded import, {devices:,}-device reference: {full['records']:,} records in "
        f"{full['seconds']:.1f} s ({full['records_per_s']:,.0f}/s)"
    )
    run.results.setdefault("import", {})["embedded_reference"] = {"devices": devices, **full}
    return Reference(data, measured, path)


# --------------------------------------------------------------------------- probes


SECTIONS = tuple(RECALL_SECTIONS.values())


def _section_keys(answer: bytes, suspects: Sequence[str]) -> set[str]:
    """Every node a recall answer lists (lots, batches, devices, ...) but the suspects."""
    data = orjson.loads(answer)
    keys = {item["key"] for name in SECTIONS for item in data.get(name, [])}
    return keys - set(suspects)


#: What the PostgreSQL answer is checked on, per device (the node's own fields are not
#: compared: TraceGraph writes them from typed values, SQL from the records as loaded).
_DEVICE_FIELDS = ("product", "batch", "shipment", "customer", "path")


def compare_recall_answers(tracegraph: bytes, other: bytes) -> list[str]:
    """How another system's whole recall answer differs from TraceGraph's: each section's keys
    (in order), each device's product, batch, shipment, customer and reason path (the same
    shortest chain from the suspect, ties to the smaller key), and each customer's device
    count. Empty if they agree."""
    a, b = orjson.loads(tracegraph), orjson.loads(other)
    problems = []
    for name in SECTIONS:
        keys_a = [item["key"] for item in a.get(name, [])]
        keys_b = [item["key"] for item in b.get(name, [])]
        if keys_a != keys_b:
            problems.append(f"{name}: {_describe_diff(set(keys_a), set(keys_b))}")
    devices_b = {d["key"]: d for d in b.get("devices", [])}
    wrong = [
        d["key"]
        for d in a.get("devices", [])
        if d["key"] in devices_b
        and any(d.get(f) != devices_b[d["key"]].get(f) for f in _DEVICE_FIELDS)
    ]
    if wrong:
        problems.append(f"{len(wrong)} devices differ in {_DEVICE_FIELDS} (e.g. {wrong[:2]})")
    counts_a = {c["key"]: c["devices"] for c in a.get("customers", [])}
    counts_b = {c["key"]: c.get("devices") for c in b.get("customers", [])}
    if counts_a != counts_b:
        problems.append("the customers' device counts differ")
    return problems


def recall_probe(
    run: Run,
    probe: RecallProbe,
    data: Dataset,
    neo: Neo4jStore,
    emb: GraphStore | None,
    cypher: CypherBaselines,
    pg: PostgresGraph,
    csr: CsrFloor,
    plan: Plan,
    sqlite_floor: SqliteFloor | None = None,
) -> dict[str, Any]:
    suspects = [probe.suspect]
    seed_index = [data.index[probe.suspect]]
    reach_size = probe.nodes
    tasks: dict[str, Task] = {
        "csr_bfs": lambda: Outcome(csr.closure(seed_index)),
        "round_trip": lambda: Outcome(cypher.round_trip()),
        "server_floor": lambda: Outcome(*cypher.server_floor(suspects)),
        "transfer_floor": lambda: Outcome(len(cypher.transfer_floor(reach_size))),
        "transfer_rows": lambda: Outcome(len(cypher.transfer_rows(reach_size))),
        "tracegraph_query": lambda: Outcome(*cypher.tracegraph_closure(suspects)),
        "neo4j_closure": lambda: Outcome(tg.closure(neo, suspects)),
        "neo4j_recall": lambda: Outcome(tg.recall_json(neo, suspects)),
    }
    if emb is not None:
        tasks["embedded_closure"] = lambda: Outcome(tg.closure(emb, suspects))
        tasks["embedded_recall"] = lambda: Outcome(tg.recall_json(emb, suspects))
    if sqlite_floor is not None:
        tasks["embedded_floor"] = lambda: Outcome(sqlite_floor.closure(suspects))
    tasks["postgres_cte"] = lambda: Outcome(pg.closure(suspects))
    tasks["postgres_recall"] = lambda: Outcome(pg.recall_json(probe.suspect))
    tasks["batched_hop"] = lambda: Outcome(cypher.batched_hop(suspects))
    cap = run.size.per_hop_max_nodes
    if cap is None or probe.nodes <= cap:
        tasks["per_hop"] = lambda: Outcome(cypher.per_hop(suspects))
        tasks["postgres_per_hop"] = lambda: Outcome(pg.per_hop(suspects))
    else:
        run.log(f"    per-hop loops not run: {probe.nodes:,} nodes is over {cap:,}")

    def check(answers: dict[str, Any]) -> list[str]:
        # The reference: scipy's compiled BFS on the CSR copy (not timed).
        expected = {data.keys[i] for i in data.reach_indices(seed_index)}
        sets: dict[str, Any] = {
            name: answers[name]
            for name in (
                "tracegraph_query",
                "neo4j_closure",
                "embedded_closure",
                "embedded_floor",
                "postgres_cte",
                "batched_hop",
                "per_hop",
                "postgres_per_hop",
            )
            if name in answers
        }
        csr_keys = [data.keys[i] for i in answers["csr_bfs"]]
        if len(csr_keys) != len(set(csr_keys)):
            return [f"{probe.name}: csr_bfs lists a node twice"]
        sets["csr_bfs"] = set(csr_keys)
        sets["neo4j_recall"] = _section_keys(answers["neo4j_recall"], suspects)
        if "embedded_recall" in answers:
            sets["embedded_recall"] = _section_keys(answers["embedded_recall"], suspects)
        sets["postgres_recall"] = _section_keys(answers["postgres_recall"], suspects)
        problems = [
            f"{probe.name}: {name}: {_describe_diff(got, expected)}"
            for name, got in sets.items()
            if got != expected
        ]
        counts = {
            name: answers[name] for name in ("server_floor", "transfer_floor", "transfer_rows")
        }
        problems += _same(probe.name + " (count)", len(expected), counts)
        if "embedded_recall" in answers and answers["embedded_recall"] != answers["neo4j_recall"]:
            problems.append(f"{probe.name}: the two stores' recall JSON answers differ")
        problems += [
            f"{probe.name}: PostgreSQL's whole answer: {p}"
            for p in compare_recall_answers(answers["neo4j_recall"], answers["postgres_recall"])
        ]
        devices = len(tg.recall_devices(answers["neo4j_recall"]))
        if devices != probe.devices:
            problems.append(f"{probe.name}: recall lists {devices} devices, not {probe.devices}")
        return problems

    # PostgreSQL's plans at this probe, before anything is timed: each key looked up by index.
    plans = pg.plans(probe.suspect)
    plan_issues = [f"{probe.name}: {p}" for p in plan_problems(plans)]
    run.problems += plan_issues
    for issue in plan_issues:
        run.log(f"    PLAN: {issue}")
    extra = {**probe.as_json(), "postgres_plans": [p.as_json() for p in plans]}
    result = _timed_probe(run, probe.name, tasks, plan, check, extra=extra)
    if plan_issues:
        result["identical"] = False
        result.setdefault("problems", []).extend(plan_issues)
    return result


def _timed_probe(
    run: Run,
    name: str,
    tasks: dict[str, Task],
    plan: Plan,
    check: Callable[[dict[str, Any]], list[str]],
    extra: dict[str, Any],
) -> dict[str, Any]:
    run.log(f"  {name}: {', '.join(tasks)}")
    started = time.perf_counter()
    samples = measure(tasks, plan, run.log, check)
    if isinstance(samples, list):
        run.problems += samples
        for problem in samples:
            run.log(f"    ANSWERS DIFFER: {problem}")
        return {**extra, "identical": False, "problems": samples}
    run.log(
        f"    answers identical; timed in {time.perf_counter() - started:.0f} s: "
        + ", ".join(f"{k} {v.p50 * 1000:.1f} ms ×{v.runs}" for k, v in samples.items())
    )
    return {**extra, "identical": True, "systems": {k: v.as_json() for k, v in samples.items()}}


def impact_probe(
    run: Run, change: str, neo: Neo4jStore, emb: GraphStore | None, plan: Plan
) -> dict[str, Any]:
    tasks: dict[str, Task] = {"neo4j_impact": lambda: Outcome(tg.impact_json(neo, change))}
    if emb is not None:
        tasks["embedded_impact"] = lambda: Outcome(tg.impact_json(emb, change))

    # The counts of the warm-up's answer (answers are dropped once checked: running the
    # analysis again for them cost two minutes at L).
    counts: dict[str, Any] = {}

    def check(answers: dict[str, Any]) -> list[str]:
        counts.update(orjson.loads(answers["neo4j_impact"])["counts"])
        if "embedded_impact" not in answers:
            return []
        problems = []
        a, b = answers["neo4j_impact"], answers["embedded_impact"]
        if tg.impact_categories(a) != tg.impact_categories(b):
            problems.append(f"impact {change}: the stores' category sets differ")
        elif a != b:
            problems.append(f"impact {change}: same categories, but the JSON answers differ")
        return problems

    result = _timed_probe(run, f"impact {change}", tasks, plan, check, extra={"change": change})
    return {**result, "counts": counts if result["identical"] else {}}


def common_cause_probe(
    run: Run,
    cases: list[str],
    population: int,
    neo: Neo4jStore,
    emb: GraphStore | None,
    cypher: CypherBaselines,
    plan: Plan,
) -> dict[str, Any]:
    # Each store twice: as the first analysis after a write (nothing remembered: every run
    # forgets first), and as a server answers again on unchanged data (the exposures counted
    # for its state remembered). The first goes first, so that the other's warm-up, which
    # sets how many times it runs, is already a repeat.
    tasks: dict[str, Task] = {
        "neo4j_common_cause_first": lambda: Outcome(tg.common_cause_first_json(neo, cases)),
        "neo4j_common_cause": lambda: Outcome(tg.common_cause_json(neo, cases)),
    }
    if emb is not None:
        tasks["embedded_common_cause_first"] = lambda: Outcome(
            tg.common_cause_first_json(emb, cases)
        )
        tasks["embedded_common_cause"] = lambda: Outcome(tg.common_cause_json(emb, cases))
    tasks["count_per_candidate"] = lambda: Outcome(cypher.common_cause(cases, population))

    ranked: list[int] = []

    def check(answers: dict[str, Any]) -> list[str]:
        expected = tg.common_cause_rows(answers["neo4j_common_cause"])
        ranked.append(len(expected))
        got = {"count_per_candidate": answers["count_per_candidate"]}
        for name in (n for n in answers if n != "neo4j_common_cause" and "common_cause" in n):
            got[name] = tg.common_cause_rows(answers[name])
        return _same(f"common cause {len(cases)} cases (ranking)", expected, got)

    name = f"common cause {len(cases)} cases"
    result = _timed_probe(run, name, tasks, plan, check, extra={"cases": len(cases)})
    if result["identical"]:
        result["ranked"] = ranked[0]
    return result


#: Devices a write of new production makes (`common_cause_growth_probe`): a batch's worth.
GROWTH_DEVICES = 50


def common_cause_growth_probe(
    run: Run, cases: list[str], neo: Neo4jStore, emb: EmbeddedStore | None, plan: Plan
) -> dict[str, Any]:
    """Common cause again after a write of new production (`tg.new_production`: a batch of
    new devices from new lots of a supplier the cases share, on their stations), before each
    run and not timed: on Neo4j through the same store object (a server importing over its
    API), on the embedded store through another (a `tracegraph import` beside the server).
    Each store grows the exposures it remembered instead of counting them again
    (`FollowsExposures`, `KeepsExposures`); the answers are checked against a count afresh.
    The writes add devices that reach no recall probe's suspect: it runs after the probes
    that compare the stores' answers."""
    upstream = sorted(neo.reach(cases, GENEALOGY, Direction.up))
    suppliers = [k for k in upstream if k.startswith("Supplier:")][:1]
    stations = [k for k in upstream if k.startswith("Equipment:")][:2]
    process = next((k for k in upstream if k.startswith("Process:")), None)
    tag = f"GROW-{len(cases)}-{time.time_ns() % 10**12}"
    made = iter(range(1_000_000))

    def production() -> list[dict[str, Any]]:
        name = f"{tag}-{next(made):04d}"
        return tg.new_production(name, suppliers, stations, process, GROWTH_DEVICES)

    stores: dict[str, tuple[GraphStore, Callable[[], GraphStore]]] = {"neo4j": (neo, lambda: neo)}
    if emb is not None:
        path = emb.path
        stores["embedded"] = (emb, lambda: EmbeddedStore(path))
    tasks: dict[str, Task] = {}
    for name, (store, writer) in stores.items():
        tg.common_cause_json(store, cases)  # (what a server answered before: remembered)

        def prepare(writer: Callable[[], GraphStore] = writer) -> None:
            target = writer()
            tg.write(target, production())
            if target is not neo and target is not emb:
                target.close()

        def analyse(store: GraphStore = store) -> Outcome:
            return Outcome(tg.common_cause_json(store, cases))

        tasks[f"{name}_common_cause_grown"] = Staged(prepare, analyse)

    def check(answers: dict[str, Any]) -> list[str]:
        problems = []
        for name, (store, _) in stores.items():
            fresh = tg.common_cause_first_json(store, cases)  # (counts and remembers again)
            if answers[f"{name}_common_cause_grown"] != fresh:
                problems.append(
                    f"common cause {len(cases)} cases after a write of new production, {name}: "
                    "the grown exposures differ from a count afresh"
                )
        return problems

    name = f"common cause {len(cases)} cases after a write of new production"
    extra = {"cases": len(cases), "devices_per_write": GROWTH_DEVICES}
    return _timed_probe(run, name, tasks, plan, check, extra=extra)


#: A drill's suspect reaches about this many devices (the recall probe nearest to it).
DRILL_DEVICES = 1_000


def drill_probe(
    run: Run, suspect: str, devices: int, stores: dict[str, GraphStore], work: Path
) -> dict[str, Any]:
    """A mock recall (`tracegraph case drill`): scope, the three reports and the evidence of
    every affected batch, each step timed, once per store (a drill is what an auditor times
    end to end, not a query to repeat)."""
    from tracegraph.cases import drill

    firm = {"firm_name": "Benchmark Medical GmbH"}
    out: dict[str, Any] = {"suspect": suspect, "devices": devices, "stores": {}}
    for name, store in stores.items():
        folder = work / f"drill-{name}"
        shutil.rmtree(folder, ignore_errors=True)
        done = drill(store, [suspect], folder, firm).as_json()
        shutil.rmtree(folder, ignore_errors=True)
        run.log(
            f"  drill {suspect} on {name}: {done['total_seconds']:.1f} s ("
            + ", ".join(f"{s['step']} {s['seconds']:.1f} s" for s in done["steps"])
            + ")"
        )
        out["stores"][name] = done
    return out


def check_probe(run: Run, neo: Neo4jStore, emb: GraphStore | None, plan: Plan) -> dict[str, Any]:
    """The whole data-quality check (`tracegraph check`, every rule) on each store."""
    now = dt.datetime.now(dt.UTC)
    tasks: dict[str, Task] = {"neo4j_check": lambda: Outcome(tg.check_json(neo, now))}
    if emb is not None:
        tasks["embedded_check"] = lambda: Outcome(tg.check_json(emb, now))
    findings: list[int] = []

    def check(answers: dict[str, Any]) -> list[str]:
        findings.append(len(orjson.loads(answers["neo4j_check"])["findings"]))
        if "embedded_check" in answers and answers["embedded_check"] != answers["neo4j_check"]:
            return ["data-quality check: the stores' findings differ"]
        return []

    result = _timed_probe(run, "data-quality check", tasks, plan, check, extra={})
    return {**result, "findings": findings[0] if findings else None}


# --------------------------------------------------------------------------- the run


def audit_verify_both(emb_path: Path, info: Neo4jInfo) -> dict[str, Any]:
    """`tracegraph audit verify` of each store in a process of its own: seconds, CPU seconds
    and peak resident memory (the goal: under 1 GB at L)."""
    env = {**os.environ, "NEO4J_USER": info.user, "NEO4J_PASSWORD": info.password}
    out = {
        "embedded": audit_verify.measure(emb_path),
        "neo4j": audit_verify.measure(info.uri, env=env),
    }
    for name, figures in out.items():
        if not figures["intact"]:
            raise RuntimeError(f"audit verify of the {name} store found it broken")
    return out


def section(run: Run, name: str, measure_: Callable[[], tuple[dict[str, Any], list[str]]]) -> None:
    """A section measured through the CLI or the API: its figures, and its problems among the
    run's. One that fails outright is a problem too, and the run goes on (and keeps the
    figures of every other section)."""
    try:
        figures, problems = measure_()
    except Exception as exc:  # reported as one of the run's problems
        figures, problems = {"error": f"{type(exc).__name__}: {exc}"}, [f"{name}: {exc}"]
    run.results[name] = figures
    run.problems += problems
    for problem in problems:
        run.log(f"    PROBLEM: {problem}")


def run_benchmark(
    size: Size,
    *,
    seed: int = 1,
    work: Path = ROOT / "work",
    neo4j_uri: str | None = None,
    neo4j_user: str | None = None,
    neo4j_password: str | None = None,
    log: Log = print,
    restart_neo4j: Callable[[], None] | None = None,
    initial_load: bool | None = None,
) -> dict[str, Any]:
    """Everything but writing the files: returns the results (see `report` for their shape).
    The first command after a Neo4j restart is measured when the run starts its own server,
    or with ``restart_neo4j`` (how to restart the server of ``neo4j_uri``). The offline
    initial load needs a Neo4j of the Maven jars of its own: by default only when the run
    starts its own server (``initial_load`` says otherwise)."""
    started = time.perf_counter()
    # The functions the profiles time must exist before the run spends its time.
    profile.check_probes()
    run = Run(size, seed, log)
    run.results.update(
        size=size.name,
        seed=seed,
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        machine=machine(),
    )
    work.mkdir(parents=True, exist_ok=True)
    data = load(work, size.devices, seed, log)
    run.results["data"] = {
        "devices": data.type_count(EntityType.Device),
        "records": data.records,
        "nodes": data.nodes,
        "edges": data.edges,
        "genealogy_edges": int(data.genealogy_mask().sum()),
        "generate_s": data.seconds,
    }
    measured = candidates(data, seed, log)
    probes = recall_probes(data, size.recall_targets, seed, log, measured)
    cases = case_sets(data, size.cases, seed)
    changes = change_orders(data)
    run.results["data"]["change_orders"] = len(changes)
    changes = changes[: size.impact_changes]
    plan = Plan(size.budget_s, size.min_runs, size.max_runs, size.slow_s, size.slow_runs)
    run.results["plan"] = {
        "budget_s": plan.budget_s,
        "min_runs": plan.min_runs,
        "max_runs": plan.max_runs,
        "slow_s": plan.slow_s,
        "slow_runs": plan.slow_runs,
    }

    log("loads:")
    # The embedded loads first, before the servers take their memory: a one-import load holds
    # every parsed record of the file at once.
    emb_path = load_embedded(run, data, work)
    load_epcis(run, work)
    reference = load_reference(run, work)
    if initial_load if initial_load is not None else neo4j_uri is None:
        load_neo4j_initial(run, data, size)

    with (
        neo4j_server(
            size.neo4j_heap, size.neo4j_pagecache, neo4j_uri, neo4j_user, neo4j_password
        ) as info,
        PgCluster(shared_buffers=size.pg_shared_buffers) as cluster,
    ):
        run.results["servers"] = {
            "neo4j": {
                "version": info.version,
                "how": info.how,
                "heap": info.heap,
                "pagecache_bytes": info.pagecache_bytes,
            },
            "postgres": {"version": cluster.version, "shared_buffers": size.pg_shared_buffers},
        }
        log(f"servers: Neo4j {info.version} ({info.how}), {cluster.version}")
        neo = load_neo4j(run, info, data)
        pg = PostgresGraph(cluster.dsn)
        pg_load = pg.load(data)
        run.results["import"]["postgres"] = {
            "rows": pg_load.rows,
            "seconds": pg_load.seconds,
            "copy_s": pg_load.copy_s,
            "index_s": pg_load.index_s,
            "analyze_s": pg_load.analyze_s,
        }
        log(f"  postgres load: {pg_load.rows:,} rows in {pg_load.seconds:.1f} s")
        built = time.perf_counter()
        csr = CsrFloor(data)
        run.results["import"]["csr"] = {"seconds": time.perf_counter() - built}
        cypher = CypherBaselines(neo.driver, neo.database)
        emb = EmbeddedStore(emb_path)
        sqlite_floor = SqliteFloor(emb_path)
        try:
            log("recall:")
            run.results["recall"] = [
                recall_probe(run, p, data, neo, emb, cypher, pg, csr, plan, sqlite_floor)
                for p in probes
            ]
            cap = size.profile_max_devices
            within = [p for p in probes if cap is None or p.devices <= cap]
            largest = max(within or probes, key=lambda p: p.devices)
            log(f"  profile of recall {largest.suspect} ({largest.devices:,} devices)")
            run.results["profile"] = {
                "recall_probe": largest.suspect,
                "recall_neo4j": profile.breakdown(
                    neo, lambda: tg.recall_json(neo, [largest.suspect])
                ),
                "plans": profile.closure_plans(neo.driver, neo.database, [largest.suspect]),
            }
            if size.fetch_variants:
                run.results["profile"]["fetch_variants"] = profile.fetch_variants(
                    neo.driver,
                    neo.database,
                    [largest.suspect, *neo.reach([largest.suspect], GENEALOGY, Direction.down)],
                    [str(r) for r in GENEALOGY],
                )
            log("impact:")
            run.results["impact"] = [impact_probe(run, c, neo, emb, plan) for c in changes]
            log("common cause:")
            population = data.type_count(EntityType.Device)
            run.results["common_cause"] = [
                common_cause_probe(run, cases[n], population, neo, emb, cypher, plan)
                for n in sorted(cases)
            ]
            log("data-quality check:")
            run.results["check"] = check_probe(run, neo, emb, plan)
            if probes:
                near = min(probes, key=lambda p: abs(p.devices - DRILL_DEVICES))
                log("mock recall (case drill):")
                section(
                    run,
                    "drill",
                    lambda: (
                        drill_probe(
                            run, near.suspect, near.devices, {"neo4j": neo, "embedded": emb}, work
                        ),
                        [],
                    ),
                )
            if cases:
                most = cases[max(cases)]
                log(f"  profile of common cause over {len(most):,} cases")
                # As the first analysis after a write: with the exposures remembered, the
                # walks it shows would not run.
                cc_profile = profile.breakdown(neo, lambda: tg.common_cause_first_json(neo, most))
                run.results.setdefault("profile", {})["common_cause_neo4j"] = {
                    "cases": len(most),
                    **cc_profile,
                }
                ranked = any(p.get("ranked") for p in run.results["common_cause"])
                if ranked and not cc_profile["p_values_calls"]:
                    run.problems.append(
                        "profile: common cause ranked candidates without calling "
                        f"{profile.PROBES['p_values_s']}: its p-values figure would read 0"
                    )
            log("cold queries (a fresh `tracegraph` process each):")
            neo_env = {"NEO4J_USER": info.user, "NEO4J_PASSWORD": info.password}
            stores = [
                frontends.cold_store("embedded", str(emb_path), data, measured),
                frontends.cold_store("neo4j", info.uri, data, measured, neo_env),
                frontends.cold_store(
                    "embedded_reference", str(reference.path), reference.data, reference.measured
                ),
            ]
            section(
                run, "cold_cli", lambda: frontends.cold_queries(stores, size.cold_runs, work, log)
            )
            log("audit verify (a fresh process each; time and peak memory):")
            section(run, "audit_verify", lambda: (audit_verify_both(emb_path, info), []))
            restart = info.restart or restart_neo4j
            if restart is not None:
                log("cold Neo4j (the first command after a server restart):")
                section(
                    run,
                    "cold_restart",
                    lambda: frontends.after_restart(stores[1], restart, work, log),
                )
            # Last of the probes on the stores: its writes add devices (see its text).
            log("common cause after a write of new production:")
            run.results["common_cause_growth"] = [
                common_cause_growth_probe(run, cases[n], neo, emb, plan) for n in sorted(cases)
            ]
        finally:
            pg.close()
            neo.close()
            emb.close()
            sqlite_floor.close()
    log("HTTP (`tracegraph serve` on the embedded store):")
    section(
        run,
        "http",
        lambda: frontends.http_throughput(
            emb_path, measured, size.http_clients, size.http_requests, work, log
        ),
    )
    run.results["machine"]["load_average_end"] = list(os.getloadavg())
    run.results["problems"] = run.problems
    run.results["identical"] = not run.problems
    run.results["seconds"] = time.perf_counter() - started
    log(f"done in {run.results['seconds']:.0f} s")
    return run.results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=ROOT / "work", help="generated data")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument(
        "--markdown", type=Path, default=REPO / "BENCHMARKS.md", help="'-' to write none"
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        help="only rewrite the Markdown table from a results file of an earlier run",
    )
    args = parser.parse_args(argv)
    if args.from_json:
        earlier = orjson.loads(args.from_json.read_bytes())
        report.update_file(args.markdown, earlier["size"], report.markdown(earlier))
        return 0
    size = SIZES[args.size]
    # A run stopped with SIGTERM still stops its PostgreSQL cluster and Neo4j (finally blocks).
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))

    started = time.monotonic()

    def log(line: str) -> None:
        # Minutes and seconds since the start: L has about 30 minutes, and the log says where
        # they went.
        elapsed = int(time.monotonic() - started)
        print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {line}", flush=True)

    results = run_benchmark(
        size,
        seed=args.seed,
        work=args.work,
        neo4j_uri=os.environ.get("NEO4J_URI"),
        neo4j_user=os.environ.get("NEO4J_USER"),
        neo4j_password=os.environ.get("NEO4J_PASSWORD"),
        log=log,
    )
    args.results.mkdir(parents=True, exist_ok=True)
    day = results["date"][:10]
    out = args.results / f"{day}-{size.name}.json"
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    log(f"results: {out}")
    table = report.markdown(results)
    print(table)
    if str(args.markdown) != "-":
        report.update_file(args.markdown, size.name, table)
        log(f"table: {args.markdown}")
    if results["problems"]:
        print("answers differ: " + "; ".join(results["problems"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
