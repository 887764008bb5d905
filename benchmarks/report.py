"""The Markdown table of one run, and its place in BENCHMARKS.md (between markers per size, so
a run of one size leaves the others' sections and the hand-written text alone)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

RECALL_COLUMNS = (
    ("csr_bfs", "CSR BFS (hardware floor)"),
    ("round_trip", "`RETURN 1` (one round trip)"),
    ("server_floor", "count(DISTINCT) (server floor)"),
    ("transfer_floor", "N keys through the driver, one list (transfer floor)"),
    ("transfer_rows", "N keys through the driver, one row each"),
    ("tracegraph_query", "TraceGraph closure query"),
    ("neo4j_closure", "TraceGraph closure, Neo4j store"),
    ("neo4j_recall", "TraceGraph recall → JSON, Neo4j"),
    ("embedded_closure", "TraceGraph closure, embedded store"),
    ("embedded_recall", "TraceGraph recall → JSON, embedded"),
    ("embedded_floor", "SQLite recursive CTE → N keys (embedded floor)"),
    ("postgres_cte", "PostgreSQL recursive CTE (closure)"),
    ("postgres_recall", "PostgreSQL whole answer (SQL → JSON)"),
    ("batched_hop", "batched per-hop (UNWIND per hop)"),
    ("per_hop", "per-hop loop, Neo4j (query per node)"),
    ("postgres_per_hop", "per-hop loop, PostgreSQL (prepared, query per node)"),
)


def _changes_note(results: dict[str, Any]) -> str:
    measured, total = len(results.get("impact", [])), results["data"].get("change_orders")
    if total is None or measured >= total:
        return "every change order of the data"
    return f"the first {measured} of the data's {total:,} change orders"


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    if ms >= 10_000:
        return f"{ms / 1000:,.1f} s"
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


def _cell(system: dict[str, Any] | None) -> str:
    if system is None:
        return "—"
    text = f"{_ms(system['p50_s'])} / {_ms(system['p95_s'])} ({system['runs']})"
    return text


def _server_cell(system: dict[str, Any] | None) -> str:
    if system is None or system.get("server_p50_ms") is None:
        return "—"
    return f"{system['server_p50_ms']:.0f} / {system['server_p95_ms']:.0f}"


def _ratio(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}×"
    if value >= 10:
        return f"{value:.1f}×"
    return f"{value:.2f}×"


def _p50(probe: dict[str, Any], name: str) -> float | None:
    system = probe.get("systems", {}).get(name)
    return None if system is None else float(system["p50_s"])


def _server(probe: dict[str, Any], name: str) -> float | None:
    system = probe.get("systems", {}).get(name)
    if system is None or system.get("server_p50_ms") is None:
        return None
    return float(system["server_p50_ms"])


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue with the ratio measured for it, per probe."""
    rows: list[dict[str, Any]] = []

    def add(
        target: str,
        probe: str,
        value: float | None,
        goal: str,
        met: bool | None,
        closure: float | None = None,
    ) -> None:
        rows.append(
            {
                "target": target,
                "probe": probe,
                "value": value,
                "goal": goal,
                "met": met,
                "closure": closure,
            }
        )

    for probe in results.get("recall", []):
        if not probe.get("identical"):
            continue
        name = f"recall {probe['devices']:,} devices"
        big = probe["devices"] >= 10_000
        floor = combined_floor(probe)
        embedded_floor = _p50(probe, "embedded_floor")
        answer, closure = _p50(probe, "neo4j_recall"), _p50(probe, "neo4j_closure")
        e_answer, e_closure = _p50(probe, "embedded_recall"), _p50(probe, "embedded_closure")
        ratio = _div(answer, floor)
        add(
            "recall answer (JSON), Neo4j / combined floor",
            name,
            ratio,
            "≤ 10× for N ≥ 10k",
            _le(ratio, 10.0) if big else None,
            _div(closure, floor),
        )
        ratio = _div(e_answer, embedded_floor)
        add(
            "recall answer (JSON), embedded / embedded floor",
            name,
            ratio,
            "≤ 10× for N ≥ 10k",
            _le(ratio, 10.0) if big else None,
            _div(e_closure, embedded_floor),
        )
        pg_answer, pg_closure = _p50(probe, "postgres_recall"), _p50(probe, "postgres_cte")
        ratio = _div(pg_answer, answer)
        add(
            "PostgreSQL whole answer / TraceGraph recall answer, Neo4j",
            name,
            ratio,
            "> 1× at every probe",
            _gt(ratio, 1.0),
            _div(pg_closure, closure),
        )
        ratio = _div(pg_answer, e_answer)
        add(
            "PostgreSQL whole answer / TraceGraph recall answer, embedded",
            name,
            ratio,
            "> 1× at every probe",
            _gt(ratio, 1.0),
            _div(pg_closure, e_closure),
        )
        for loop, label in (("per_hop", "Neo4j"), ("postgres_per_hop", "PostgreSQL")):
            ratio = _div(_p50(probe, loop), answer)
            add(
                f"per-hop loop ({label}) / TraceGraph recall answer, Neo4j",
                name,
                ratio,
                "≥ 50×",
                _ge(ratio, 50.0),
                _div(_p50(probe, loop), closure),
            )
        # Closure alone (issue 7's targets, kept beside the answer's for comparison).
        tg_ms, floor_ms = _server(probe, "tracegraph_query"), _server(probe, "server_floor")
        # Server time in whole milliseconds: below 1 ms both read 0, and 1 ms is the floor.
        server = _div(
            None if tg_ms is None else max(tg_ms, 1.0),
            None if floor_ms is None else max(floor_ms, 1.0),
        )
        add(
            "closure: server time / server floor", name, None, "(closure; was ≤ 1.2×)", None, server
        )
        add(
            "closure: batched per-hop / TraceGraph closure, Neo4j",
            name,
            None,
            "(closure)",
            None,
            _div(_p50(probe, "batched_hop"), closure),
        )
        add(
            "closure: TraceGraph closure, Neo4j / CSR BFS (hardware floor)",
            name,
            None,
            "(closure)",
            None,
            _div(closure, _p50(probe, "csr_bfs")),
        )
    imports = results.get("import", {})
    neo = imports.get("neo4j", {}).get("full")
    if neo:
        rate = neo["records_per_s"]
        add(
            "online import into Neo4j, records/s (wall)",
            "whole file",
            rate,
            "≥ 35,000",
            rate >= 35_000,
        )
        if neo.get("records_per_cpu_s"):
            add(
                "import into Neo4j, records per CPU-second (server + client)",
                "whole file",
                neo["records_per_cpu_s"],
                "(info: the import's CPU cost; client and server overlap in wall time)",
                None,
            )
    initial = imports.get("neo4j_initial_load")
    if initial and initial.get("records_per_s"):
        rate = initial["records_per_s"]
        add(
            "initial load of an empty Neo4j (neo4j-admin), records/s (wall)",
            "whole file",
            rate,
            "≥ 100,000",
            rate >= 100_000,
        )
    emb = imports.get("embedded", {}).get("full")
    if emb:
        rate = emb["records_per_s"]
        add(
            "import into embedded, records/s (wall)",
            "whole file",
            rate,
            "≥ 200,000",
            rate >= 200_000,
        )
        add(
            "import into embedded, records per CPU-second",
            "whole file",
            emb["records_per_cpu_s"],
            "(info: the import's CPU cost)",
            None,
        )
    cold = results.get("cold_cli", {}).get("stores", {})
    here, ref = cold.get("embedded", {}), cold.get("embedded_reference", {})
    for command, label in _COLD_COMMANDS if here and ref else ():
        ratio = _div(_cold_p50(here, command), _cold_p50(ref, command))
        add(
            f"cold {label}, embedded: this size / {ref.get('devices', 1000):,} devices",
            "one fresh process, median wall",
            ratio,
            "≤ 1.5×",
            _le(ratio, 1.5),
        )
    rates = {r["clients"]: r.get("requests_per_s") for r in results.get("http", {}).get("runs", [])}
    if len(rates) > 1:
        most = max(rates)
        add(
            f"HTTP recall throughput, embedded: {most} clients / 1 client",
            "requests/s",
            _div(rates[most], rates.get(1)),
            "(info: above 1× only if requests overlap)",
            None,
        )
    for probe in results.get("common_cause", []):
        if not probe.get("identical"):
            continue
        value = _div(_p50(probe, "count_per_candidate"), _p50(probe, "neo4j_common_cause"))
        add(
            "count query per candidate / TraceGraph common cause (again, same state)",
            f"{probe['cases']:,} cases",
            value,
            "≥ 20×",
            _ge(value, 20.0),
        )
        first = _div(_p50(probe, "count_per_candidate"), _p50(probe, "neo4j_common_cause_first"))
        if first is not None:
            add(
                "count query per candidate / TraceGraph common cause (first after a write)",
                f"{probe['cases']:,} cases",
                first,
                "≥ 20×",
                _ge(first, 20.0),
            )
        for system, when in (
            ("embedded_common_cause", "again, same state"),
            ("embedded_common_cause_first", "first after a write"),
        ):
            embedded = _div(_p50(probe, "count_per_candidate"), _p50(probe, system))
            if embedded is not None:
                add(
                    "count query per candidate (Neo4j) / TraceGraph common cause, embedded "
                    f"({when})",
                    f"{probe['cases']:,} cases",
                    embedded,
                    "(info)",
                    None,
                )
    counted = {
        p["cases"]: _p50(p, "count_per_candidate")
        for p in results.get("common_cause", [])
        if p.get("identical")
    }
    for probe in results.get("common_cause_growth", []):
        if not probe.get("identical"):
            continue
        for system, judged in (("neo4j", True), ("embedded", False)):
            value = _div(counted.get(probe["cases"]), _p50(probe, f"{system}_common_cause_grown"))
            if value is None:
                continue
            store = "" if judged else ", embedded"
            add(
                f"count query per candidate / TraceGraph common cause{store} (after a write of "
                "new production, followed)",
                f"{probe['cases']:,} cases",
                value,
                "≥ 20×" if judged else "(info)",
                _ge(value, 20.0) if judged else None,
            )
    return rows


def combined_floor(probe: dict[str, Any]) -> float | None:
    """The server floor plus the transfer floor, less the one round trip both pay (an empty
    ``RETURN 1``, timed in the same rounds; at most the cheaper floor's own time): what one
    query that walked the closure and sent its N keys would cost at best. None if a part was
    not measured."""
    parts = [_p50(probe, n) for n in ("server_floor", "transfer_floor", "round_trip")]
    if any(p is None for p in parts):
        return None
    server, transfer, trip = (float(p) for p in parts if p is not None)
    # Each floor query pays a round trip of its own, so the one subtracted is at most the
    # cheaper of the two (a noisy round trip must not make the floor vanish).
    return server + transfer - min(trip, server, transfer)


def _gt(value: float | None, bound: float) -> bool | None:
    return None if value is None else value > bound


def _le(value: float | None, bound: float) -> bool | None:
    return None if value is None else value <= bound


def _ge(value: float | None, bound: float) -> bool | None:
    return None if value is None else value >= bound


def _met(met: bool | None) -> str:
    return {True: "✔", False: "**✘**", None: ""}[met]


def _value(row: dict[str, Any]) -> str:
    value = row["value"]
    if value is None:
        return "—"
    if "records" in row["target"]:
        return f"{value:,.0f}"
    return _ratio(value)


def markdown(results: dict[str, Any]) -> str:
    return "\n".join(_lines(results)) + "\n"


def _lines(results: dict[str, Any]) -> Iterator[str]:
    m = results["machine"]
    d = results["data"]
    servers = results.get("servers", {})
    neo = servers.get("neo4j", {})
    pg = servers.get("postgres", {})
    plan = results["plan"]
    versions = m.get("versions", {})
    heap = neo.get("heap") or "as started"
    pagecache = neo.get("pagecache_bytes")
    cache = f"{pagecache / 1024**3:g} GiB" if pagecache else "as started"
    yield f"### Size {results['size']} — {results['date'][:10]}"
    yield ""
    yield (
        f"{d['devices']:,} devices: {d['records']:,} records, {d['nodes']:,} nodes, "
        f"{d['edges']:,} edges ({d['genealogy_edges']:,} genealogy). Run took "
        f"{results['seconds'] / 60:.1f} min. All systems' answers checked identical: "
        f"**{'yes' if results['identical'] else 'NO'}**."
    )
    yield ""
    load = m["load_average_start"][0], m.get("load_average_end", [0.0])[0]
    shared = " (other jobs shared the machine)" if max(load) > 1.5 else ""
    yield (
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; load average "
        f"{load[0]:.1f} at the start and {load[1]:.1f} at the end{shared}. "
        f"Neo4j {neo.get('version')} Community ({neo.get('how')}; heap {heap}, page "
        f"cache {cache}); {pg.get('version')} (shared_buffers {pg.get('shared_buffers')}); "
        f"Python {m['python']}, neo4j driver {versions.get('neo4j')} (Rust extension "
        f"{versions.get('neo4j-rust-ext')}), psycopg {versions.get('psycopg')}, scipy "
        f"{versions.get('scipy')}; commit {m.get('commit') or '?'}."
    )
    yield ""
    yield (
        f"Runs: each system warmed up once, then timed in interleaved rounds: as many as fit "
        f"{plan['budget_s']:g} s per system and probe, at least {plan['min_runs']} and at most "
        f"{plan['max_runs']}; a system too slow for that gets {plan.get('slow_runs', 3)}, and "
        "one slower than "
        f"{plan['slow_s']:g} s for a single run is run once. Cells: p50 / p95 in ms (runs)."
    )
    yield ""
    recall = results.get("recall", [])
    if recall:
        yield "**Recall** (suspect → its downstream closure; N = devices in it)"
        yield ""
        present = [
            (key, label)
            for key, label in RECALL_COLUMNS
            if any(key in p.get("systems", {}) for p in recall)
        ]
        yield "| system | " + " | ".join(_probe_title(p) for p in recall) + " |"
        yield "|---|" + "---:|" * len(recall)
        for key, label in present:
            cells = [_cell(p.get("systems", {}).get(key)) for p in recall]
            yield f"| {label} | " + " | ".join(cells) + " |"
        floors = [combined_floor(p) for p in recall]
        cells = ["—" if f is None else _ms(f) for f in floors]
        yield (
            "| combined floor: server floor + transfer floor − round trip (p50s) | "
            + " | ".join(cells)
            + " |"
        )
        cells = [_server_cell(p.get("systems", {}).get("tracegraph_query")) for p in recall]
        yield "| server ms, TraceGraph closure query | " + " | ".join(cells) + " |"
        cells = [_server_cell(p.get("systems", {}).get("server_floor")) for p in recall]
        yield "| server ms, server floor | " + " | ".join(cells) + " |"
        yield ""
    impact = results.get("impact", [])
    if impact:
        yield f"**Change impact** ({_changes_note(results)})"
        yield ""
        yield "| change | devices before / under | Neo4j | embedded |"
        yield "|---|---:|---:|---:|"
        for p in impact:
            counts = p.get("counts", {})
            devices = (
                f"{counts.get('devices_before', 0):,} / {counts.get('devices_under_change', 0):,}"
            )
            systems = p.get("systems", {})
            yield (
                f"| {p['change']} | {devices} | {_cell(systems.get('neo4j_impact'))} | "
                f"{_cell(systems.get('embedded_impact'))} |"
            )
        yield ""
    check = results.get("check")
    if check:
        systems = check.get("systems", {})
        yield "**Data-quality check** (`tracegraph check`: every rule over the whole store)"
        yield ""
        yield "| findings | Neo4j | embedded |"
        yield "|---:|---:|---:|"
        yield (
            f"| {check.get('findings') or 0:,} | {_cell(systems.get('neo4j_check'))} | "
            f"{_cell(systems.get('embedded_check'))} |"
        )
        yield ""
    drill = results.get("drill")
    if drill and drill.get("stores"):
        stores = drill["stores"]
        # (in the run's order, not the results file's sorted keys: --from-json writes the same)
        names = [s for s in ("neo4j", "embedded") if s in stores]
        yield (
            f"**Mock recall** (`tracegraph case drill {drill['suspect']}`: {drill['devices']:,} "
            "devices; scope, the 806 / FSCA / spreadsheet reports, the evidence of every affected "
            "batch; once per store), seconds"
        )
        yield ""
        yield "| step | " + " | ".join(names) + " |"
        yield "|---|" + "---:|" * len(names)
        steps = [s["step"] for s in stores[names[0]]["steps"]]
        for n, step in enumerate(steps):
            cells = [f"{stores[x]['steps'][n]['seconds']:.2f}" for x in names]
            yield f"| {step} | " + " | ".join(cells) + " |"
        yield (
            "| **total** | " + " | ".join(f"{stores[x]['total_seconds']:.2f}" for x in names) + " |"
        )
        yield ""
    cc = results.get("common_cause", [])
    if cc:
        yield (
            '**Common cause** (listed case devices; every upstream entity ranked. "again": '
            "the same analysis on an unchanged store, each candidate's exposure remembered "
            'from the last; "first": nothing remembered, as in a new Neo4j process or after a '
            "write the store cannot follow (one that reaches stored devices anew))"
        )
        yield ""
        yield (
            "| cases | ranked | TraceGraph, Neo4j, again | first | TraceGraph, embedded, again "
            "| first | one count query per candidate |"
        )
        yield "|---:|---:|---:|---:|---:|---:|---:|"
        for p in cc:
            systems = p.get("systems", {})
            yield (
                f"| {p['cases']:,} | {p.get('ranked', 0):,} | "
                f"{_cell(systems.get('neo4j_common_cause'))} | "
                f"{_cell(systems.get('neo4j_common_cause_first'))} | "
                f"{_cell(systems.get('embedded_common_cause'))} | "
                f"{_cell(systems.get('embedded_common_cause_first'))} | "
                f"{_cell(systems.get('count_per_candidate'))} |"
            )
        yield ""
    grown = results.get("common_cause_growth", [])
    if grown:
        baseline = {p["cases"]: p.get("systems", {}) for p in cc}
        yield (
            "**Common cause after a write of new production** (before each run, not timed: "
            f"a batch of {grown[0].get('devices_per_write', 0)} new devices from new lots of a "
            "supplier the cases share, on their stations; on Neo4j written through the "
            "analysing store object, as a server imports over its API, on the embedded store "
            "through another, as `tracegraph import` beside it. Each store grows the exposures "
            "it remembered; every answer checked against a count afresh)"
        )
        yield ""
        yield "| cases | TraceGraph, Neo4j | TraceGraph, embedded | one count query per candidate |"
        yield "|---:|---:|---:|---:|"
        for p in grown:
            systems = p.get("systems", {})
            yield (
                f"| {p['cases']:,} | {_cell(systems.get('neo4j_common_cause_grown'))} | "
                f"{_cell(systems.get('embedded_common_cause_grown'))} | "
                f"{_cell(baseline.get(p['cases'], {}).get('count_per_candidate'))} |"
            )
        yield ""
    imports = results.get("import", {})
    if imports:
        yield "**Loads**"
        yield ""
        yield "| store | records | s | records/s | notes |"
        yield "|---|---:|---:|---:|---|"
        neo_import = imports.get("neo4j", {})
        for row in neo_import.get("sweep", []):
            yield (
                f"| Neo4j (sweep) | {row['records']:,} | {row['seconds']:.1f} | "
                f"{row['records_per_s']:,.0f} | {row['chunk_records']:,} records per import, "
                f"write batch {row['write_batch']:,} |"
            )
        full = neo_import.get("full")
        if full:
            yield (
                f"| Neo4j | {full['records']:,} | {full['seconds']:.1f} | "
                f"{full['records_per_s']:,.0f} | best of the sweep: {full['chunk_records']:,} "
                f"records per import ({full['imports']} imports), write batch "
                f"{full['write_batch']:,}; CPU: server {full['server_cpu_s']:.1f} s, client "
                f"{full['client_cpu_s']:.1f} s"
                + (
                    f"; store on disk {full['store_bytes'] / 1024**2:,.0f} MiB"
                    if full.get("store_bytes")
                    else ""
                )
                + " |"
            )
        initial = imports.get("neo4j_initial_load")
        if initial and initial.get("records_per_s"):
            yield (
                f"| Neo4j initial load (`import --initial-load`, neo4j-admin, offline) | "
                f"{initial['records']:,} | {initial['seconds']:.1f} | "
                f"{initial['records_per_s']:,.0f} | an empty, stopped database; CPU: checking "
                f"the records and writing CSV {initial['client_cpu_s']:.1f} s, neo4j-admin "
                f"{initial['admin_cpu_s']:.1f} s |"
            )
        emb = imports.get("embedded", {}).get("full")
        if emb:
            yield (
                f"| embedded | {emb['records']:,} | {emb['seconds']:.1f} | "
                f"{emb['records_per_s']:,.0f} | one import; CPU {emb['client_cpu_s']:.1f} s"
                + (
                    f"; peak memory {emb['max_rss_bytes'] / 1024**2:,.0f} MiB"
                    if emb.get("max_rss_bytes")
                    else ""
                )
                + " |"
            )
        pgl = imports.get("postgres")
        if pgl:
            yield (
                f"| PostgreSQL | {pgl['rows']:,} rows | {pgl['seconds']:.1f} | "
                f"{pgl['rows'] / pgl['seconds']:,.0f} | binary COPY {pgl['copy_s']:.1f} s, "
                f"indexes {pgl['index_s']:.1f} s, VACUUM ANALYZE {pgl['analyze_s']:.1f} s |"
            )
        yield ""
    yield from _embedded_lines(results)
    rows = targets(results)
    if rows:
        yield (
            "**Targets** (ratios of p50s measured in this run, judged on what a user receives: "
            "the recall answer as JSON, impact, common cause, an import; the combined floor is "
            "server floor + transfer floor − one round trip; the embedded floor is SQLite's "
            "recursive CTE returning the N keys. The last column is the same ratio for the "
            "closure alone — the reachable keys, not the answer — shown beside, not judged)"
        )
        yield ""
        yield "| target | probe | measured | goal | | closure alone |"
        yield "|---|---|---:|---|---|---:|"
        for row in rows:
            closure = row.get("closure")
            yield (
                f"| {row['target']} | {row['probe']} | {_value(row)} | {row['goal']} | "
                f"{_met(row['met'])} | {_ratio(closure) if closure is not None else ''} |"
            )
        yield ""
        yield from _plan_lines(results)
    yield from _profile_lines(results)
    if results.get("problems"):
        yield "**Answers that differ:** " + "; ".join(results["problems"])
        yield ""


def _profile_lines(results: dict[str, Any]) -> Iterator[str]:
    prof = results.get("profile")
    if prof:
        rec = prof["recall_neo4j"]
        yield (
            f"**Where the time goes: recall of {prof['recall_probe']} on Neo4j** (one run "
            f"{rec['total_s'] * 1000:,.0f} ms; per store query, wall ms)"
        )
        yield ""
        parts = [
            f"{name} {q['seconds'] * 1000:,.0f} ({q['calls']}×)"
            for name, q in sorted(rec["queries"].items(), key=lambda kv: -kv[1]["seconds"])
        ]
        parts.append(f"outside the store {rec['outside_queries_s'] * 1000:,.0f}")
        yield "- " + "; ".join(parts) + "."
        share = rec["temporal_hydration_s"] / rec["profiled_s"] if rec["profiled_s"] else 0
        yield (
            f"- Under cProfile ({rec['profiled_s'] * 1000:,.0f} ms), the driver's "
            f"`hydrate_datetime` and friends take {rec['temporal_hydration_s'] * 1000:,.0f} ms "
            f"({share:.0%}), and the store's `_native` conversion "
            f"{rec['temporal_to_native_s'] * 1000:,.0f} ms more."
        )
        fv = prof.get("fetch_variants")
        if fv:
            yield (
                f"- The same reads over its {fv['keys']:,} nodes, shaped otherwise (client ms): "
                f"`edges_among` as stored {fv['edges_among_as_stored_ms']:,.0f}, without the "
                f"edge properties {fv['edges_rows_without_props_ms']:,.0f}, and as one list "
                f"{fv['edges_one_list_without_props_ms']:,.0f}; `node_get` as stored "
                f"{fv['node_get_as_stored_ms']:,.0f}, as one list {fv['nodes_one_list_ms']:,.0f}, "
                f"as one list with instants sent as integers "
                f"{fv['nodes_one_list_instants_as_integers_ms']:,.0f}."
            )
        plans = prof.get("plans", {})
        if plans:
            tgq, floor = plans["tracegraph_query"], plans["server_floor"]
            yield (
                f"- PROFILE: TraceGraph's closure query {tgq['db_hits']:,} db hits "
                f"({_operators(tgq)}); the server floor {floor['db_hits']:,} "
                f"({_operators(floor)})."
            )
        yield ""
    cc = (prof or {}).get("common_cause_neo4j")
    if cc:
        parts = [
            f"{name} {q['seconds'] * 1000:,.0f} ({q['calls']}×)"
            for name, q in sorted(cc["queries"].items(), key=lambda kv: -kv[1]["seconds"])
        ]
        parts.append(f"outside the store {cc['outside_queries_s'] * 1000:,.0f}")
        yield (
            f"**Where the time goes: common cause over {cc['cases']:,} cases on Neo4j, the first "
            "analysis after a write** (one run "
            f"{cc['total_s'] * 1000:,.0f} ms; per store query, wall ms): " + "; ".join(parts) + "."
            f" Under cProfile ({cc['profiled_s'] * 1000:,.0f} ms): p-values "
            f"{_ms(cc['p_values_s'])} ms ({cc.get('p_values_calls', '?')} calls), the driver's "
            "temporal hydration "
            f"{cc['temporal_hydration_s'] * 1000:,.0f} ms."
        )
        yield ""
    for store in ("neo4j", "embedded"):
        imp = results.get("import", {}).get(store, {}).get("profile")
        if not imp:
            continue
        total = imp["total_s"]

        def pct(key: str, total: float = total, imp: dict[str, Any] = imp) -> str:
            return f"{imp[key]:.1f} s ({imp[key] / total:.0%})" if total else "—"

        yield (
            f"**Where the time goes: import into {store}** ({imp['records']:,} records under "
            f"cProfile, {total:.1f} s, client side): reading and validating "
            f"{pct('read_and_validate_s')} (of which `parse_record` {pct('validate_records_s')}), "
            f"endpoint check {pct('check_endpoints_s')}, the store's write "
            f"{pct('store_write_s')} (of which the write plan {pct('plan_write_s')}, the audit "
            f"digest {pct('audit_digest_s')}"
            + (
                f", serialising the file {pct('serialise_file_s')}"
                if store == "embedded" and imp.get("serialise_file_s")
                else ""
            )
            + (
                f", the driver's temporal dehydration {pct('driver_dehydration_s')}"
                if store == "neo4j"
                else ""
            )
            + ")."
        )
        yield ""


_COLD_COMMANDS = (("trace_up", "`trace … --up`"), ("small_recall", "small `recall`"))


def _cold_p50(store: dict[str, Any], command: str) -> float | None:
    value = store.get(command, {}).get("p50_s")
    return None if value is None else float(value)


def _cold_query(store: dict[str, Any], command: str) -> str | None:
    """The command line of a cold query, and the size of its answer."""
    figures = store.get(command)
    if not figures:
        return None
    if command == "trace_up":
        return f"`trace {figures['key']} --up` ({figures['nodes']:,} nodes)"
    return f"`recall {figures['suspect']}` ({figures['devices']:,} devices)"


def _cold_cell(store: dict[str, Any], command: str) -> str:
    figures = store.get(command, {})
    if figures.get("p50_s") is None:
        return "—"
    return f"{figures['p50_s'] * 1000:,.0f} ({figures['runs']})"


def _http_cell(run: dict[str, Any] | None) -> str:
    if run is None or run.get("requests_per_s") is None:
        return "—"
    small = run["small"]
    latency = (
        f"; small p50 / p95 {_ms(small['p50_s'])} / {_ms(small['p95_s'])} ms"
        if small.get("p50_s") is not None
        else ""
    )
    large = run.get("large", {})
    if large.get("p50_s") is not None:
        latency += f"; large p50 {_ms(large['p50_s'])} ms"
    failed = f"; **{run['error_count']} failed**" if run.get("error_count") else ""
    return f"{run['requests_per_s']:,.1f}/s{latency}{failed}"


def _embedded_lines(results: dict[str, Any]) -> Iterator[str]:
    """The embedded store as users meet it: a fresh CLI process per query, the one-import load,
    and `tracegraph serve` under concurrent clients."""
    cold = results.get("cold_cli", {})
    http = results.get("http", {})
    imports = results.get("import", {})
    emb, ref = imports.get("embedded", {}).get("full"), imports.get("embedded_reference")
    if not (cold or http or (emb and emb.get("max_rss_bytes"))):
        return  # a run from before these figures were measured
    stores = cold.get("stores", {})
    here = stores.get("embedded", {})
    neo = stores.get("neo4j", {})
    reference = stores.get("embedded_reference", {})
    ref_devices = reference.get("devices") or (ref or {}).get("devices") or 1000
    yield "**Embedded store: cold start, import, concurrency**"
    yield ""
    yield (
        "Cold: the wall time of one whole fresh `tracegraph … --format json --db STORE` process "
        "(interpreter start-up, imports, opening the store, the query, printing the answer; "
        "nothing subtracted), median of the timed runs, after one run whose answer was checked; "
        'the operating system\'s file cache is warm. "First" is the first such process of the '
        'run on each store (its answer checked); "after a server restart": Neo4j stopped and '
        "started again (same data), then one process, its page cache and query caches empty "
        "but for Neo4j's page-cache warm-up; the file cache stays warm (emptying it needs "
        "root). The reference is an embedded store of "
        f"{ref_devices:,} devices built in the same run, queried the same way. Import: the "
        "whole JSON Lines file in one import (`import_paths`, as `tracegraph import` does), "
        "in a process of its own. HTTP: `tracegraph serve` on the embedded store; each client "
        "(a thread with its own connection) sends its requests one after the other, "
        f"`POST /v1/recall` of one suspect, every {http.get('large_every', 10)}th a large "
        "recall; answers paged as by default."
    )
    yield ""
    yield f"| measure | this size | {ref_devices:,}-device store | ratio | goal | |"
    yield "|---|---:|---:|---:|---|---|"
    for command, label in _COLD_COMMANDS:
        if not here and not reference:
            break
        ratio = _div(_cold_p50(here, command), _cold_p50(reference, command))
        yield (
            f"| cold {_cold_query(here, command) or label}, embedded, ms (runs) | "
            f"{_cold_cell(here, command)} | {_cold_cell(reference, command)} | {_ratio(ratio)} | "
            f"≤ 1.5× | {_met(_le(ratio, 1.5))} |"
        )
    for command, label in _COLD_COMMANDS:
        if not neo:
            break
        ratio = _div(_cold_p50(neo, command), _cold_p50(here, command))
        yield (
            f"| cold {label}, Neo4j (the same query), ms (runs); ratio Neo4j / embedded | "
            f"{_cold_cell(neo, command)} | "
            f"— | {_ratio(ratio)} | (info) | |"
        )
    for command, label in _COLD_COMMANDS:
        firsts = [
            (name, stores.get(name, {}).get(command, {}).get("first_s"))
            for name in ("embedded", "neo4j")
        ]
        if all(v is None for _n, v in firsts):
            continue
        yield (
            f"| first {label} of the run (the checked process), embedded / Neo4j, ms | "
            + " / ".join("—" if v is None else f"{v * 1000:,.0f}" for _n, v in firsts)
            + " | — | — | (info) | |"
        )
    restarted = results.get("cold_restart", {}).get("commands", {})
    for command, label in _COLD_COMMANDS:
        figures = restarted.get(command)
        if not figures:
            continue
        warm = _cold_p50(neo, command)
        yield (
            f"| {label}, Neo4j, first command after a server restart, ms (restart s); ratio "
            f"to the median cold process | {figures['first_s'] * 1000:,.0f} "
            f"({figures['restart_s']:.1f} s) | — | "
            f"{_ratio(_div(figures['first_s'], warm))} | (info) | |"
        )
    startup = cold.get("startup", {})
    if startup.get("p50_s") is not None:
        yield (
            f'| start-up alone (`python -c "import cli.main"`), ms (runs) | '
            f"{startup['p50_s'] * 1000:,.0f} ({startup['runs']}) | — | — | (info) | |"
        )
    if emb:
        rate = emb["records_per_s"]
        ref_rate = f"{ref['records_per_s']:,.0f}" if ref else "—"
        pieces = (
            f"; **one import did not fit** ({emb['one_import_failed']}): "
            f"{emb['chunk_records']:,} records per import"
            if emb.get("one_import_failed")
            else ""
        )
        yield (
            f"| import into embedded, records/s ({emb['records']:,} records in "
            f"{emb['seconds']:.1f} s{pieces}) | {rate:,.0f} | {ref_rate} | — | ≥ 200,000 | "
            f"{_met(rate >= 200_000)} |"
        )
        if emb.get("max_rss_bytes"):
            ref_rss = f"{ref['max_rss_bytes'] / 1024**2:,.0f}" if ref else "—"
            yield (
                f"| peak memory of that import (the importing process), MiB | "
                f"{emb['max_rss_bytes'] / 1024**2:,.0f} | {ref_rss} | — | (info) | |"
            )
    epcis = imports.get("embedded_epcis")
    if epcis:
        yield (
            f"| import of the same genealogy as EPCIS 2.0 into embedded, records/s "
            f"({epcis['events']:,} events, {epcis['document_bytes'] / 1024**2:,.0f} MB, "
            f"{epcis['records']:,} records in {epcis['seconds']:.1f} s; peak "
            f"{epcis['max_rss_bytes'] / 1024**2:,.0f} MiB) | "
            f"{epcis['records_per_s']:,.0f} | — | — | (info) | |"
        )
    for store, verified in sorted(results.get("audit_verify", {}).items()):
        if not isinstance(verified, dict):
            continue
        yield (
            f"| `audit verify`, {store} ({verified['records']:,} records, "
            f"{verified['versions']:,} versions): s (CPU s); peak memory MiB | "
            f"{verified['seconds']:,.1f} ({verified['cpu_seconds']:,.1f}); "
            f"{verified['peak_rss_mib']:,.0f} | — | — | peak < 1,024 MiB at L | "
            f"{_met(verified['peak_rss_mib'] < 1024)} |"
        )
    runs = {r["clients"]: r for r in http.get("runs", [])}
    one = runs.get(1)
    for clients, run in sorted(runs.items()):
        ratio = _div(run.get("requests_per_s"), (one or {}).get("requests_per_s"))
        yield (
            f"| HTTP recall, {clients} client{'s' if clients > 1 else ''} × "
            f"{http.get('requests_per_client')} requests | {_http_cell(run)} | — | "
            f"{_ratio(ratio) if clients != 1 else ''} | "
            f"{'(info: throughput vs 1 client)' if clients != 1 else '(info)'} | |"
        )
    if reference:
        queries = [_cold_query(reference, c) for c, _label in _COLD_COMMANDS]
        yield ""
        yield (
            f"The {ref_devices:,}-device store's cold queries: "
            + " and ".join(q for q in queries if q)
            + "."
        )
    if http.get("small"):
        small = http["small"]
        devices = sorted(p["devices"] for p in small)
        large = ", ".join(f"{p['suspect']} ({p['devices']:,})" for p in http.get("large", []))
        yield ""
        yield (
            f"HTTP suspects: {len(small)} small recalls of {devices[0]:,}–{devices[-1]:,} devices"
            + (f"; large: {large}" if large else "")
            + (
                f"; the server answered /healthz {http['serve_startup_s']:.1f} s after its start"
                if http.get("serve_startup_s") is not None
                else ""
            )
            + "."
        )
    for name in ("cold_cli", "cold_restart", "http", "audit_verify"):
        error = results.get(name, {}).get("error")
        if error:
            yield ""
            yield f"**{name} failed:** {error}"
    yield ""


def _plan_lines(results: dict[str, Any]) -> Iterator[str]:
    """The PostgreSQL plans of every probe: which scans, and that none reads ``node`` or
    ``edge`` whole (the run fails if one does)."""
    probes = [p for p in results.get("recall", []) if p.get("postgres_plans")]
    if not probes:
        return
    yield (
        "**PostgreSQL plans** (`EXPLAIN (ANALYZE, BUFFERS)` of each statement at each probe, "
        "before timing; the whole text is in the results JSON)"
    )
    yield ""
    yield "| probe | statement | ms | scans | Seq Scan on node / edge |"
    yield "|---|---|---:|---|---|"
    for probe in probes:
        for plan in probe["postgres_plans"]:
            scans = "; ".join(f"{name} ×{n}" for name, n in sorted(plan["scans"].items()))
            seq = ", ".join(plan["seq_scans"]) or "none ✔"
            ms = plan.get("execution_ms")
            yield (
                f"| {probe['devices']:,} devices | {plan['query']} | "
                f"{'—' if ms is None else f'{ms:,.1f}'} | {scans} | {seq} |"
            )
    yield ""


def _operators(plan: dict[str, Any]) -> str:
    return ", ".join(
        f"{o['operator']} {int(o['db_hits'] or 0):,}"
        for o in plan["operators"]
        if int(o["db_hits"] or 0) > 0
    )


def _probe_title(probe: dict[str, Any]) -> str:
    return f"N = {probe['devices']:,} ({probe['suspect']}, {probe['reach_nodes']:,} nodes)"


def _markers(size: str) -> tuple[str, str]:
    return f"<!-- bench:{size}:start -->", f"<!-- bench:{size}:end -->"


def update_file(path: Path, size: str, table: str) -> None:
    """Put the table between the size's markers (appended at the end the first time)."""
    start, end = _markers(size)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{table}{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
