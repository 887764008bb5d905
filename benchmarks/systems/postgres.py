"""PostgreSQL on the same graph, tuned as its experts would: the closure alone (a recursive
CTE), the whole recall answer in SQL, and the per-hop loop of an ERP report.

The graph goes in as two tables: ``node(id, key, type, props)`` (``props`` the record's fields
as ``jsonb``, what the recall answer shows; ``key`` in the "C" collation, so keys sort as
TraceGraph sorts them) and ``edge(src, dst, type)`` with every edge of the data set. Loaded by
COPY, then indexed: the key (unique, covering the id), covering indexes both ways restricted to
the genealogy types (the closure only ever reads those: index-only scans), and both ways by
type for the one-hop lookups of the answer (a device's batch, a batch's product); then
``VACUUM ANALYZE``. Every statement is written so that each key is looked up by index
(``LATERAL`` subqueries correlated with the row they serve, fenced with ``OFFSET 0`` so that
the planner cannot flatten them back into joins), never joined by a hash over a sequential
scan of ``node`` or ``edge``: `plan_problems` checks the plans of every probe for it. Each
statement is prepared, with one generic plan.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import psycopg

from benchmarks.data import ENTITY_TYPES, GENEALOGY_CODES, REL_TYPES, Dataset
from tracegraph.model import MAX_HOPS, EntityType, RelType
from tracegraph.recall import SECTIONS

_GEN = ", ".join(str(c) for c in GENEALOGY_CODES)


def _t(type_: EntityType) -> int:
    return ENTITY_TYPES.index(type_)


def _r(rel: RelType) -> int:
    return REL_TYPES.index(rel)


SCHEMA = """
DROP TABLE IF EXISTS edge;
DROP TABLE IF EXISTS node;
CREATE TABLE node (
    id integer NOT NULL, key text COLLATE "C" NOT NULL, type smallint NOT NULL, props jsonb NOT NULL
);
CREATE TABLE edge (src integer NOT NULL, dst integer NOT NULL, type smallint NOT NULL);
"""

INDEXES = f"""
ALTER TABLE node ADD PRIMARY KEY (id);
CREATE UNIQUE INDEX node_key ON node (key) INCLUDE (id);
CREATE INDEX edge_down ON edge (src, dst) WHERE type IN ({_GEN});
CREATE INDEX edge_up ON edge (dst, src) WHERE type IN ({_GEN});
CREATE INDEX edge_out_typed ON edge (src, type, dst);
CREATE INDEX edge_in_typed ON edge (dst, type, src);
"""

#: Downstream closure of the seed keys over genealogy edges: the reachable nodes' keys. The
#: final key lookup is correlated (an index lookup per reached node): a join there was planned
#: as a hash join over a sequential scan of ``node``, 5× slower at a ~50-device probe.
CLOSURE = f"""
WITH RECURSIVE reach(id) AS (
    SELECT e.dst
    FROM node s CROSS JOIN LATERAL (
        SELECT dst FROM edge WHERE edge.src = s.id AND edge.type IN ({_GEN}) OFFSET 0) e
    WHERE s.key = ANY(%(seeds)s)
  UNION
    SELECT e.dst
    FROM reach r CROSS JOIN LATERAL (
        SELECT dst FROM edge WHERE edge.src = r.id AND edge.type IN ({_GEN}) OFFSET 0) e
)
SELECT n.key
FROM reach r CROSS JOIN LATERAL (SELECT key FROM node WHERE node.id = r.id OFFSET 0) n
"""

#: One hop of the per-hop loop: the genealogy successors of one node, by key.
ONE_HOP = f"""
SELECT m.key
FROM node n
CROSS JOIN LATERAL (
    SELECT dst FROM edge WHERE edge.src = n.id AND edge.type IN ({_GEN}) OFFSET 0) e
CROSS JOIN LATERAL (SELECT key FROM node WHERE node.id = e.dst OFFSET 0) m
WHERE n.key = %(key)s
"""


def _first(rel: RelType, near: str, far: str, of: str, extra: str = "") -> str:
    """A lateral lookup: over ``rel`` edges whose ``near`` end is ``of``, the ``far`` end with
    the smallest key (TraceGraph takes the smallest when there are several)."""
    return (
        f"SELECT f.id, f.key{extra} FROM edge e "
        f"CROSS JOIN LATERAL (SELECT id, key, props FROM node WHERE node.id = e.{far} OFFSET 0) f "
        f"WHERE e.{near} = {of} AND e.type = {_r(rel)} ORDER BY f.key LIMIT 1"
    )


#: The section of each node type the answer lists, as SQL (type code → name).
_SECTION_CASE = (
    "CASE n.type "
    + " ".join(f"WHEN {_t(t)} THEN '{name}'" for t, name in SECTIONS.items())
    + " END"
)
_PLAIN_SECTIONS = [
    (t, name) for t, name in SECTIONS.items() if t not in (EntityType.Device, EntityType.Customer)
]

#: The whole recall answer of one suspect (a lot, batch or device, or a material or supplier
#: with all its lots: the suspects the probes use, without a window), one row per listed item
#: ``(section, key, item JSON)`` in the answer's order; the client only joins the rows into
#: one JSON document. The reason path is TraceGraph's: one shortest chain of keys from the
#: suspect, ties to the smaller key (each node's parent is the smallest-keyed predecessor one
#: hop nearer the suspect). Walks by (node, depth) so that each node's least depth is known;
#: the parents are found over the edges leaving the closure (closed downstream, so the edges
#: among it: about two per node), not over the edges entering it (most come from outside).
ANSWER = f"""
WITH RECURSIVE
walk(id, depth) AS (
    SELECT id, 0 FROM node WHERE key = %(suspect)s
  UNION
    SELECT e.dst, w.depth + 1
    FROM walk w CROSS JOIN LATERAL (
        SELECT dst FROM edge WHERE edge.src = w.id AND edge.type IN ({_GEN}) OFFSET 0) e
    WHERE w.depth < {MAX_HOPS}
),
dist AS MATERIALIZED (SELECT id, min(depth) AS depth FROM walk GROUP BY id),
named AS MATERIALIZED (
    SELECT d.id, d.depth, n.key, n.type, n.props
    FROM dist d CROSS JOIN LATERAL (
        SELECT key, type, props FROM node WHERE node.id = d.id OFFSET 0) n
),
step AS MATERIALIZED (
    SELECT e.dst AS id, p.depth + 1 AS depth, p.id AS pid, p.key AS pkey
    FROM named p CROSS JOIN LATERAL (
        SELECT dst FROM edge WHERE edge.src = p.id AND edge.type IN ({_GEN}) OFFSET 0) e
),
parent AS MATERIALIZED (
    SELECT DISTINCT ON (x.id) x.id, x.key, s.pid
    FROM step s JOIN named x ON x.id = s.id AND x.depth = s.depth
    ORDER BY x.id, s.pkey
),
tree(id, path) AS (
    SELECT id, ARRAY[key] FROM named WHERE depth = 0
  UNION ALL
    SELECT p.id, t.path || p.key FROM tree t JOIN parent p ON p.pid = t.id
),
device AS MATERIALIZED (
    SELECT n.key, n.props, b.key AS batch, pr.key AS product, s.key AS shipment,
           s.props -> 'shipped_at' AS shipped_at, c.key AS customer, t.path
    FROM named n
    JOIN tree t ON t.id = n.id
    LEFT JOIN LATERAL ({_first(RelType.PRODUCED, "dst", "src", "n.id")}) b ON true
    LEFT JOIN LATERAL ({_first(RelType.HAS_BATCH, "dst", "src", "b.id")}) pr ON true
    LEFT JOIN LATERAL ({_first(RelType.SHIPPED_IN, "src", "dst", "n.id", ", f.props")}) s ON true
    LEFT JOIN LATERAL ({_first(RelType.DELIVERED_TO, "src", "dst", "s.id")}) c ON true
    WHERE n.type = {_t(EntityType.Device)}
)
SELECT n.section, n.key, n.item FROM (
    SELECT {_SECTION_CASE} AS section, n.key, (jsonb_build_object('key', n.key) || n.props)::text
    FROM named n
    WHERE n.type IN ({", ".join(str(_t(t)) for t, _ in _PLAIN_SECTIONS)})
  UNION ALL
    SELECT 'devices', d.key, (jsonb_build_object(
        'key', d.key, 'product', d.product, 'batch', d.batch, 'shipment', d.shipment,
        'shipped_at', d.shipped_at, 'customer', d.customer, 'path', to_jsonb(d.path)
    ) || d.props)::text
    FROM device d
  UNION ALL
    SELECT 'customers', n.key, (jsonb_build_object('key', n.key, 'devices', coalesce(k.devices, 0))
        || n.props)::text
    FROM named n
    LEFT JOIN (SELECT customer, count(*) AS devices FROM device GROUP BY customer) k
        ON k.customer = n.key
    WHERE n.type = {_t(EntityType.Customer)}
) n(section, key, item)
ORDER BY n.section, n.key
"""

#: The suspects `ANSWER` seeds as `tracegraph.recall` does when no window is given.
ANSWER_SUSPECTS = (
    EntityType.MaterialLot,
    EntityType.Batch,
    EntityType.Device,
    EntityType.Material,
    EntityType.Supplier,
)

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


def _node_lines(data: Dataset, step: int = 100_000) -> Any:
    """COPY text lines ``id, key, type, props`` of every node, its fields read from the data
    file (a JSON object has no raw tab or newline; its backslashes are COPY's escape)."""
    types = {str(t) for t in ENTITY_TYPES}
    lines: list[bytes] = []
    with data.path.open("rb") as handle:
        for raw in handle:
            record = orjson.loads(raw)
            kind = record.pop("type")
            if kind not in types:
                continue
            i = data.index[f"{kind}:{record['id']}"]
            props = orjson.dumps(record).replace(b"\\", b"\\\\")
            lines.append(b"%d\t%s\t%d\t%s\n" % (i, data.keys[i].encode(), data.node_type[i], props))
            if len(lines) >= step:
                yield b"".join(lines)
                lines.clear()
    if lines:
        yield b"".join(lines)


@dataclass
class PgLoad:
    seconds: float
    copy_s: float
    index_s: float
    analyze_s: float
    rows: int


#: A scan that reads a whole table: what no probe's plan may hold.
_SEQ_SCAN = re.compile(r"Seq Scan on (node|edge)\b")
_SCAN = re.compile(
    r"((?:Parallel )?(?:Index Only Scan|Index Scan|Bitmap Heap Scan|Seq Scan))"
    r"(?: using (\w+))? on (\w+)"
)


@dataclass(frozen=True)
class Plan:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of one statement at one probe."""

    query: str
    text: str

    @property
    def scans(self) -> dict[str, int]:
        """How often each kind of scan of each table appears in the plan."""
        found: dict[str, int] = {}
        for kind, index, table in _SCAN.findall(self.text):
            name = f"{kind} {'using ' + index + ' ' if index else ''}on {table}"
            found[name] = found.get(name, 0) + 1
        return found

    @property
    def seq_scans(self) -> list[str]:
        return [m.group(0) for m in _SEQ_SCAN.finditer(self.text)]

    @property
    def execution_ms(self) -> float | None:
        match = re.search(r"Execution Time: ([\d.]+) ms", self.text)
        return float(match.group(1)) if match else None

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "scans": self.scans,
            "seq_scans": self.seq_scans,
            "execution_ms": self.execution_ms,
            "text": self.text,
        }


def plan_problems(plans: Sequence[Plan]) -> list[str]:
    """A sentence for each plan that reads ``node`` or ``edge`` by a sequential scan."""
    return [
        f"PostgreSQL {p.query}: {', '.join(sorted(set(p.seq_scans)))} in its plan"
        for p in plans
        if p.seq_scans
    ]


class PostgresGraph:
    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        # Every statement is prepared (psycopg ``prepare=True``) and fenced so that its plan
        # does not depend on the key it is given: one generic plan, never re-planned per call
        # (PostgreSQL's default re-plans a prepared statement on its first five executions and
        # may keep doing so). EXPLAIN shows the plan for the probe's own values; both look
        # every key up by the same indexes.
        self.conn.execute("SET plan_cache_mode = force_generic_plan")
        row = self.conn.execute("SHOW server_version").fetchone()
        self.version = str(row[0]) if row else ""

    def close(self) -> None:
        self.conn.close()

    def load(self, data: Dataset) -> PgLoad:
        started = time.perf_counter()
        conn = self.conn
        conn.execute(SCHEMA)
        with conn.cursor() as cur:
            with cur.copy("COPY node (id, key, type, props) FROM STDIN") as copy:
                for block in _node_lines(data):
                    copy.write(block)
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

    def round_trip(self) -> int:
        """An empty query (``SELECT 1``): the client's round trip to this server."""
        row = self.conn.execute("SELECT 1", prepare=True).fetchone()
        return int(row[0]) if row else 0

    def closure(self, seeds: list[str]) -> set[str]:
        with self.conn.cursor() as cur:
            cur.execute(CLOSURE, {"seeds": seeds}, prepare=True)
            return {row[0] for row in cur}

    def recall_json(self, suspect: str) -> bytes:
        """The whole recall answer as one JSON document: the query's rows joined, section by
        section (``{"devices": [...], "lots": [...], ...}``, each list sorted by key)."""
        from tracegraph.model import key_type

        if key_type(suspect) not in ANSWER_SUSPECTS:
            raise ValueError(f"{suspect}: the SQL answer seeds only {ANSWER_SUSPECTS}")
        parts: dict[str, list[str]] = {name: [] for name in SECTIONS.values()}
        with self.conn.cursor() as cur:
            cur.execute(ANSWER, {"suspect": suspect}, prepare=True)
            for section, _key, item in cur:
                parts[section].append(item)
        body = ",".join(f'"{name}":[{",".join(items)}]' for name, items in parts.items())
        return ("{" + body + "}").encode()

    def per_hop(self, seeds: Sequence[str]) -> set[str]:
        """Breadth-first, one prepared query per node of the frontier (an ERP report's loop on
        its own SQL database)."""
        found: set[str] = set()
        visited = set(seeds)
        frontier = list(seeds)
        with self.conn.cursor() as cur:
            while frontier:
                following: list[str] = []
                for key in frontier:
                    cur.execute(ONE_HOP, {"key": key}, prepare=True)
                    for (nxt,) in cur:
                        found.add(nxt)
                        if nxt not in visited:
                            visited.add(nxt)
                            following.append(nxt)
                frontier = following
        return found

    def explain(self, query: str, text: str, params: dict[str, Any]) -> Plan:
        rows = self.conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + text, params)
        return Plan(query, "\n".join(str(r[0]) for r in rows))

    def plans(self, suspect: str) -> list[Plan]:
        """The plans of every statement this module times, at one probe."""
        return [
            self.explain("closure CTE", CLOSURE, {"seeds": [suspect]}),
            self.explain("whole answer", ANSWER, {"suspect": suspect}),
            self.explain("per-hop step", ONE_HOP, {"key": suspect}),
        ]
