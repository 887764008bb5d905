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

import pytest

from benchmarks import report
from benchmarks.run import run_benchmark
from benchmarks.sizes import SIZES
from benchmarks.timing import Outcome, Plan, measure
from tests.support.neo4j_server import Neo4jServer

RECALL_SYSTEMS = {
    "csr_bfs",
    "server_floor",
    "transfer_floor",
    "transfer_rows",
    "tracegraph_query",
    "neo4j_closure",
    "neo4j_recall",
    "embedded_closure",
    "embedded_recall",
    "postgres_cte",
    "batched_hop",
    "per_hop",
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
    # The whole data-quality check, timed on both stores, with the same findings.
    assert tiny_run["check"]["identical"], tiny_run["check"]
    assert set(tiny_run["check"]["systems"]) == {"neo4j_check", "embedded_check"}
    assert tiny_run["check"]["findings"] > 0
    assert [p["cases"] for p in tiny_run["common_cause"]] == list(SIZES["tiny"].cases)
    for probe in tiny_run["common_cause"]:
        assert probe["identical"], probe
        assert set(probe["systems"]) == {
            "neo4j_common_cause",
            "embedded_common_cause",
            "count_per_candidate",
        }
        assert probe["ranked"] > 0


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
    targets = {row["target"] for row in report.targets(tiny_run)}
    assert {
        "recall server time / server floor",
        "recall end to end / (server floor + transfer floor)",
        "closure through the Neo4j store / (server floor + transfer floor)",
        "PostgreSQL CTE / TraceGraph closure",
        "per-hop loop / TraceGraph closure",
        "import into Neo4j, records/s (wall)",
        "import into embedded, records/s (wall)",
        "count query per candidate / TraceGraph common cause",
    } <= targets
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


def test_the_plan_gives_slow_systems_fewer_runs() -> None:
    plan = Plan(budget_s=8.0, min_runs=5, max_runs=20, slow_s=30.0)
    assert [plan.runs_for(s) for s in (0.1, 1.0, 6.4, 10.0, 31.0)] == [20, 8, 5, 3, 0]
    once = Plan(budget_s=8.0, min_runs=5, max_runs=20, slow_s=30.0, slow_runs=1)
    assert [once.runs_for(s) for s in (0.1, 1.0, 6.4, 10.0, 31.0)] == [20, 8, 5, 1, 0]
