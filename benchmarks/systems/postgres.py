"""A tuned PostgreSQL recursive CTE on the same graph.

The graph goes in as two tables: ``node(id, key, type)`` and ``edge(src, dst, type)`` with
every edge of the data set. Loaded with binary COPY, indexed both ways with covering indexes
restricted to the genealogy types (the walk only ever reads those, so its scans are
index-only), then ``VACUUM ANALYZE`` so the planner has statistics and the visibility map lets
the scans skip the heap. The closure is one ``WITH RECURSIVE`` with ``UNION`` (distinct rows,
so each node is expanded once: a breadth-first search), without a depth or path column.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

from benchmarks.data import GENEALOGY_CODES, Dataset

_GEN = ", ".join(str(c) for c in GENEALOGY_CODES)

SCHEMA = """
DROP TABLE IF EXISTS edge;
DROP TABLE IF EXISTS node;
CREATE TABLE node (id integer NOT NULL, key text NOT NULL, type smallint NOT NULL);
CREATE TABLE edge (src integer NOT NULL, dst integer NOT NULL, type smallint NOT NULL);
"""

INDEXES = f"""
ALTER TABLE node ADD PRIMARY KEY (id);
CREATE UNIQUE INDEX node_key ON node (key) INCLUDE (id);
CREATE INDEX edge_down ON edge (src, dst) WHERE type IN ({_GEN});
CREATE INDEX edge_up ON edge (dst, src) WHERE type IN ({_GEN});
"""

#: Downstream closure of the seed keys over genealogy edges: the reachable nodes' keys.
CLOSURE = f"""
WITH RECURSIVE reach(id) AS (
    SELECT e.dst
    FROM node s JOIN edge e ON e.src = s.id AND e.type IN ({_GEN})
    WHERE s.key = ANY(%(seeds)s)
  UNION
    SELECT e.dst
    FROM reach r JOIN edge e ON e.src = r.id AND e.type IN ({_GEN})
)
SELECT n.key FROM reach r JOIN node n ON n.id = r.id
"""

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)


def _binary_rows(columns: list[tuple[npt.NDArray[Any], str]]) -> bytes:
    """Rows of fixed-width integer columns in COPY's binary format, built by numpy."""
    n = len(columns[0][0])
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, (_, kind) in enumerate(columns):
        fields += [(f"len{i}", ">i4"), (f"val{i}", kind)]
    rows = np.empty(n, dtype=np.dtype(fields))
    rows["count"] = len(columns)
    for i, (values, kind) in enumerate(columns):
        rows[f"len{i}"] = np.dtype(kind).itemsize
        rows[f"val{i}"] = values
    return _HEADER + rows.tobytes() + _TRAILER


@dataclass
class PgLoad:
    seconds: float
    copy_s: float
    index_s: float
    analyze_s: float
    rows: int


class PostgresGraph:
    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        row = self.conn.execute("SHOW server_version").fetchone()
        self.version = str(row[0]) if row else ""

    def close(self) -> None:
        self.conn.close()

    def load(self, data: Dataset) -> PgLoad:
        started = time.perf_counter()
        conn = self.conn
        conn.execute(SCHEMA)
        with conn.cursor() as cur:
            with cur.copy("COPY node (id, key, type) FROM STDIN") as copy:
                step = 200_000
                for lo in range(0, data.nodes, step):
                    part = range(lo, min(lo + step, data.nodes))
                    lines = "".join(f"{i}\t{data.keys[i]}\t{data.node_type[i]}\n" for i in part)
                    copy.write(lines.encode())
            with cur.copy("COPY edge (src, dst, type) FROM STDIN (FORMAT binary)") as copy:
                copy.write(
                    _binary_rows(
                        [(data.src, ">i4"), (data.dst, ">i4"), (data.rel.astype(np.int16), ">i2")]
                    )
                )
        copied = time.perf_counter()
        conn.execute(INDEXES)
        indexed = time.perf_counter()
        conn.execute("VACUUM ANALYZE node")
        conn.execute("VACUUM ANALYZE edge")
        done = time.perf_counter()
        return PgLoad(
            seconds=done - started,
            copy_s=copied - started,
            index_s=indexed - copied,
            analyze_s=done - indexed,
            rows=data.nodes + data.edges,
        )

    def closure(self, seeds: list[str]) -> set[str]:
        with self.conn.cursor() as cur:
            cur.execute(CLOSURE, {"seeds": seeds}, prepare=True)
            return {row[0] for row in cur}

    def explain(self, seeds: list[str]) -> str:
        rows = self.conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + CLOSURE, {"seeds": seeds})
        return "\n".join(str(r[0]) for r in rows)
