"""Baselines and floors on the same Neo4j, through the driver directly (not through TraceGraph).

- the per-hop loop of an ERP report: one query per frontier node;
- its batched variant: one ``UNWIND $frontier`` query per hop;
- an empty round trip (``RETURN 1``), paid once by every query;
- the server floor: the minimal ``count(DISTINCT x)`` query for the same reachable set;
- the transfer floor: the same number of keys through the driver, with no graph work, the
  cheapest way (one list in one record); and, for comparison, the same keys as one row each,
  the way a query that returns one row per node streams them;
- common cause the plain way: one upstream query per case, one count query per candidate.

Relationship types are spelled out from the model's genealogy family, as TraceGraph's own
query files do (Cypher takes no types as parameters in a variable-length pattern).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import neo4j

from tracegraph import queries
from tracegraph.commoncause import CANDIDATE_TYPES, MIN_CASES, p_value
from tracegraph.model import GENEALOGY, MAX_HOPS, key_type

TYPES = "|".join(str(r) for r in GENEALOGY)

ONE_HOP = f"MATCH (n:Node {{key: $key}})-[:{TYPES}]->(m) RETURN m.key AS key"
FRONTIER_HOP = (
    f"UNWIND $keys AS k MATCH (n:Node {{key: k}})-[:{TYPES}]->(m) RETURN DISTINCT m.key AS key"
)
SERVER_FLOOR = (
    f"UNWIND $seeds AS seed MATCH (s:Node {{key: seed}}) "
    f"MATCH (s)-[:{TYPES}*1..{MAX_HOPS}]->(x) RETURN count(DISTINCT x) AS n"
)
ROUND_TRIP = "RETURN 1 AS one"
TRANSFER_FLOOR = "RETURN [i IN range(1, $n) | $prefix + toString(i)] AS keys"
TRANSFER_ROWS = "UNWIND range(1, $n) AS i RETURN $prefix + toString(i) AS key"
UPSTREAM = (
    f"MATCH (d:Node {{key: $key}})<-[:{TYPES}*1..{MAX_HOPS}]-(x) RETURN DISTINCT x.key AS key"
)
COUNT_DEVICES = (
    f"MATCH (c:Node {{key: $key}})-[:{TYPES}*1..{MAX_HOPS}]->(d:Device) "
    "RETURN count(DISTINCT d) AS n"
)


def server_ms(summary: neo4j.ResultSummary) -> float:
    """The server's own time for a query: until the first record, plus streaming the rest."""
    return float((summary.result_available_after or 0) + (summary.result_consumed_after or 0))


class CypherBaselines:
    def __init__(self, driver: neo4j.Driver, database: str = "neo4j") -> None:
        self.driver = driver
        self.database = database

    def _session(self) -> neo4j.Session:
        return self.driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS)

    def per_hop(self, seeds: Sequence[str]) -> set[str]:
        """Breadth-first, one query per node of the frontier (what a report loop does)."""
        found: set[str] = set()
        visited = set(seeds)
        frontier = list(seeds)
        with self._session() as session:
            while frontier:
                following: list[str] = []
                for key in frontier:
                    for record in session.run(ONE_HOP, key=key):
                        nxt = record[0]
                        found.add(nxt)
                        if nxt not in visited:
                            visited.add(nxt)
                            following.append(nxt)
                frontier = following
        return found

    def batched_hop(self, seeds: Sequence[str]) -> set[str]:
        """Breadth-first, one ``UNWIND $keys`` query per hop for the whole frontier."""
        found: set[str] = set()
        visited = set(seeds)
        frontier = list(seeds)
        with self._session() as session:
            while frontier:
                level = set(session.run(FRONTIER_HOP, keys=frontier).value())
                found |= level
                frontier = list(level - visited)
                visited |= level
        return found

    def _timed(self, text: str, **params: Any) -> tuple[list[neo4j.Record], float]:
        with self._session() as session:
            result = session.run(text, params)
            records = list(result)
            return records, server_ms(result.consume())

    def round_trip(self) -> int:
        """An empty query by the same read path: one round trip to the server, which the
        server floor and the transfer floor each pay (the combined floor subtracts it once)."""
        with self._session() as session:
            records = list(session.run(ROUND_TRIP))
        return int(records[0][0])

    def server_floor(self, seeds: Sequence[str]) -> tuple[int, float]:
        """(reachable nodes, server ms) of the minimal count query."""
        records, ms = self._timed(SERVER_FLOOR, seeds=list(seeds))
        return int(records[0][0]), ms

    def tracegraph_closure(self, seeds: Sequence[str]) -> tuple[set[str], float]:
        """TraceGraph's own closure query (the file `reach_genealogy_down`), run here only to
        read the server's time for it from the result summary."""
        text = queries.get("reach_genealogy_down").text
        records, ms = self._timed(text, seeds=sorted(set(seeds)))
        return (set(records[0][0]) if records else set()), ms

    def transfer_floor(self, n: int) -> set[str]:
        """``n`` distinct keys through the driver as one list, into a set, by the store's read
        path (one auto-commit query in a READ session)."""
        with self._session() as session:
            records = list(session.run(TRANSFER_FLOOR, n=n, prefix="Device:D-"))
        return set(records[0]["keys"])

    def transfer_rows(self, n: int) -> set[str]:
        """The same keys as ``n`` rows of one column each."""
        with self._session() as session:
            records = list(session.run(TRANSFER_ROWS, n=n, prefix="Device:D-"))
        return {r["key"] for r in records}

    def common_cause(self, cases: Sequence[str], population: int) -> list[tuple[Any, ...]]:
        """The ranking computed the plain way: one upstream query per case, then one count
        query per candidate. Rows: (key, cases, exposure, p_value), most suspicious first."""
        reached_by: dict[str, list[str]] = defaultdict(list)
        with self._session() as session:
            for case in cases:
                for record in session.run(UPSTREAM, key=case):
                    key = record[0]
                    if key_type(key) in CANDIDATE_TYPES:
                        reached_by[key].append(case)
            candidates = sorted(k for k, hit in reached_by.items() if len(hit) >= MIN_CASES)
            exposure = {
                key: int(session.run(COUNT_DEVICES, key=key).single(strict=True)[0])
                for key in candidates
            }
        total = len(cases)
        rows = []
        for key in candidates:
            hits = len(reached_by[key])
            rows.append((key, hits, exposure[key], p_value(hits, exposure[key], population, total)))
        rows.sort(key=lambda r: (r[3], -r[1], -r[1] / r[2], r[0]))
        return rows
