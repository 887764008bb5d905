"""The initial load of a dataset file into a fresh Neo4j (`tracegraph import --initial-load`).

A LocalNeo4j is started once (so its home holds the empty database a new installation has),
stopped, and loaded with neo4j-admin run from the same Maven jars; the time is the whole load:
reading and checking the records, writing the CSV files and neo4j-admin's import (with its
JVM start-up, a few seconds whatever the size). The server is started again and the node and
relationship counts are checked against the load's report. CPU-seconds are given too (this
machine is shared: wall time depends on what else runs).
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

from tests.support.neo4j_server import LocalNeo4j, ensure_jars, find_java
from tracegraph.store import WriteRequest
from tracegraph.store.neo4j_load import initial_load


def admin_command() -> list[str]:
    """neo4j-admin as the Maven-built Neo4j of the tests and benchmarks runs it."""
    return [find_java(), "-cp", f"{ensure_jars()}/*", "org.neo4j.cli.AdminTool"]


def neo4j_initial_load(path: str | Path, pagecache_bytes: int | None = None) -> dict[str, Any]:
    """Load ``path`` into a fresh LocalNeo4j home; {"records", "seconds", "records_per_s"}."""
    request = WriteRequest(actor="bench", operation="import", source=str(path))
    extra = {} if pagecache_bytes is None else {"pagecache_bytes": pagecache_bytes}
    with LocalNeo4j(**extra) as local:
        local.stop()
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        report = initial_load([path], local.home, request, admin=admin_command())
        seconds = time.perf_counter() - start
        client = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(self_before)
        admin = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(children_before)
        local.start()
        import neo4j

        with neo4j.GraphDatabase.driver(local.uri, auth=(local.user, local.password)) as driver:
            records, _, _ = driver.execute_query(
                "MATCH (n:Node) WITH count(n) AS nodes "
                "RETURN nodes, COUNT { MATCH (:Node)-[]->(:Node) } AS edges"
            )
        found = (records[0]["nodes"], records[0]["edges"])
        if found != (report.nodes, report.edges):
            raise RuntimeError(f"loaded {found}, expected {(report.nodes, report.edges)}")
    return {
        "records": report.records,
        "seconds": seconds,
        "records_per_s": report.records / seconds if seconds else None,
        # CPU: checking the records and writing the CSV files; neo4j-admin (all its threads)
        "client_cpu_s": client,
        "admin_cpu_s": admin,
    }


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    import sys

    print(neo4j_initial_load(sys.argv[1]))
