"""The Neo4j store: the only module that imports the driver.

Every query is a named file under `cypher/`, run through one path (`_read` / `_run`) with the
query's name as transaction metadata. Reads use READ routing so clusters and Aura work
unchanged; writes run in one managed transaction per import (retried by the driver, so the
transaction function is idempotent: it recomputes its diff from what it reads).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import neo4j
import orjson
from neo4j import GraphDatabase, Query, RoutingControl
from neo4j import exceptions as neo4j_errors

from tracegraph import queries
from tracegraph.errors import StoreError, StoreUnavailable
from tracegraph.model import (
    GENEALOGY,
    TEMPORAL_FIELDS,
    Direction,
    Edge,
    EntityType,
    Node,
    RelType,
    iso,
    key_type,
)
from tracegraph.store.base import (
    DEPTH_CAP,
    GENESIS,
    AuditEntry,
    StoredEdge,
    StoredNode,
    Version,
    WriteRequest,
    WriteSummary,
    edge_ident,
    merged,
    seal,
    sort_edges,
)

_META = ("key", "id", "_c", "_r", "_a", "_h")

#: Variable-length patterns cannot take relationship types as parameters, so each family the
#: analyses walk has its own query file.
_REACH_FILES: Mapping[frozenset[RelType], str] = {
    frozenset(GENEALOGY): "reach_genealogy",
    frozenset({RelType.COMPONENT_OF}): "reach_component_of",
}


def _native(value: Any) -> Any:
    if isinstance(value, neo4j.time.DateTime | neo4j.time.Date):
        return value.to_native()
    if isinstance(value, list):
        return [_native(v) for v in value]
    return value


def _to_db(props: Mapping[str, Any]) -> dict[str, Any]:
    """Neo4j properties cannot hold maps: the free-form `attributes` object goes in as JSON."""
    out = dict(props)
    if "attributes" in out:
        out["attributes"] = orjson.dumps(out["attributes"], option=orjson.OPT_SORT_KEYS).decode()
    return out


def _from_db(type_name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: _native(v) for k, v in raw.items() if k not in _META}
    if isinstance(out.get("attributes"), str):
        out["attributes"] = orjson.loads(out["attributes"])
    return out


def _version_json(seq: int, recorded_at: dt.datetime, props: Mapping[str, Any]) -> str:
    return orjson.dumps(
        {"a": seq, "r": iso(recorded_at), "p": {k: iso(v) for k, v in props.items()}},
        option=orjson.OPT_SORT_KEYS,
    ).decode()


def _version(type_name: str, text: str) -> Version:
    data = orjson.loads(text)
    props = dict(data["p"])
    for name, kind in TEMPORAL_FIELDS.get(type_name, {}).items():
        if isinstance(props.get(name), str):
            props[name] = (
                dt.datetime.fromisoformat(props[name])
                if kind == "instant"
                else dt.date.fromisoformat(props[name])
            )
    return Version(data["a"], dt.datetime.fromisoformat(data["r"]), props)


def _chunks(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


class Neo4jStore:
    kind = "neo4j"

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        *,
        database: str = "neo4j",
        batch: int = 10_000,
    ) -> None:
        self.uri = uri
        self.database = database
        self.batch = batch
        try:
            self.driver = GraphDatabase.driver(uri, auth=(user, password))
        except (ValueError, neo4j_errors.ConfigurationError) as exc:
            raise StoreUnavailable(f"{uri}: not a usable Neo4j address: {exc}") from None
        self._version: str | None = None
        self._schema_ready = False

    # ------------------------------------------------------------------ plumbing

    def _fail(self, exc: Exception) -> Exception:
        if isinstance(exc, neo4j_errors.AuthError):
            return StoreUnavailable(f"{self.uri}: Neo4j refused the credentials")
        if isinstance(exc, neo4j_errors.ServiceUnavailable | neo4j_errors.SessionExpired):
            return StoreUnavailable(f"{self.uri}: Neo4j is not reachable ({type(exc).__name__})")
        if isinstance(exc, OSError):
            return StoreUnavailable(f"{self.uri}: Neo4j is not reachable ({exc})")
        return StoreError(f"{self.uri}: Neo4j failed: {exc}")

    def _read(self, name: str, **params: Any) -> list[neo4j.Record]:
        query = queries.get(name)
        self._ensure_schema()
        try:
            records, _, _ = self.driver.execute_query(
                Query(query.text, metadata={"query": name}),  # type: ignore[arg-type]
                params,
                database_=self.database,
                routing_=RoutingControl.READ,
            )
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError, OSError) as exc:
            raise self._fail(exc) from exc
        return records

    @staticmethod
    def _run(tx: neo4j.ManagedTransaction, name: str, **params: Any) -> list[neo4j.Record]:
        # Inside a managed transaction the metadata is the transaction's ("write", see write()).
        return list(tx.run(queries.get(name).text, params))  # type: ignore[arg-type]

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        statements = [s.strip() for s in queries.get("schema").text.split(";") if s.strip()]
        try:
            for statement in statements:
                self.driver.execute_query(
                    Query(statement, metadata={"query": "schema"}),  # type: ignore[arg-type]
                    database_=self.database,
                )
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError, OSError) as exc:
            raise self._fail(exc) from exc
        self._schema_ready = True

    def describe(self) -> dict[str, str]:
        if self._version is None:
            record = self._read("server_version")[0]
            self._version = f"{record['name']} {record['version']} {record['edition']}"
        return {"kind": self.kind, "location": self.uri, "version": self._version}

    def close(self) -> None:
        self.driver.close()

    def clear(self) -> None:
        """Delete everything (tests and the demo start from an empty database)."""
        self._ensure_schema()
        try:
            self.driver.execute_query(
                Query(queries.get("clear_all").text, metadata={"query": "clear_all"}),  # type: ignore[arg-type]
                database_=self.database,
            )
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError, OSError) as exc:
            raise self._fail(exc) from exc

    # ------------------------------------------------------------------ writes

    def write(
        self, nodes: Sequence[Node], edges: Sequence[Edge], request: WriteRequest
    ) -> WriteSummary:
        self._ensure_schema()
        try:
            with self.driver.session(database=self.database) as session:
                work = neo4j.unit_of_work(metadata={"query": "write"})(self._write_tx)
                return session.execute_write(work, nodes, edges, request)
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError, OSError) as exc:
            raise self._fail(exc) from exc

    def _write_tx(
        self,
        tx: neo4j.ManagedTransaction,
        nodes: Sequence[Node],
        edges: Sequence[Edge],
        request: WriteRequest,
    ) -> WriteSummary:
        self._run(tx, "write_lock")
        last = self._run(tx, "audit_last")
        seq = (last[0]["seq"] + 1) if last else 1
        prev_hash = last[0]["hash"] if last else GENESIS
        now = dt.datetime.now(dt.UTC)
        summary = WriteSummary()
        changes: list[tuple[str, str, Mapping[str, Any] | None, Mapping[str, Any]]] = []

        existing: dict[str, dict[str, Any]] = {}
        for chunk in _chunks([n.key for n in nodes], self.batch):
            for rec in self._run(tx, "node_get", keys=list(chunk)):
                existing[rec["key"]] = dict(rec["props"])
        creates, updates = [], []
        for node in nodes:
            raw = existing.get(node.key)
            if raw is None:
                creates.append(
                    {"key": node.key, "id": node.id, "type": str(node.type), "props": _to_db(node.props)}
                )
                changes.append((node.key, "create", None, node.props))
                continue
            before = _from_db(str(node.type), raw)
            after = merged(before, node.props)
            if after == before:
                summary.unchanged += 1
                continue
            changes.append((node.key, "update", before, after))
            updates.append(
                {
                    "key": node.key,
                    "props": _to_db(after),
                    "prev": [_version_json(raw["_a"], _native(raw["_r"]), before)],
                }
            )
        for chunk in _chunks(creates, self.batch):
            summary.created += self._run(tx, "node_create", rows=chunk, at=now, seq=seq)[0]["created"]
        for chunk in _chunks(updates, self.batch):
            summary.updated += self._run(tx, "node_update", rows=chunk, at=now, seq=seq)[0]["updated"]

        current: dict[tuple[str, str, str], dict[str, Any]] = {}
        idents = [{"type": str(e.type), "src": e.src, "dst": e.dst} for e in edges]
        for chunk in _chunks(idents, self.batch):
            for rec in self._run(tx, "edge_get", rows=list(chunk)):
                current[(rec["type"], rec["src"], rec["dst"])] = dict(rec["props"])
        edge_creates, edge_updates = [], []
        for edge in edges:
            raw = current.get(edge.ident)
            row = {"type": str(edge.type), "src": edge.src, "dst": edge.dst}
            if raw is None:
                edge_creates.append({**row, "props": dict(edge.props)})
                changes.append((edge_ident(edge), "create", None, edge.props))
                continue
            before = _from_db(str(edge.type), raw)
            after = merged(before, edge.props)
            if after == before:
                summary.unchanged += 1
                continue
            changes.append((edge_ident(edge), "update", before, after))
            edge_updates.append(
                {**row, "props": after, "prev": [_version_json(raw["_a"], _native(raw["_r"]), before)]}
            )
        for chunk in _chunks(edge_creates, self.batch):
            made = self._run(tx, "edge_create", rows=chunk, at=now, seq=seq)[0]["created"]
            if made != len(chunk):
                raise StoreError("an edge's endpoint vanished during the import")
            summary.created += made
        for chunk in _chunks(edge_updates, self.batch):
            summary.updated += self._run(tx, "edge_update", rows=chunk, at=now, seq=seq)[0]["updated"]

        if summary.created or summary.updated:
            entry = seal(request, summary, changes, seq=seq, at=now, prev_hash=prev_hash)
            self._run(tx, "audit_append", entry={**entry.as_json(), "at": now})
            summary.audit_seq = seq
        return summary

    # ------------------------------------------------------------------ reads

    def existing(self, keys: Iterable[str]) -> set[str]:
        wanted = sorted(set(keys))
        return {r["key"] for r in self._read("node_existing", keys=wanted)} if wanted else set()

    def nodes(self, keys: Iterable[str]) -> dict[str, StoredNode]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        found = {}
        for rec in self._read("node_get", keys=wanted):
            raw = rec["props"]
            t = key_type(rec["key"])
            found[rec["key"]] = StoredNode(
                type=t,
                id=raw["id"],
                props=_from_db(str(t), raw),
                created_at=_native(raw["_c"]),
                recorded_at=_native(raw["_r"]),
                audit_seq=raw["_a"],
                history=tuple(_version(str(t), v) for v in raw.get("_h") or ()),
            )
        return found

    def keys_of_type(self, type_: EntityType) -> list[str]:
        return [r["key"] for r in self._read("node_keys_by_prefix", prefix=f"{type_}:")]

    def _edges(self, records: Iterable[neo4j.Record]) -> list[StoredEdge]:
        return sort_edges(
            StoredEdge(RelType(r["type"]), r["src"], r["dst"], _from_db(r["type"], r["props"]))
            for r in records
        )

    def hop(
        self, keys: Iterable[str], rel_types: Sequence[RelType], direction: Direction
    ) -> list[StoredEdge]:
        wanted = sorted(set(keys))
        if not wanted:
            return []
        name = "hop_down" if direction is Direction.down else "hop_up"
        return self._edges(self._read(name, keys=wanted, types=[str(t) for t in rel_types]))

    def reach(
        self,
        seeds: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        max_depth: int | None = None,
    ) -> set[str]:
        start = sorted(set(seeds))
        if not start:
            return set()
        family = _REACH_FILES.get(frozenset(rel_types))
        if max_depth is not None or family is None:
            return self._reach_by_hops(start, rel_types, direction, max_depth)
        found = {r["key"] for r in self._read(f"{family}_{direction}", seeds=start)}
        # The pattern is bounded; a closure deeper than the bound goes on from its frontier,
        # so the answer is complete whatever the depth (cycles end it: nothing new is found).
        while len(found) > 0:
            deep = self._frontier_at_cap(start, found, rel_types, direction)
            if not deep:
                break
            more = {r["key"] for r in self._read(f"{family}_{direction}", seeds=sorted(deep))}
            if more <= found:
                break
            start = sorted(deep)
            found |= more
        return found

    def _frontier_at_cap(
        self,
        seeds: Sequence[str],
        found: set[str],
        rel_types: Sequence[RelType],
        direction: Direction,
    ) -> set[str]:
        """Nodes exactly DEPTH_CAP hops from the seeds, or nothing when the closure is shallower.

        Computed locally from the closure's own edges (breadth-first), one query for the edges.
        """
        edges = self.edges_among([*found, *seeds], rel_types)
        if len(edges) < DEPTH_CAP:
            return set()
        nxt: dict[str, list[str]] = {}
        for e in edges:
            a, b = (e.src, e.dst) if direction is Direction.down else (e.dst, e.src)
            nxt.setdefault(a, []).append(b)
        level = set(seeds)
        seen = set(seeds)
        for _ in range(DEPTH_CAP):
            level = {b for a in level for b in nxt.get(a, ()) if b not in seen}
            seen |= level
            if not level:
                return set()
        return level

    def _reach_by_hops(
        self,
        seeds: Sequence[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        max_depth: int | None,
    ) -> set[str]:
        """Breadth-first, one batched query per level: for depth-limited walks."""
        found: set[str] = set()
        visited = set(seeds)
        frontier = list(seeds)
        depth = 0
        while frontier and (max_depth is None or depth < max_depth):
            step = self.hop(frontier, rel_types, direction)
            level = {e.dst if direction is Direction.down else e.src for e in step}
            found |= level
            frontier = sorted(level - visited)
            visited |= level
            depth += 1
        return found

    def edges_among(self, keys: Iterable[str], rel_types: Sequence[RelType]) -> list[StoredEdge]:
        wanted = sorted(set(keys))
        if not wanted:
            return []
        return self._edges(
            self._read("edges_among", keys=wanted, types=[str(t) for t in rel_types])
        )

    def audit_entries(self) -> list[AuditEntry]:
        out = []
        for rec in self._read("audit_all"):
            data = dict(rec["entry"])
            data["at"] = _native(data["at"])
            data.setdefault("source", None)  # Neo4j does not store nulls
            data.setdefault("reason", None)
            out.append(AuditEntry(**data))
        return out
