"""The embedded store: a networkx graph persisted to one file.

Zero set-up for demos and small sites, and an independent second implementation that the Neo4j
queries are checked against. Every committed write replaces the file atomically (write a new
file, fsync, rename, fsync the folder), under an exclusive lock, so a writer killed at any
moment leaves the previous state readable and nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import orjson

from tracegraph.errors import BadInput, StoreError, StoreUnavailable
from tracegraph.gcpause import cycles_collected_after
from tracegraph.model import (
    MAX_HOPS,
    OUTPUT,
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
    GENESIS,
    REL_TYPE_BY_NAME,
    ApiKeyRecord,
    AuditEntry,
    KeyRing,
    Link,
    Output,
    ReadPrimitives,
    RecordVersions,
    StoredEdge,
    StoredNode,
    Version,
    WriteRequest,
    WriteSummary,
    as_utc,
    edge_ident,
    plan_write,
    seal,
    sort_edges,
    split_edge_ident,
)

FORMAT = "tracegraph-embedded/1"

#: Fault injection for the crash-safety test: kill the process at this point of a commit.
_CRASH_ENV = "TRACEGRAPH_TEST_CRASH_AT"


def _decode(type_name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    kinds = TEMPORAL_FIELDS.get(type_name, {})
    out = dict(props)
    for name, kind in kinds.items():
        value = out.get(name)
        if isinstance(value, str):
            out[name] = (
                dt.datetime.fromisoformat(value)
                if kind == "instant"
                else dt.date.fromisoformat(value)
            )
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _key_json(key: ApiKeyRecord) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "sha256": key.sha256,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def _key_from_json(raw: Mapping[str, Any]) -> ApiKeyRecord:
    revoked = raw.get("revoked_at")
    return ApiKeyRecord(
        id=raw["id"],
        name=raw["name"],
        role=raw["role"],
        sha256=raw["sha256"],
        created_at=_ts(raw["created_at"]),
        revoked_at=_ts(revoked) if revoked else None,
    )


@dataclass
class _Undo:
    """What one write changed in the graph and the audit chain, to put back if it fails."""

    audit_length: int
    nodes: list[str] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    #: (a record's attribute dict, what it held before)
    data: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def rollback(self, graph: nx.MultiDiGraph[str], audit: list[AuditEntry]) -> None:
        # Safe whether or not the write got to each change: a write may fail part way.
        for src, dst, rel in self.edges:
            if graph.has_edge(src, dst, key=rel):
                graph.remove_edge(src, dst, key=rel)
        graph.remove_nodes_from([key for key in self.nodes if key in graph])
        for data, before in reversed(self.data):
            data.clear()
            data.update(before)
        del audit[self.audit_length :]


class EmbeddedStore(ReadPrimitives):
    kind = "embedded"
    #: API keys, replaced (never mutated) on load and on every key write; a view holds none.
    _api_keys: tuple[ApiKeyRecord, ...] = ()

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._stamp: tuple[int, int, int] | None = None
        self.graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
        self.audit: list[AuditEntry] = []
        self.keyring: KeyRing = EmbeddedKeyRing(self)
        if self.path.is_dir():
            raise StoreUnavailable(f"{self.path}: is a folder; --db names the store's file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"{self.path}: cannot create its folder: {exc}") from None
        if not self.path.exists():
            with self._locked():
                if not self.path.exists():
                    self._persist()
        self._load()

    # ------------------------------------------------------------------ persistence

    def describe(self) -> dict[str, str]:
        return {"kind": self.kind, "location": str(self.path), "version": FORMAT}

    def close(self) -> None:
        """Nothing to release: every write is already on disk."""

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            handle = open(self._lock_path, "a+b")  # noqa: SIM115 - held for the block
        except OSError as exc:
            raise StoreUnavailable(f"{self._lock_path}: cannot open lock file: {exc}") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _file_stamp(self) -> tuple[int, int, int]:
        st = self.path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> None:
        with cycles_collected_after():
            self._load_file()

    def _load_file(self) -> None:
        try:
            raw = self.path.read_bytes()
            stamp = self._file_stamp()
        except OSError as exc:
            raise StoreUnavailable(f"{self.path}: cannot read the store: {exc}") from None
        try:
            data = orjson.loads(raw)
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
        except (orjson.JSONDecodeError, ValueError, AttributeError) as exc:
            raise StoreError(f"{self.path}: not a TraceGraph store: {exc}") from None
        graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
        for n in data["nodes"]:
            graph.add_node(
                n["key"],
                p=_decode(n["key"].partition(":")[0], n["p"]),
                c=_ts(n["c"]),
                r=_ts(n["r"]),
                a=n["a"],
                h=tuple(
                    Version(v["a"], _ts(v["r"]), _decode(n["key"].partition(":")[0], v["p"]))
                    for v in n.get("h", ())
                ),
            )
        for e in data["edges"]:
            graph.add_edge(
                e["s"],
                e["d"],
                key=e["t"],
                p=_decode(e["t"], e["p"]),
                c=_ts(e["c"]),
                r=_ts(e["r"]),
                a=e["a"],
                h=tuple(
                    Version(v["a"], _ts(v["r"]), _decode(e["t"], v["p"])) for v in e.get("h", ())
                ),
            )
        self.graph = graph
        self.audit = [
            AuditEntry.from_stored(
                {**a, "at": _ts(a["at"]) if isinstance(a.get("at"), str) else None}
            )
            for a in data.get("audit", ())
        ]
        # Files written before API keys existed have no "api_keys": they simply hold none.
        self._api_keys = tuple(_key_from_json(k) for k in data.get("api_keys", ()))
        self._stamp = stamp

    def _refresh(self) -> None:
        """Pick up writes another process committed since this one loaded the file."""
        try:
            if self._file_stamp() != self._stamp:
                self._load()
        except OSError as exc:
            raise StoreUnavailable(f"{self.path}: cannot read the store: {exc}") from None

    def _sweep(self) -> None:
        """Remove temporary files left by writers that died before their rename."""
        for tmp in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            pid = tmp.name.removeprefix(f".{self.path.name}.").removesuffix(".tmp")
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                tmp.unlink(missing_ok=True)

    def _serialise(self) -> bytes:
        def versions(h: Sequence[Version]) -> list[dict[str, Any]]:
            return [{"a": v.audit_seq, "r": v.recorded_at, "p": v.props} for v in h]

        # Straight from the graph's dicts ({node: {neighbour: {type: data}}}); most records
        # have no history, and an empty one is written as it is held (a tuple is a JSON list).
        nodes = [
            {
                "key": k,
                "p": d["p"],
                "c": d["c"],
                "r": d["r"],
                "a": d["a"],
                "h": versions(d["h"]) if d["h"] else d["h"],
            }
            for k, d in vars(self.graph)["_node"].items()
        ]
        edges = [
            {
                "t": t,
                "s": s,
                "d": o,
                "p": d["p"],
                "c": d["c"],
                "r": d["r"],
                "a": d["a"],
                "h": versions(d["h"]) if d["h"] else d["h"],
            }
            for s, targets in vars(self.graph)["_succ"].items()
            for o, by_type in targets.items()
            for t, d in by_type.items()
        ]
        return orjson.dumps(
            {
                "format": FORMAT,
                "nodes": nodes,
                "edges": edges,
                "audit": [a.as_json() for a in self.audit],
                "api_keys": [_key_json(k) for k in self._api_keys],
            },
            option=orjson.OPT_NON_STR_KEYS,
        )

    def _persist(self) -> None:
        data = self._serialise()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        crash = os.environ.get(_CRASH_ENV)
        try:
            with open(tmp, "wb") as out:
                if crash == "mid-write":
                    out.write(data[: len(data) // 2])
                    out.flush()
                    os.kill(os.getpid(), 9)
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            if crash == "before-rename":
                os.kill(os.getpid(), 9)
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreUnavailable(f"{self.path}: cannot write the store: {exc}") from None
        self._stamp = self._file_stamp()

    # ------------------------------------------------------------------ writes

    def write(
        self, nodes: Sequence[Node], edges: Sequence[Edge], request: WriteRequest
    ) -> WriteSummary:
        with self._locked():
            self._sweep()
            self._refresh()
            # What this write changes is noted as it goes and put back if it fails before its
            # file is on disk: copying the whole graph first made every write, even one of a
            # single record, cost as much as the store is large.
            undo = _Undo(len(self.audit))
            try:
                summary = self._apply(nodes, edges, request, undo)
                if summary.created or summary.updated:
                    self._persist()
            except BaseException:
                undo.rollback(self.graph, self.audit)
                raise
            return summary

    def _apply(
        self, nodes: Sequence[Node], edges: Sequence[Edge], request: WriteRequest, undo: _Undo
    ) -> WriteSummary:
        g = self.graph
        # The graph's own dicts, not networkx's views: this runs once per imported record.
        stored: dict[str, dict[str, Any]] = vars(g)["_node"]
        succ: dict[str, dict[str, dict[str, dict[str, Any]]]] = vars(g)["_succ"]
        incoming = {n.key for n in nodes}
        for e in edges:
            if (e.src not in stored and e.src not in incoming) or (
                e.dst not in stored and e.dst not in incoming
            ):
                raise StoreError(f"{edge_ident(e)}: an endpoint is neither stored nor imported")
        node_props = {}
        for n in nodes:
            key = n.key
            if (data := stored.get(key)) is not None:
                node_props[key] = data["p"]
        edge_props = {}
        for e in edges:
            if (data := succ.get(e.src, {}).get(e.dst, {}).get(e.type)) is not None:
                edge_props[e.ident] = data["p"]
        plan = plan_write(nodes, edges, node_props, edge_props)
        summary = plan.summary()
        if not plan.changes:
            return summary
        undo.nodes = [n.key for n in plan.node_creates]
        undo.edges = [(e.src, e.dst, str(e.type)) for e in plan.edge_creates]
        # Entries never go back in time, even if this writer's clock is behind the last one's.
        now = (
            max(dt.datetime.now(dt.UTC), self.audit[-1].at)
            if self.audit
            else dt.datetime.now(dt.UTC)
        )
        seq = len(self.audit) + 1
        for node in plan.node_creates:
            g.add_node(node.key, p=dict(node.props), c=now, r=now, a=seq, h=())
        for node, before, after in plan.node_updates:
            data = stored[node.key]
            undo.data.append((data, dict(data)))
            data["h"] = (*data["h"], Version(data["a"], data["r"], before))
            data.update(p=after, r=now, a=seq)
        for edge in plan.edge_creates:
            g.add_edge(
                edge.src,
                edge.dst,
                key=str(edge.type),
                p=dict(edge.props),
                c=now,
                r=now,
                a=seq,
                h=(),
            )
        for edge, before, after in plan.edge_updates:
            data = succ[edge.src][edge.dst][edge.type]
            undo.data.append((data, dict(data)))
            data["h"] = (*data["h"], Version(data["a"], data["r"], before))
            data.update(p=after, r=now, a=seq)
        prev = self.audit[-1].hash if self.audit else GENESIS
        self.audit.append(seal(request, summary, plan.changes, seq=seq, at=now, prev_hash=prev))
        summary.audit_seq = seq
        return summary

    # ------------------------------------------------------------------ reads

    def _node(self, key: str) -> StoredNode:
        d = self.graph.nodes[key]
        t = key_type(key)
        return StoredNode(
            type=t,
            id=key[len(t) + 1 :],
            props=dict(d["p"]),
            created_at=d["c"],
            recorded_at=d["r"],
            audit_seq=d["a"],
            history=d["h"],
        )

    def existing(self, keys: Iterable[str]) -> set[str]:
        self._refresh()
        return {k for k in keys if k in self.graph}

    def nodes(self, keys: Iterable[str]) -> dict[str, StoredNode]:
        self._refresh()
        return {k: self._node(k) for k in keys if k in self.graph}

    def keys_of_type(self, type_: EntityType) -> list[str]:
        self._refresh()
        prefix = f"{type_}:"
        return sorted(k for k in self.graph if k.startswith(prefix))

    def _steps(
        self, key: str, types: frozenset[str], direction: Direction
    ) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """(type, src, dst, data) of each edge of the given types at ``key`` in ``direction``."""
        if direction is Direction.down:
            for dst, by_type in self.graph.succ[key].items():
                for t, data in by_type.items():
                    if t in types:
                        yield t, key, dst, data
        else:
            for src, by_type in self.graph.pred[key].items():
                for t, data in by_type.items():
                    if t in types:
                        yield t, src, key, data

    def _edges(
        self,
        keys: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction | None,
        props: bool,
    ) -> list[StoredEdge] | list[Link]:
        self._refresh()
        types = frozenset(str(t) for t in rel_types)
        inside = {k for k in set(keys) if k in self.graph}
        found = [
            step
            for k in inside
            for step in self._steps(k, types, Direction.down if direction is None else direction)
            if direction is not None or step[2] in inside
        ]
        if not props:
            return [Link(REL_TYPE_BY_NAME[t], s, d) for t, s, d, _data in found]
        return sort_edges(
            StoredEdge(REL_TYPE_BY_NAME[t], s, d, dict(data["p"])) for t, s, d, data in found
        )

    def _reach(
        self,
        seeds: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        depth: int | None,
        target: EntityType | None,
        each: bool,
        count: bool,
    ) -> set[str] | dict[str, set[str]] | dict[str, int]:
        self._refresh()
        types = frozenset(str(t) for t in rel_types)
        # The graph's own adjacency dicts ({node: {neighbour: {type: data}}}): thousands of
        # closures through networkx's views cost several times the walk itself.
        adjacency: dict[str, dict[str, dict[str, Any]]] = vars(self.graph)[
            "_succ" if direction is Direction.down else "_pred"
        ]

        def walk(starts: Iterable[str]) -> set[str]:
            seen: set[str] = set()
            visited = set(starts)
            frontier = list(visited)
            for _ in range(depth or MAX_HOPS):
                level = []
                for key in frontier:
                    for other, by_type in adjacency[key].items():
                        if other not in seen and not types.isdisjoint(by_type):
                            seen.add(other)
                            if other not in visited:
                                visited.add(other)
                                level.append(other)
                if not level:
                    break
                frontier = level
            return seen if target is None else {k for k in seen if key_type(k) is target}

        known = sorted(k for k in set(seeds) if k in adjacency)
        if not each:
            return walk(known)
        if count:
            return {seed: len(walk([seed])) for seed in known}
        return {seed: walk([seed]) for seed in known}

    def output_each(self, batches: Iterable[str]) -> dict[str, Output]:
        made = self.reach(batches, OUTPUT, Direction.down, each=True)
        pred: dict[str, dict[str, dict[str, Any]]] = vars(self.graph)["_pred"]
        produced, installed = str(RelType.PRODUCED), str(RelType.INSTALLED_IN)
        out = {}
        for batch, devices in made.items():
            sole = 0
            shared = set()
            for device in devices:
                ways = [
                    t
                    for by_type in pred[device].values()
                    for t in by_type
                    if t in (produced, installed)
                ]
                if ways == [produced]:
                    sole += 1
                else:
                    shared.add(device)
            out[batch] = Output(sole, frozenset(shared))
        return out

    def audit_entries(self) -> list[AuditEntry]:
        self._refresh()
        return list(self.audit)

    # ------------------------------------------------------------------ versions and as-of

    @staticmethod
    def _record(ident: str, data: Mapping[str, Any]) -> RecordVersions:
        current = Version(data["a"], data["r"], data["p"])
        return RecordVersions(ident, data["c"], (*data["h"], current))

    def versions(self, idents: Iterable[str] | None = None) -> Iterator[RecordVersions]:
        self._refresh()
        g = self.graph
        if idents is None:
            for key, data in g.nodes(data=True):
                yield self._record(key, data)
            for src, dst, t, data in g.edges(keys=True, data=True):
                yield self._record(f"{t}:{src}->{dst}", data)
            return
        for ident in sorted(set(idents)):
            edge = split_edge_ident(ident)
            if edge is None:
                if ident in g:
                    yield self._record(ident, g.nodes[ident])
            elif (found := g.get_edge_data(edge[1], edge[2], key=str(edge[0]))) is not None:
                yield self._record(ident, found)

    def at(self, as_of: dt.datetime) -> EmbeddedAsOf:
        return EmbeddedAsOf(self, as_of)

    def _snapshot(self, as_of: dt.datetime) -> tuple[nx.MultiDiGraph[str], list[AuditEntry]]:
        """The graph and the audit chain as they were at ``as_of``: records created later are
        left out, the others carry the version in force then (and only the earlier ones)."""
        self._refresh()
        graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()

        def then(ident: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
            kept = self._record(ident, data).at(as_of)
            if kept is None:
                return None
            now = kept.versions[-1]
            return {
                "p": now.props,
                "c": kept.created_at,
                "r": now.recorded_at,
                "a": now.audit_seq,
                "h": kept.versions[:-1],
            }

        for key, data in self.graph.nodes(data=True):
            if (node := then(key, data)) is not None:
                graph.add_node(key, **node)
        for src, dst, t, data in self.graph.edges(keys=True, data=True):
            if (edge := then(f"{t}:{src}->{dst}", data)) is not None:
                graph.add_edge(src, dst, key=t, **edge)
        audit = [e for e in self.audit if e.at is not None and e.at <= as_of]
        return graph, audit

    # ------------------------------------------------------------------ health, and API keys

    def _commit_keys(self, keys: tuple[ApiKeyRecord, ...]) -> None:
        before, self._api_keys = self._api_keys, keys
        try:
            self._persist()
        except BaseException:
            self._api_keys = before
            raise

    def ping(self) -> None:
        self._refresh()


class EmbeddedKeyRing:
    """The API keys of an embedded store, kept in its file beside the graph (not in it: no
    closure, history or audit entry sees them). An as-of view's ring reads the live keys and
    refuses writes."""

    def __init__(self, store: EmbeddedStore, *, read_only: bool = False) -> None:
        self.store = store
        self.read_only = read_only

    def _writable(self) -> None:
        if self.read_only:
            raise BadInput("an as-of view is read-only")

    def add(self, key: ApiKeyRecord) -> None:
        self._writable()
        store = self.store
        with store._locked():
            store._refresh()
            if any(k.id == key.id for k in store._api_keys):
                raise StoreError(f"API key {key.id}: already stored")
            store._commit_keys((*store._api_keys, key))

    def all(self) -> list[ApiKeyRecord]:
        self.store._refresh()
        return sorted(self.store._api_keys, key=lambda k: (k.created_at, k.id))

    def revoke(self, key_id: str, at: dt.datetime) -> ApiKeyRecord | None:
        self._writable()
        store = self.store
        with store._locked():
            store._refresh()
            found = next((k for k in store._api_keys if k.id == key_id), None)
            if found is None or found.revoked:
                return found
            revoked = ApiKeyRecord(
                found.id, found.name, found.role, found.sha256, found.created_at, as_utc(at)
            )
            store._commit_keys(tuple(revoked if k.id == key_id else k for k in store._api_keys))
            return revoked


class EmbeddedAsOf(EmbeddedStore):
    """A read-only view of an embedded store as it was at one time.

    It holds a snapshot of the graph as of that time in the same shape as the store's own, so
    every read of `EmbeddedStore` answers from it unchanged. Every path that could write or
    reload the file is closed.
    """

    def __init__(self, store: EmbeddedStore, as_of: dt.datetime) -> None:
        # Not EmbeddedStore.__init__: a view never opens, creates or locks the file.
        self.path = store.path
        self._lock_path = store._lock_path
        self._stamp = None
        self._base = store
        self.as_of = as_utc(as_of)
        # API keys are not part of the graph's history: a view reads the live ones.
        self.keyring = EmbeddedKeyRing(store, read_only=True)
        self.graph, self.audit = store._snapshot(self.as_of)

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "as_of": str(iso(self.as_of))}

    def at(self, as_of: dt.datetime) -> EmbeddedAsOf:
        return EmbeddedAsOf(self._base, min(as_utc(as_of), self.as_of))

    def write(
        self, nodes: Sequence[Node], edges: Sequence[Edge], request: WriteRequest
    ) -> WriteSummary:
        raise BadInput("an as-of view is read-only")

    def _refresh(self) -> None:
        """A snapshot: later writes to the file are not part of it."""

    def _load(self) -> None:
        raise BadInput("an as-of view is read-only")

    def _persist(self) -> None:
        raise BadInput("an as-of view is read-only")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        raise BadInput("an as-of view is read-only")
        yield  # pragma: no cover - makes this a generator

    def ping(self) -> None:
        self._base.ping()
