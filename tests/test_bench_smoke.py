"""A smoke run of the benchmark harness (benchmarks/) at a tiny size.

It loads a tiny generated genealogy into the session's Neo4j, the embedded store, a PostgreSQL
cluster the harness starts itself and the CSR copy, and checks that every system gives the
same answers on every probe; then runs the cold `tracegraph` queries and the HTTP load on
`tracegraph serve`, which check their answers too. It asserts no timings: this machine is
shared, and the numbers belong to `make bench`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks import profile, report
from benchmarks.data import dataset_dir, generator_fingerprint, load
from benchmarks.probes import candidates
from benchmarks.run import compare_recall_answers, run_benchmark
from benchmarks.sizes import SIZES
from benchmarks.systems.csr import CsrFloor
from benchmarks.systems.postgres import Plan as PgPlan
from benchmarks.systems.postgres import plan_problems
from benchmarks.timing import Outcome, Plan, Staged, measure
from tests.support.neo4j_server import Neo4jServer

RECALL_SYSTEMS = {
    "csr_bfs",
    "round_trip",
    "server_floor",
    "transfer_floor",
    "transfer_rows",
    "tracegraph_query",
    "neo4j_closure",
    "neo4j_recall",
    "embedded_closure",
    "embedded_recall",
    "embedded_floor",
    "postgres_cte",
    "postgres_recall",
    "batched_hop",
    "per_hop",
    "postgres_per_hop",
}


@pytest.fixture(scope="module")
def tiny_run(neo4j_server: Neo4jServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return run_benchmark(
        SIZES["tiny"],
        work=tmp_path_factory.mktemp("bench"),
        neo4j_uri=neo4j_server.uri,
        neo4j_user=neo4j_server.user,
        neo4j_password=neo4j_server.password,
        log=lambda _line: None,
        # The session's server is shared: the "restart" is a no-op here, so the figure is not
        # cold, but the measurement, its check and its report rows run as at S, M and L.
        restart_neo4j=lambda: None,
        # A Neo4j of the Maven jars of its own, loaded offline, where the tests run one.
        initial_load=neo4j_server.how == "local-maven",
    )


@pytest.mark.neo4j
def test_every_system_gives_the_same_answers(tiny_run: Any) -> None:
    assert tiny_run["problems"] == []
    assert tiny_run["identical"] is True
    assert tiny_run["recall"], "no recall probe was chosen"
    for probe in tiny_run["recall"]:
        assert probe["identical"], probe
        assert set(probe["systems"]) == RECALL_SYSTEMS
        assert probe["devices"] > 0
        assert probe["reach_nodes"] >= probe["devices"]
    changes = [p["change"] for p in tiny_run["impact"]]
    assert len(changes) == 5
    assert all(p["identical"] for p in tiny_run["impact"])
    # The counts the report shows come from the checked answer: every category, and at least
    # one change order with devices in it.
    assert all(
        set(p["counts"]) >= {"devices_before", "devices_under_change"} for p in tiny_run["impact"]
    )
    assert any(
        p["counts"]["devices_before"] + p["counts"]["devices_under_change"] > 0
        for p in tiny_run["impact"]
    )
    # The same genealogy as an EPCIS document, imported beside the JSON Lines file.
    epcis = tiny_run["import"]["embedded_epcis"]
    assert epcis["events"] > 0
    assert epcis["records"] > 0
    assert "as EPCIS 2.0 into embedded" in report.markdown(tiny_run)
    # A mock recall (case drill) on both stores, every step timed.
    drill = tiny_run["drill"]
    assert set(drill["stores"]) == {"neo4j", "embedded"}
    for done in drill["stores"].values():
        assert [s["step"] for s in done["steps"]] == [
            "scope", "fda-806", "fsca", "spreadsheet", "evidence"
        ]  # fmt: skip
    assert "**Mock recall**" in report.markdown(tiny_run)


@pytest.mark.neo4j
def test_a_section_rewritten_from_its_results_file_is_the_same(tiny_run: Any) -> None:
    # `--from-json` reads the results as the run wrote them, keys sorted.
    written = orjson.dumps(tiny_run, option=orjson.OPT_SORT_KEYS)
    assert report.markdown(orjson.loads(written)) == report.markdown(tiny_run)
    # The whole data-quality check, timed on both stores, with the same findings.
    assert tiny_run["check"]["identical"], tiny_run["check"]
    assert set(tiny_run["check"]["systems"]) == {"neo4j_check", "embedded_check"}
    assert tiny_run["check"]["findings"] > 0
    assert [p["cases"] for p in tiny_run["common_cause"]] == list(SIZES["tiny"].cases)
    for probe in tiny_run["common_cause"]:
        assert probe["identical"], probe
        assert set(probe["systems"]) == {
            "neo4j_common_cause",
            "neo4j_common_cause_first",
            "embedded_common_cause",
            "embedded_common_cause_first",
            "count_per_candidate",
        }
        assert probe["ranked"] > 0
    # After writes of new production (each checked against a count afresh), last of all.
    grown = tiny_run["common_cause_growth"]
    assert [p["cases"] for p in grown] == list(SIZES["tiny"].cases)
    for probe in grown:
        assert probe["identical"], probe
        assert set(probe["systems"]) == {"neo4j_common_cause_grown", "embedded_common_cause_grown"}
    assert "**Common cause after a write of new production**" in report.markdown(tiny_run)


@pytest.mark.neo4j
def test_every_load_is_complete(tiny_run: Any) -> None:
    data = tiny_run["data"]
    imports = tiny_run["import"]
    assert imports["neo4j"]["full"]["records"] == data["records"]
    assert imports["embedded"]["full"]["records"] == data["records"]
    assert imports["postgres"]["rows"] == data["nodes"] + data["edges"]
    assert imports["neo4j"]["sweep"], "the import sweep tried no configuration"


@pytest.mark.neo4j
def test_the_report_names_every_target(tiny_run: Any, tmp_path: Path) -> None:
    rows = report.targets(tiny_run)
    targets = {row["target"] for row in rows}
    assert {
        "recall answer (JSON), Neo4j / combined floor",
        "recall answer (JSON), embedded / embedded floor",
        "PostgreSQL whole answer / TraceGraph recall answer, Neo4j",
        "PostgreSQL whole answer / TraceGraph recall answer, embedded",
        "per-hop loop (Neo4j) / TraceGraph recall answer, Neo4j",
        "per-hop loop (PostgreSQL) / TraceGraph recall answer, Neo4j",
        "closure: server time / server floor",
        "online import into Neo4j, records/s (wall)",
        "import into embedded, records/s (wall)",
        "count query per candidate / TraceGraph common cause (again, same state)",
        "count query per candidate / TraceGraph common cause (first after a write)",
        "count query per candidate / TraceGraph common cause (after a write of new production, "
        "followed)",
    } <= targets
    if "neo4j_initial_load" in tiny_run["import"]:
        assert "initial load of an empty Neo4j (neo4j-admin), records/s (wall)" in targets
        loaded = tiny_run["import"]["neo4j_initial_load"]
        assert loaded["records"] == tiny_run["data"]["records"]
    # Both stores verified their audit chains in bounded memory, and the report says so.
    verified = tiny_run["audit_verify"]
    assert set(verified) == {"embedded", "neo4j"}
    assert all(
        v["intact"] and v["records"] > 0 and v["peak_rss_mib"] > 0 for v in verified.values()
    )
    assert "`audit verify`, neo4j" in report.markdown(tiny_run)
    # Every user-facing recall target has its ratio, and the closure's beside it.
    answer_rows = [r for r in rows if r["target"].startswith(("recall answer", "PostgreSQL whole"))]
    assert answer_rows
    assert all(r["value"] is not None and r["closure"] is not None for r in answer_rows)
    # Judged at every probe: faster than PostgreSQL's whole answer, ≥ 50× the loops.
    assert all(r["met"] is not None for r in rows if r["target"].startswith("PostgreSQL whole"))
    # The combined floor pays one round trip, not two.
    probe = tiny_run["recall"][0]
    p50 = {k: v["p50_s"] for k, v in probe["systems"].items()}
    trip = min(p50["round_trip"], p50["server_floor"], p50["transfer_floor"])
    assert report.combined_floor(probe) == pytest.approx(
        p50["server_floor"] + p50["transfer_floor"] - trip
    )
    systems = {"server_floor": 0.005, "transfer_floor": 0.003, "round_trip": 0.001}
    fake = {"systems": {k: {"p50_s": v} for k, v in systems.items()}}
    assert report.combined_floor(fake) == pytest.approx(0.007)
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\nHand-written analysis.\n")
    table = report.markdown(tiny_run)
    report.update_file(page, "tiny", table)
    report.update_file(page, "tiny", table)  # a second run replaces its own section only
    text = page.read_text()
    assert text.count("<!-- bench:tiny:start -->") == 1
    assert "Hand-written analysis." in text
    assert "All systems' answers checked identical: **yes**" in text
    # A size that measures fewer change orders than the data holds says so.
    assert "(every change order of the data)" in table
    assert "**PostgreSQL plans**" in table
    assert "| closure alone |" in table
    trimmed = {**tiny_run, "impact": tiny_run["impact"][:1]}
    assert "(the first 1 of the data's 5 change orders)" in report.markdown(trimmed)


@pytest.mark.neo4j
def test_cold_queries_the_embedded_import_and_http_load_are_measured(tiny_run: Any) -> None:
    size = SIZES["tiny"]
    cold = tiny_run["cold_cli"]
    assert set(cold["stores"]) == {"embedded", "neo4j", "embedded_reference"}
    assert cold["stores"]["embedded_reference"]["devices"] == 1_000
    for store in cold["stores"].values():
        for command in ("trace_up", "small_recall"):
            assert store[command]["runs"] == size.cold_runs
            assert store[command]["p50_s"] > 0
    assert cold["startup"]["p50_s"] > 0
    full = tiny_run["import"]["embedded"]["full"]
    assert (full["records"], full["imports"]) == (tiny_run["data"]["records"], 1)
    assert full["max_rss_bytes"] > 0
    assert tiny_run["import"]["embedded_reference"]["records_per_s"] > 0
    http = tiny_run["http"]
    assert [run["clients"] for run in http["runs"]] == list(size.http_clients)
    for run in http["runs"]:
        assert run["error_count"] == 0, run["errors"]
        assert run["requests"] == run["clients"] * size.http_requests
        assert run["small"]["requests"] > 0
        assert run["large"]["requests"] > 0
    table = report.markdown(tiny_run)
    assert "**Embedded store: cold start, import, concurrency**" in table
    targets = {row["target"] for row in report.targets(tiny_run)}
    assert {
        "cold `trace … --up`, embedded: this size / 1,000 devices",
        "cold small `recall`, embedded: this size / 1,000 devices",
        "HTTP recall throughput, embedded: 8 clients / 1 client",
    } <= targets


def test_answers_that_differ_are_reported_and_not_timed() -> None:
    calls = {"a": 0, "b": 0}

    def task(name: str, answer: int) -> Any:
        def run() -> Outcome:
            calls[name] += 1
            return Outcome(answer)

        return run

    def check(answers: dict[str, Any]) -> list[str]:
        return [f"{k} differs" for k, v in answers.items() if v != answers["a"]]

    plan = Plan(budget_s=1.0, min_runs=5, max_runs=5, slow_s=10.0)
    outcome = measure({"a": task("a", 1), "b": task("b", 2)}, plan, lambda _line: None, check)
    assert outcome == ["b differs"]
    assert calls == {"a": 1, "b": 1}  # the warm-up only: nothing was timed

    agreed = measure({"a": task("a", 1), "b": task("b", 1)}, plan, lambda _line: None, check)
    assert isinstance(agreed, dict)
    assert [agreed[k].runs for k in ("a", "b")] == [5, 5]


def test_a_staged_tasks_step_before_each_run_is_not_timed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [0.0]
    monkeypatch.setattr("benchmarks.timing.time.perf_counter", lambda: clock[0])
    steps: list[str] = []

    def prepare() -> None:
        steps.append("write")
        clock[0] += 100.0  # a write that takes long

    def run() -> Outcome:
        steps.append("analyse")
        clock[0] += 0.5
        return Outcome(1)

    plan = Plan(budget_s=2.0, min_runs=3, max_runs=3, slow_s=10.0)
    samples = measure({"a": Staged(prepare, run)}, plan, lambda _line: None, lambda _: [])
    assert isinstance(samples, dict)
    assert samples["a"].seconds == [0.5] * 3
    assert samples["a"].warmup_s == 0.5
    assert steps == ["write", "analyse"] * 4  # the warm-up and three runs, each after a write


def test_the_plan_gives_slow_systems_fewer_runs() -> None:
    plan = Plan(budget_s=8.0, min_runs=5, max_runs=20, slow_s=30.0)
    assert [plan.runs_for(s) for s in (0.1, 1.0, 6.4, 10.0, 31.0)] == [20, 8, 5, 3, 0]
    once = Plan(budget_s=8.0, min_runs=5, max_runs=20, slow_s=30.0, slow_runs=1)
    assert [once.runs_for(s) for s in (0.1, 1.0, 6.4, 10.0, 31.0)] == [20, 8, 5, 1, 0]


@pytest.mark.neo4j
def test_postgres_plans_look_keys_up_by_index(tiny_run: Any) -> None:
    for probe in tiny_run["recall"]:
        plans = probe["postgres_plans"]
        assert [p["query"] for p in plans] == ["closure CTE", "whole answer", "per-hop step"]
        for plan in plans:
            assert plan["seq_scans"] == [], plan["text"]
            assert any("on node" in scan for scan in plan["scans"]), plan["scans"]
            assert any("on edge" in scan for scan in plan["scans"]), plan["scans"]
            assert "Execution Time" in plan["text"]


@pytest.mark.neo4j
def test_the_first_command_after_a_neo4j_restart_is_measured(tiny_run: Any) -> None:
    commands = tiny_run["cold_restart"]["commands"]
    assert set(commands) == {"trace_up", "small_recall"}
    assert all(c["first_s"] > 0 for c in commands.values())
    for store in ("embedded", "neo4j"):
        assert tiny_run["cold_cli"]["stores"][store]["small_recall"]["first_s"] > 0
    table = report.markdown(tiny_run)
    assert "first command after a server restart" in table
    assert "first small `recall` of the run" in table


def test_a_sequential_scan_in_a_plan_is_a_problem() -> None:
    indexed = PgPlan("q", "Index Only Scan using node_key on node n\nExecution Time: 0.1 ms")
    scanned = PgPlan("q", "Hash Join\n  ->  Seq Scan on node n\n  ->  Seq Scan on reach r")
    assert plan_problems([indexed]) == []
    assert plan_problems([scanned]) == ["PostgreSQL q: Seq Scan on node in its plan"]
    assert scanned.scans == {"Seq Scan on node": 1, "Seq Scan on reach": 1}
    assert indexed.execution_ms == 0.1


def test_the_csr_floor_agrees_with_scipy_and_touches_only_its_answer(tmp_path: Path) -> None:
    data = load(tmp_path, SIZES["tiny"].devices, 1, lambda _line: None)
    floor = CsrFloor(data)
    measured = candidates(data, 1, lambda _line: None)
    assert measured
    for candidate in measured[:50]:
        got = floor.closure([data.index[candidate.suspect]])
        assert len(got) == len(set(got.tolist()))
        assert set(got.tolist()) == set(data.reach([candidate.suspect]).tolist())
        # The visited marks are reset at the indices the call set, not over all nodes.
        assert not floor._seen.any()
    two = [data.index[c.suspect] for c in measured[:2]]
    assert set(floor.closure(two).tolist()) == set(data.reach_indices(two).tolist())


def test_data_made_by_another_generator_is_made_again(tmp_path: Path) -> None:
    said: list[str] = []
    first = load(tmp_path, 200, 1, said.append)
    again = load(tmp_path, 200, 1, said.append)
    assert "generated" in said[0]
    assert "read" in said[1]
    assert again.records == first.records
    marker = dataset_dir(tmp_path, 200, 1) / "complete"
    marker.write_text(f"{first.records}\n")  # as written before the fingerprint, say
    (dataset_dir(tmp_path, 200, 1) / "data.jsonl").write_bytes(b"")  # stale data
    remade = load(tmp_path, 200, 1, said.append)
    assert "generated" in said[2]
    assert remade.records == first.records
    assert marker.read_text().split() == [str(first.records), generator_fingerprint()]


def test_a_different_whole_answer_is_reported() -> None:
    device = {
        "key": "Device:D-1",
        "product": "Product:P",
        "batch": "Batch:B-1",
        "shipment": "Shipment:S-1",
        "customer": "Customer:C-1",
        "path": ["MaterialLot:L-1", "Batch:B-1", "Device:D-1"],
    }
    answer = {
        "lots": [{"key": "MaterialLot:L-1"}],
        "batches": [{"key": "Batch:B-1"}],
        "devices": [device],
        "customers": [{"key": "Customer:C-1", "devices": 1}],
    }
    same = orjson.dumps(answer)
    assert compare_recall_answers(same, same) == []
    other_path = {**answer, "devices": [{**device, "path": ["MaterialLot:L-1", "Device:D-1"]}]}
    assert compare_recall_answers(same, orjson.dumps(other_path))
    missing_lot = {**answer, "lots": []}
    assert compare_recall_answers(same, orjson.dumps(missing_lot))
    counts = {**answer, "customers": [{"key": "Customer:C-1", "devices": 2}]}
    assert compare_recall_answers(same, orjson.dumps(counts))


def test_a_renamed_profiled_function_fails_the_profile() -> None:
    assert profile.probe("tracegraph.commoncause", "p_values") == (
        "tracegraph/commoncause.py",
        "p_values",
    )
    with pytest.raises(profile.ProbeMissing, match="no longer defined"):
        profile.probe("tracegraph.commoncause", "no_such_function")
    assert set(profile.check_probes()) == set(profile.PROBES)


@pytest.mark.neo4j
def test_the_profiles_time_the_functions_that_run(tiny_run: Any) -> None:
    assert tiny_run["profile"]["common_cause_neo4j"]["p_values_calls"] > 0
    assert tiny_run["import"]["embedded"]["profile"]["store_write_s"] > 0
