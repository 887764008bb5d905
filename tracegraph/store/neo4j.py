"""The Neo4j store: the only module that imports the driver.

Every query is a named file under `cypher/`, run through one of three paths with the query's
name as metadata: `_read` (auto-commit, READ access, retried here), `_run` (inside the write
transaction) and `_execute` (a small write). Reads use READ routing so clusters and Aura work
unchanged; writes run in one managed transaction per import (retried by the driver, so the
transaction function is idempotent: it recomputes its diff from what it reads).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import repeat
from typing import Any

import neo4j
import orjson
from neo4j import GraphDatabase, Query, RoutingControl
from neo4j import exceptions as neo4j_errors

from tracegraph import queries
from tracegraph.errors import BadInput, NotFound, StoreError, StoreUnavailable
from tracegraph.model import (
    EXPOSURE,
    EXPOSURE_SET,
    GENEALOGY,
    INSTANT_FIELDS,
    MAKING,
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
    BatchExposure,
    CaseAction,
    CaseBook,
    CaseRecord,
    DeliveryAttempt,
    ExposureGrowth,
    HookRecord,
    KeyRing,
    Link,
    Links,
    OutboundEvent,
    Outbox,
    ReadPrimitives,
    RecordVersions,
    Scope,
    StoredEdge,
    StoredNode,
    Version,
    WritePlan,
    WriteRequest,
    WriteSummary,
    as_utc,
    case_entry,
    case_id,
    new_production,
    plan_write,
    seal,
    sort_edges,
    split_edge_ident,
)

# The driver logs its retries and routing troubles as warnings of the `neo4j` logger. With no
# handler anywhere, Python would print them on stderr among a command's own output; they are
# for the application's logging to show (uvicorn's, or the caller's), never printed as such.
logging.getLogger("neo4j").addHandler(logging.NullHandler())

_META = ("key", "id", "_c", "_r", "_a", "_h")
_TEXT_TEMPORAL_DEFAULT: Mapping[str, str] = {"_c": "instant", "_r": "instant"}

#: Variable-length patterns cannot take relationship types as parameters, so each walk the
#: analyses run in bulk has its own query file, ``<kind>_<family>_<direction>``: of kind
#: ``reach`` (one closure for all the seeds), ``reach_each`` (one per seed) or ``count_reach``
#: (its size per seed). Other walks, and depth-limited ones, go a level at a time (`_walk`).
_FAMILIES: Mapping[frozenset[RelType], str] = {
    frozenset(GENEALOGY): "genealogy",
    frozenset({RelType.COMPONENT_OF}): "component_of",
    frozenset(MAKING): "making",
    frozenset(OUTPUT): "output",
}

_CLOSURE_FILES = frozenset(
    {
        "reach_genealogy_down",
        "reach_genealogy_up",
        "reach_component_of_down",
        "reach_component_of_up",
        "reach_each_genealogy_down",
        "reach_each_genealogy_up",
        "reach_each_making_down",
        "reach_each_output_down",
        "count_reach_genealogy_down",
        "count_reach_genealogy_up",
    }
)


def _closure_file(
    kind: str, rel_types: Sequence[RelType], direction: Direction, depth: int | None
) -> str | None:
    """The query file of a whole closure of this kind over these edges, if there is one."""
    name = f"{kind}_{_FAMILIES.get(frozenset(rel_types))}_{direction}"
    return name if depth is None and name in _CLOSURE_FILES else None


def _native(value: Any) -> Any:
    if isinstance(value, neo4j.time.DateTime | neo4j.time.Date):
        return value.to_native()
    if isinstance(value, list):
        return [_native(v) for v in value]
    return value


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _to_db(props: Mapping[str, Any]) -> tuple[dict[str, Any], list[list[Any]]]:
    """Properties as a write query takes them: the plain ones, and the temporal ones in wire form.

    Neo4j properties cannot hold maps: the free-form `attributes` object goes in as JSON.
    Instants go as ``[name, epoch second, nanosecond]`` and dates as ``[name, year, month,
    day]``, rebuilt into Neo4j temporal values by the query: the driver's own temporal
    conversion is pure Python and costs ~60 µs a value, more than the rest of a record's write.
    Reads answer them as ISO 8601 text (see `_unwire`).
    """
    plain: dict[str, Any] = {}
    temporal: list[list[Any]] = []
    for name, value in props.items():
        if isinstance(value, dt.datetime):
            since = value - _EPOCH
            temporal.append([name, since.days * 86_400 + since.seconds, since.microseconds * 1000])
        elif isinstance(value, dt.date):
            temporal.append([name, value.year, value.month, value.day])
        elif name == "attributes":
            plain[name] = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        else:
            plain[name] = value
    return plain, temporal


#: Per record type, the properties a read answers as text that are instants or dates: the
#: model's temporal fields, and the bookkeeping instants every record has.
_TEXT_TEMPORAL: Mapping[str, Mapping[str, str]] = {
    name: {**kinds, "_c": "instant", "_r": "instant"} for name, kinds in TEMPORAL_FIELDS.items()
}


def _unwire(type_name: str, wire: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Properties from a read query's wire form, ``[names, values]``, back to Python values.

    Instants and dates come as ISO 8601 text (Neo4j's ``toString``: always with seconds, and
    with the zone's name in brackets after the offset when the value was written with one, as
    the bookkeeping times are); which fields are temporal is the model's to say, per record
    type. Instants come back in UTC, as the store hands them out.
    """
    names, values = wire
    out = dict(zip(names, values, strict=True))
    for name, kind in _TEXT_TEMPORAL.get(type_name, _TEXT_TEMPORAL_DEFAULT).items():
        text = out.get(name)
        if not isinstance(text, str):
            continue
        if kind == "instant":
            when = dt.datetime.fromisoformat(text.partition("[")[0])
            out[name] = when if when.tzinfo is dt.UTC else when.astimezone(dt.UTC)
        else:
            out[name] = dt.date.fromisoformat(text)
    return out


#: The sorted order of each list of field names a read has met (records of one type mostly
#: share one list): sorting each record's names again cost more than reading them.
_ORDER: dict[tuple[str, ...], list[int]] = {}


def _answer_fields(key: str, names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """A record's `plain_fields` from its field names and values as scope_rows.cypher reads
    them.

    Neo4j writes a UTC instant as ``…:SSZ``, as `iso` does, unless it has a fraction of a
    second (Neo4j trims its zeros, `iso` prints six digits): those few are parsed and written
    again; dates are the same text either way.
    """
    type_name, _, ident = key.partition(":")
    instants = INSTANT_FIELDS.get(type_name, frozenset())
    out: dict[str, Any] = {"id": ident, "key": key}
    order = _ORDER.get(names_key := tuple(names))
    if order is None:
        order = _ORDER[names_key] = sorted(range(len(names)), key=names.__getitem__)
    for i in order:
        name, value = names[i], values[i]
        if name in instants and isinstance(value, str) and ("." in value or value[-1] != "Z"):
            value = iso(dt.datetime.fromisoformat(value.partition("[")[0]))
        elif name == "attributes" and isinstance(value, str):
            value = orjson.loads(value)
        out[name] = value
    return out


def _from_db(type_name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a record read in wire form (values already Python's), less bookkeeping."""
    out = {k: v for k, v in raw.items() if k not in _META}
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


#: How many of its last followable writes a store object remembers (`exposure_growth`).
_FOLLOWED = 256


@dataclass(frozen=True)
class _Followed:
    """One write `Neo4jStore.exposure_growth` can follow: the exposure stamps before and
    after it, the devices it created and those of them it installed in another."""

    before: str
    after: str
    devices: tuple[str, ...]
    installed: tuple[str, ...]


def _exposure_stamp(first: str, counts: Iterable[int]) -> str:
    """`Neo4jStore.exposure_stamp` from the first audit entry's hash and the counts."""
    return f"{first}:{','.join(str(n) for n in counts)}"


def _chunks(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


class _Sender:
    """Runs a write transaction's queries one at a time on a thread of their own, so that the
    caller makes the next chunk's rows while the server writes this one (the driver waits for
    the server without the GIL). At most one query is out at a time and the caller never uses
    the transaction meanwhile, so the transaction is used by one thread at a time. Each
    query's records go to its ``after``, in the caller's thread, before the next is sent."""

    def __init__(self, tx: neo4j.ManagedTransaction) -> None:
        self.tx = tx
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracegraph-write")
        self.pending: (
            tuple[Future[list[neo4j.Record]], Callable[[list[neo4j.Record]], Any]] | None
        ) = None

    def __call__(
        self, name: str, after: Callable[[list[neo4j.Record]], Any], **params: Any
    ) -> None:
        self.wait()
        text = queries.get(name).text
        self.pending = (self.pool.submit(lambda: list(self.tx.run(text, params))), after)

    def wait(self) -> None:
        if self.pending is not None:
            future, after = self.pending
            self.pending = None
            after(future.result())

    def __enter__(self) -> _Sender:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is None:
                self.wait()
        finally:
            # On an error, a query still out is waited for (the transaction is rolled back).
            self.pool.shutdown(wait=True)


class _GraphReads(ReadPrimitives):
    """The read primitives, written once over `_read` for the live store and its as-of views
    (a view runs each query's `*_as_of` twin and picks the versions in force then)."""

    def _read(self, name: str, **params: Any) -> list[neo4j.Record]:
        raise NotImplementedError

    def _edge_props(self, type_name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        return _from_db(type_name, raw)

    def existing(self, keys: Iterable[str]) -> set[str]:
        wanted = sorted(set(keys))
        return {r["key"] for r in self._read("node_existing", keys=wanted)} if wanted else set()

    #: Keys per page of `keys_of_type`: bounds the size of one record.
    _PAGE_KEYS = 100_000

    def keys_of_type(self, type_: EntityType) -> list[str]:
        # Keys are "Type:id" with a non-empty id: all of one type lie strictly between
        # "Type:" and "Type;" (";" follows ":"), and each page seeks from the last key read.
        keys: list[str] = []
        after, before = f"{type_}:", f"{type_};"
        while True:
            records = self._read(
                "node_keys_by_prefix", after=after, before=before, limit=self._PAGE_KEYS
            )
            page: list[str] = records[0]["keys"] if records else []
            keys.extend(page)
            if len(page) < self._PAGE_KEYS:
                return keys
            after = page[-1]

    #: Keys per round trip for reads that answer one list: bounds the size of one record.
    _CHUNK = 20_000

    def _rows(self, name: str, keys: Sequence[str], **params: Any) -> list[list[Any]]:
        """The rows of a query that answers one list (`rows`), a chunk of keys at a time."""
        out: list[list[Any]] = []
        for chunk in _chunks(keys, self._CHUNK):
            records = self._read(name, keys=list(chunk), **params)
            if records:
                out.extend(records[0]["rows"])
        return out

    def _stored_edges(self, rows: Iterable[Sequence[Any]]) -> list[StoredEdge]:
        return sort_edges(
            StoredEdge(REL_TYPE_BY_NAME[t], src, dst, self._edge_props(t, _unwire(t, props)))
            for t, src, dst, props, *_ in rows
        )

    def _edges(
        self,
        keys: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction | None,
        props: bool,
    ) -> list[StoredEdge] | list[Link]:
        wanted = sorted(set(keys))
        if not wanted:
            return []
        types = [str(t) for t in rel_types]
        if direction is None:
            # Not chunked: each chunk's edges need the whole set to test their other end.
            records = self._read("edges_among", keys=wanted, types=types)
            among = self._stored_edges(records[0]["rows"] if records else [])
            return among if props else [Link(e.type, e.src, e.dst) for e in among]
        if props:
            return self._stored_edges(self._rows(f"hop_{direction}", wanted, types=types))
        rows = self._rows(f"links_{direction}", wanted, types=types)
        return [Link(REL_TYPE_BY_NAME[t], src, dst) for t, src, dst in rows]

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
        wanted = sorted(set(seeds))
        prefix = f"{target}:" if target is not None else ""
        if not wanted:
            return {} if each else set()
        if not each:
            name = _closure_file("reach", rel_types, direction, depth)
            if name is None:
                found = self._walk({"": wanted}, rel_types, direction, depth)[""]
            else:
                records = self._read(name, seeds=wanted)
                found = set(records[0]["keys"]) if records else set()
            return {k for k in found if k.startswith(prefix)}
        if count:
            name = _closure_file("count_reach", rel_types, direction, depth)
            if name is not None:
                return {r["seed"]: r["n"] for r in self._read(name, seeds=wanted, prefix=prefix)}
        closures = self._each(wanted, rel_types, direction, depth, prefix)
        return {s: len(keys) for s, keys in closures.items()} if count else closures

    def _each(
        self,
        seeds: Sequence[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        depth: int | None,
        prefix: str,
    ) -> dict[str, set[str]]:
        """Each known seed's closure, cut to the keys that start with ``prefix``."""
        name = _closure_file("reach_each", rel_types, direction, depth)
        if name is not None:
            records = self._read(name, seeds=list(seeds), prefix=prefix)
            return {r["seed"]: set(r["keys"]) for r in records}
        known = self.existing(seeds)
        walks = self._walk({s: [s] for s in seeds if s in known}, rel_types, direction, depth)
        return {s: {k for k in keys if k.startswith(prefix)} for s, keys in walks.items()}

    def _walk(
        self,
        starts: Mapping[str, Sequence[str]],
        rel_types: Sequence[RelType],
        direction: Direction,
        depth: int | None,
    ) -> dict[str, set[str]]:
        """Breadth-first from each group of starts, all the groups in step: one query a level
        for every group's frontier, the edges without their properties. For depth-limited
        walks and the edge types no closure file covers."""
        found: dict[str, set[str]] = {group: set() for group in starts}
        visited = {group: set(keys) for group, keys in starts.items()}
        frontier = {group: set(keys) for group, keys in starts.items()}
        for _ in range(depth or MAX_HOPS):
            everyone = set().union(*frontier.values())
            step: dict[str, set[str]] = {}
            for link in self.edges(everyone, rel_types, direction, props=False):
                if direction is Direction.down:
                    step.setdefault(link.src, set()).add(link.dst)
                else:
                    step.setdefault(link.dst, set()).add(link.src)
            for group, keys in frontier.items():
                level: set[str] = set().union(*(step.get(k, ()) for k in keys))
                found[group] |= level
                frontier[group] = level - visited[group]
                visited[group] |= level
            if not any(frontier.values()):
                break
        return found

    def device_count(self) -> int:
        records = self._read("device_count")
        return int(records[0]["n"]) if records else 0

    def upstream_each(
        self, seeds: Iterable[str], types: Collection[EntityType]
    ) -> tuple[Sequence[str], Mapping[str, Sequence[int]]]:
        wanted = tuple(f"{t}:" for t in types)
        number: dict[str, int] = {}
        each = {
            seed: [number.setdefault(k, len(number)) for k in keys if k.startswith(wanted)]
            for seed, keys in self.reach(seeds, GENEALOGY, Direction.up, each=True).items()
        }
        return list(number), each

    def batch_exposure(self, seeds: Iterable[str], installed: bool = False) -> BatchExposure:
        import numpy as np

        wanted = sorted(set(seeds))
        if not wanted:
            return BatchExposure({}, [], [])
        records = self._read("making_batch_ids", seeds=wanted)
        rows: list[list[Any]] = records[0]["rows"] if records else []
        if not rows:
            return BatchExposure({}, [], [])
        # The batches renumbered 0..n-1 in the order of their ids, which stay here.
        flat = np.fromiter(
            (i for _, ids in rows for i in ids), dtype=np.int64, count=sum(len(r[1]) for r in rows)
        )
        distinct, number = np.unique(flat, return_inverse=True)
        ends = np.cumsum([len(ids) for _, ids in rows], dtype=np.int64)
        batches = {
            seed: mine.tolist()
            for (seed, _), mine in zip(rows, np.split(number.reshape(-1), ends[:-1]), strict=True)
        }
        if not len(distinct):
            return BatchExposure(batches, [], [])
        records = self._read("output_groups", ids=distinct.tolist(), installed=installed)
        sole = [0] * len(distinct)
        sole_installed = [0] * len(distinct)
        groups: list[tuple[Sequence[int], int]] = []
        installed_groups: list[tuple[Sequence[int], int]] = []
        if records:
            for i, n, n_installed in records[0]["sole"]:
                sole[i], sole_installed[i] = n, n_installed
            groups = [(tuple(sorted(made)), n) for made, n in records[0]["groups"]]
            installed_groups = [
                (tuple(sorted(made)), n) for made, n in records[0]["installed_groups"]
            ]
        if not installed:
            return BatchExposure(batches, sole, groups)
        return BatchExposure(batches, sole, groups, sole_installed, installed_groups)

    def installed_count(self) -> int:
        """`CountsExposure`: a degree lookup per device, on the server."""
        records = self._read("installed_count")
        return int(records[0]["n"]) if records else 0

    def audit_entries(self) -> list[AuditEntry]:
        return [_entry(rec["entry"]) for rec in self._read("audit_all")]

    def audit_head(self) -> str:
        """`ReadsAuditHead`: the last entry's hash alone."""
        records = self._read("audit_last")
        return str(records[0]["hash"]) if records else GENESIS


class Neo4jStore(_GraphReads):
    kind = "neo4j"

    def _overlapped_rows(self, name: str, keys: Sequence[str]) -> Iterator[list[Any]]:
        """`_rows`, with the next chunk asked for while this one is turned into values: the
        server reads one chunk while the client decodes the last (the driver waits on its
        socket without Python's lock)."""
        chunks = [list(c) for c in _chunks(keys, self._CHUNK)]
        if len(chunks) < 2:
            yield from self._rows(name, keys)
            return
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="tracegraph-read") as pool:
            for records in pool.map(lambda chunk: self._read(name, keys=chunk), chunks):
                if records:
                    yield from records[0]["rows"]

    def scope(self, keys: Iterable[str]) -> Scope:
        """`ReadsScope`: one query a chunk of keys (scope_rows.cypher) for what three reads
        answer otherwise, the fields as text, and no node's history crossing the wire."""
        fields: dict[str, dict[str, Any]] = {}
        device_batch: dict[str, str] = {}
        ordered = sorted(keys if isinstance(keys, set | frozenset) else set(keys))
        place = {k: i for i, k in enumerate(ordered)}
        rel_types: list[RelType] = []
        src: list[int] = []
        ends: list[str] = []
        for key, names, values, types, far, batch in self._overlapped_rows("scope_rows", ordered):
            fields[key] = _answer_fields(key, names, values)
            if types:
                # Whole columns extended in C: a generator cost more than the read.
                rel_types += map(REL_TYPE_BY_NAME.__getitem__, types)
                src += repeat(place[key], len(types))
                ends += far
            if batch is not None:
                device_batch[key] = batch
        try:
            links = Links(ordered, rel_types, src, list(map(place.__getitem__, ends)))
        except KeyError:  # an edge leaves the keys asked for: rank them all anew
            links = Links.of(
                zip(rel_types, map(ordered.__getitem__, src), ends, strict=True), ordered
            )
        return Scope(fields, links, device_batch)

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        *,
        database: str = "neo4j",
        batch: int = 10_000,
        retry_seconds: float = 10.0,
        connect_seconds: float = 5.0,
    ) -> None:
        self.uri = uri
        self.database = database
        self.batch = batch
        self.retry_seconds = retry_seconds
        try:
            # Planner notices (unknown labels on an empty database, ...) are not for our users.
            self.driver = GraphDatabase.driver(
                uri,
                auth=(user, password),
                notifications_min_severity="OFF",
                max_transaction_retry_time=retry_seconds,
                # A server that does not answer is known to be down after this long (the
                # driver's default waits 30 s), and so is found before any query is retried.
                connection_timeout=connect_seconds,
            )
        except (ValueError, neo4j_errors.ConfigurationError) as exc:
            raise StoreUnavailable(f"{uri}: not a usable Neo4j address: {exc}") from None
        self._version: str | None = None
        self._schema_ready = False
        self.keyring: KeyRing = Neo4jKeyRing(self)
        self.outbox: Outbox = Neo4jOutbox(self)
        self.cases: CaseBook = Neo4jCaseBook(self)
        #: The last writes of this object that common cause can follow (`exposure_growth`).
        self._followed: deque[_Followed] = deque(maxlen=_FOLLOWED)

    # ------------------------------------------------------------------ plumbing

    def _fail(self, exc: Exception) -> Exception:
        if isinstance(exc, neo4j_errors.AuthError):
            return StoreUnavailable(f"{self.uri}: Neo4j refused the credentials")
        if isinstance(exc, neo4j_errors.ServiceUnavailable | neo4j_errors.SessionExpired):
            return StoreUnavailable(f"{self.uri}: Neo4j is not reachable ({type(exc).__name__})")
        if isinstance(exc, OSError):
            return StoreUnavailable(f"{self.uri}: Neo4j is not reachable ({exc})")
        return StoreError(f"{self.uri}: Neo4j failed: {exc}")

    def _execute(
        self, name: str, routing: RoutingControl, params: dict[str, Any]
    ) -> list[neo4j.Record]:
        """A small write in its own managed transaction (API keys), retried by the driver."""
        query = queries.get(name)
        self._ensure_schema()
        try:
            records, _, _ = self.driver.execute_query(
                Query(query.text, metadata={"query": name}),
                params,
                database_=self.database,
                routing_=routing,
            )
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError, OSError) as exc:
            raise self._fail(exc) from exc
        return records

    def _read(self, name: str, **params: Any) -> list[neo4j.Record]:
        """A read as one auto-commit query (RUN and PULL in one round trip): a managed
        transaction adds BEGIN and COMMIT, ~1.2 ms a query, which is most of a small closure's
        time. Reads are idempotent, so a retryable failure (the server restarting, a leader
        switch) is retried here, with back-off, for up to `retry_seconds`. The session shares
        the driver's bookmarks with `execute_query` and the writes, so a read sees every write
        this store made, on a cluster too."""
        query = queries.get(name)
        self._ensure_schema()
        deadline = time.monotonic() + self.retry_seconds
        pause = 0.1
        while True:
            try:
                with self.driver.session(
                    database=self.database,
                    default_access_mode=neo4j.READ_ACCESS,
                    bookmark_manager=self.driver.execute_query_bookmark_manager,
                ) as session:
                    return list(session.run(Query(query.text, metadata={"query": name}), params))
            except (neo4j_errors.Neo4jError, neo4j_errors.DriverError) as exc:
                if not exc.is_retryable() or time.monotonic() + pause > deadline:
                    raise self._fail(exc) from exc
            except OSError as exc:
                raise self._fail(exc) from exc
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    @staticmethod
    def _run(tx: neo4j.ManagedTransaction, name: str, **params: Any) -> list[neo4j.Record]:
        # Inside a managed transaction the metadata is the transaction's ("write", see write()).
        return list(tx.run(queries.get(name).text, params))

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        self._first_contact()
        statements = [s.strip() for s in queries.get("schema").text.split(";") if s.strip()]
        try:
            for statement in statements:
                self.driver.execute_query(
                    Query(statement, metadata={"query": "schema"}),
                    database_=self.database,
                )
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError, OSError) as exc:
            raise self._fail(exc) from exc
        self._schema_ready = True

    def _first_contact(self) -> None:
        """Fail at once, in one sentence, when the server cannot be reached at all: retries are
        for a server that answered (restarting, a leader change), not for one that is down or
        a mistyped address, where they only delay the answer."""
        try:
            self.driver.verify_connectivity()
        except neo4j_errors.AuthError as exc:
            raise self._fail(exc) from exc
        except neo4j_errors.Neo4jError as exc:  # it answered: locked out (too many bad logins)
            raise StoreUnavailable(f"{self.uri}: Neo4j refused the login ({exc.message})") from exc
        except (neo4j_errors.DriverError, OSError) as exc:
            found = re.search(r"reason (?:\[Errno -?\d+\] )?(.+?)\)*$", str(exc).splitlines()[-1])
            why = found.group(1).lower() if found else "it does not answer"
            raise StoreUnavailable(
                f"Neo4j at {self.uri} is not reachable ({why}): is the server running, and "
                "is --db / TRACEGRAPH_DB its address?"
            ) from exc

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
            self._followed.clear()
            self.driver.execute_query(
                Query(queries.get("clear_all").text, metadata={"query": "clear_all"}),
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
            with self.driver.session(
                database=self.database,
                bookmark_manager=self.driver.execute_query_bookmark_manager,
            ) as session:
                work = neo4j.unit_of_work(metadata={"query": "write"})(self._write_tx)
                followed: list[_Followed] = []
                summary: WriteSummary = session.execute_write(work, nodes, edges, request, followed)
                self._followed.extend(followed)  # (committed: the attempt that succeeded)
                return summary
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError, OSError) as exc:
            raise self._fail(exc) from exc

    def _write_tx(
        self,
        tx: neo4j.ManagedTransaction,
        nodes: Sequence[Node],
        edges: Sequence[Edge],
        request: WriteRequest,
        followed: list[_Followed] | None = None,
    ) -> WriteSummary:
        self._run(tx, "write_lock")
        last = self._run(tx, "audit_last")
        seq = (last[0]["seq"] + 1) if last else 1
        prev_hash = last[0]["hash"] if last else GENESIS
        node_raw: dict[str, dict[str, Any]] = {}
        for chunk in _chunks([n.key for n in nodes], self.batch):
            for key, props in self._run(tx, "node_get", keys=list(chunk))[0]["rows"]:
                node_raw[key] = _unwire(key.partition(":")[0], props)
        # An edge with an end this write creates cannot exist yet: only the others are looked
        # up (in a first import, none are).
        new = {n.key for n in nodes} - node_raw.keys()
        edge_raw: dict[tuple[str, str, str], dict[str, Any]] = {}
        edge_id: dict[tuple[str, str, str], str] = {}
        idents = [
            {"type": str(e.type), "src": e.src, "dst": e.dst}
            for e in edges
            if e.src not in new and e.dst not in new
        ]
        for chunk in _chunks(idents, self.batch):
            for t, src, dst, props, element_id in self._run(tx, "edge_get", rows=list(chunk))[0][
                "rows"
            ]:
                edge_raw[(t, src, dst)] = _unwire(t, props)
                edge_id[(t, src, dst)] = element_id
        plan = plan_write(
            nodes,
            edges,
            {k: _from_db(k.partition(":")[0], v) for k, v in node_raw.items()},
            {k: _from_db(k[0], v) for k, v in edge_raw.items()},
        )
        summary = plan.summary()
        if not plan.changes:
            return summary
        # Entries never go back in time, even if this writer's clock is behind the last one's.
        now = (
            max(dt.datetime.now(dt.UTC), _native(last[0]["at"]))
            if last
            else dt.datetime.now(dt.UTC)
        )

        def prev(raw: Mapping[str, Any], before: Mapping[str, Any]) -> list[str]:
            return [_version_json(raw["_a"], _native(raw["_r"]), before)]

        def fields(props: Mapping[str, Any]) -> dict[str, Any]:
            plain, temporal = _to_db(props)
            return {"props": plain, "temporal": temporal}

        def check(name: str, done: int, rows: Sequence[Any]) -> None:
            if done != len(rows):
                raise StoreError(f"{name}: the store changed under the import; try again")

        # Edges are created between nodes found by element id, a direct lookup, where a key is
        # a seek in the unique index: the ids come back from node_create, and one node_ids
        # read finds those of the other ends (measured at 20k edges a write: ~9 µs less per
        # edge, about half of what creating one cost).
        # Each chunk's rows are made here while the server writes the chunk before (`_Sender`).
        ids: dict[str, str] = {}
        with _Sender(tx) as send:

            def created(chunk: Sequence[Any]) -> Any:
                def after(records: list[neo4j.Record]) -> None:
                    made = records[0]["created"]
                    check("node_create", len(made), chunk)
                    ids.update(made)

                return after

            def counted(name: str, chunk: Sequence[Any]) -> Any:
                return lambda records: check(name, records[0][0], chunk)

            params = {"at": now, "seq": seq}
            for part in _chunks(plan.node_creates, self.batch):
                rows = [
                    {"key": n.key, "id": n.id, "type": str(n.type), **fields(n.props)} for n in part
                ]
                send("node_create", created(rows), rows=rows, **params)
            for part in _chunks(plan.node_updates, self.batch):
                rows = [
                    {"key": n.key, **fields(after), "prev": prev(node_raw[n.key], before)}
                    for n, before, after in part
                ]
                send("node_update", counted("node_update", rows), rows=rows, **params)
            send.wait()
            ends = sorted({k for e in plan.edge_creates for k in (e.src, e.dst)} - ids.keys())
            for chunk in _chunks(ends, self.batch):
                send("node_ids", lambda records: ids.update(records[0]["ids"]), keys=list(chunk))
            send.wait()
            for part in _chunks(plan.edge_creates, self.batch):
                rows = [
                    {
                        "type": str(e.type),
                        "src": ids.get(e.src),
                        "dst": ids.get(e.dst),
                        **fields(e.props),
                    }
                    for e in part
                ]
                send("edge_create", counted("edge_create", rows), rows=rows, **params)
            for part in _chunks(plan.edge_updates, self.batch):
                rows = [
                    {
                        "id": edge_id[e.ident],
                        **fields(after),
                        "prev": prev(edge_raw[e.ident], before),
                    }
                    for e, before, after in part
                ]
                send("edge_update", counted("edge_update", rows), rows=rows, **params)
            # The audit digest is made while the server writes the last chunk.
            entry = seal(request, summary, plan.changes, seq=seq, at=now, prev_hash=prev_hash)
        self._run(tx, "audit_append", entry={**entry.as_json(), "at": now})
        summary.audit_seq = seq
        if followed is not None:
            followed.clear()
            step = self._follow(tx, plan, seq)
            if step is not None:
                followed.append(step)
        return summary

    def _follow(self, tx: neo4j.ManagedTransaction, plan: WritePlan, seq: int) -> _Followed | None:
        """This write as `exposure_growth` follows it, inside its transaction: the exposure
        stamp after it and, as the lock (write_lock) keeps other writers out and it created
        the edges counted, the stamp before; the devices it created. None if it moved no
        exposure or cannot be followed: a new exposure edge into a stored node, or out of a
        stored device into another (it may reach stored devices anew, or make one an
        installed one), or the chain's first entry (a store cleared starts it again)."""
        made = [e for e in plan.edge_creates if e.type in EXPOSURE_SET]
        grown = new_production(plan) if made and seq > 1 else None
        if grown is None:
            return None
        record = self._run(tx, "exposure_stamp")[0]
        counts = list(record["counts"])
        added = Counter(e.type for e in made)
        earlier = [n - added[t] for n, t in zip(counts, EXPOSURE, strict=True)]
        first = record["first"] or GENESIS
        return _Followed(
            before=_exposure_stamp(first, earlier),
            after=_exposure_stamp(first, counts),
            devices=grown.devices,
            installed=grown.installed,
        )

    def exposure_growth(self, since: str, to: str) -> ExposureGrowth | None:
        """`FollowsExposures`: the devices of the followed writes from ``since`` to ``to``,
        and the nodes above them the way an exposure is counted (exposure_growth.cypher)."""
        devices: list[str] = []
        installed: list[str] = []
        at = since
        for step in list(self._followed):
            if step.before == at:
                devices += step.devices
                installed += step.installed
                at = step.after
        if at != to:
            return None
        gained: dict[str, tuple[int, int]] = {}
        for chunk in _chunks(devices, self.batch):
            for key, n, inside in self._read(
                "exposure_growth", devices=list(chunk), installed=installed
            )[0]["rows"]:
                had = gained.get(key, (0, 0))
                gained[key] = (had[0] + n, had[1] + inside)
        return ExposureGrowth(gained, len(set(installed)))

    # ------------------------------------------------------------------ reads

    def nodes(self, keys: Iterable[str]) -> dict[str, StoredNode]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        found = {}
        for key, props in self._rows("node_get", wanted):
            t = key_type(key)
            raw = _unwire(t, props)
            found[key] = StoredNode(
                type=t,
                id=raw["id"],
                props=_from_db(str(t), raw),
                created_at=_native(raw["_c"]),
                recorded_at=_native(raw["_r"]),
                audit_seq=raw["_a"],
                history=tuple(_version(str(t), v) for v in raw.get("_h") or ()),
            )
        return found

    # ------------------------------------------------------------------ versions and as-of

    #: Nodes per round trip when `versions()` reads the whole store.
    _PAGE = 1_000

    def versions(self, idents: Iterable[str] | None = None) -> Iterator[RecordVersions]:
        if idents is None:
            yield from self._every_version()
            return
        wanted = sorted(set(idents))
        keys: list[str] = []
        rows: list[dict[str, str]] = []
        for ident in wanted:
            edge = split_edge_ident(ident)
            if edge is None:
                keys.append(ident)
            else:
                rows.append({"type": str(edge[0]), "src": edge[1], "dst": edge[2]})
        found: dict[str, RecordVersions] = {}
        for key, props in self._rows("node_get", keys):
            type_name = key.partition(":")[0]
            found[key] = _record(key, type_name, _unwire(type_name, props))
        for t, src, dst, props, _ in self._read("edge_get", rows=rows)[0]["rows"] if rows else ():
            ident = f"{t}:{src}->{dst}"
            found[ident] = _record(ident, t, _unwire(t, props))
        yield from (found[i] for i in wanted if i in found)

    def versions_paged(self, page_size: int) -> Iterator[RecordVersions]:
        """Every node and edge, about ``page_size`` records per round trip (`PagesVersions`)."""
        return self._every_version(page_size)

    def _every_version(self, page_size: int | None = None) -> Iterator[RecordVersions]:
        """Every node, each followed by its outgoing edges. A page of nodes (in key order, with
        how many edges each has) per round trip, then their edges: those of consecutive nodes
        with a page of them in all together, a node with more a page at a time. A page never
        holds a hub's every edge (a supplier's lots: 10k edges at 100k devices)."""
        size = self._PAGE if page_size is None else page_size
        after = ""
        while True:
            page = self._read("record_page", after=after, limit=size)
            group: list[tuple[str, RecordVersions]] = []
            edges = 0
            for rec in page:
                key, degree = rec["key"], rec["degree"]
                type_name = key.partition(":")[0]
                node = _record(key, type_name, _unwire(type_name, rec["props"]))
                if group and edges + degree > size:
                    yield from self._with_edges(group)
                    group, edges = [], 0
                if degree > size:
                    yield node
                    yield from self._edges_paged(key, size)
                else:
                    group.append((key, node))
                    edges += degree
            yield from self._with_edges(group)
            if len(page) < size:
                return
            after = page[-1]["key"]

    def _with_edges(self, group: list[tuple[str, RecordVersions]]) -> Iterator[RecordVersions]:
        """These nodes, each followed by its outgoing edges (read in one round trip)."""
        wanted = [key for key, _ in group]
        out = (
            {r["key"]: r["out"] for r in self._read("record_edges", keys=wanted)} if wanted else {}
        )
        for key, node in group:
            yield node
            for t, dst, props in out.get(key, ()):
                ident = f"{t}:{key}->{dst}"
                yield _record(ident, t, _unwire(t, props))

    def _edges_paged(self, key: str, size: int) -> Iterator[RecordVersions]:
        """The outgoing edges of one node, ``size`` per round trip, in (dst, type) order."""
        after_dst, after_type = "", ""
        while True:
            page = self._read(
                "record_edge_page", key=key, after_dst=after_dst, after_type=after_type, limit=size
            )
            for rec in page:
                t, dst = rec["type"], rec["dst"]
                yield _record(f"{t}:{key}->{dst}", t, _unwire(t, rec["props"]))
            if len(page) < size:
                return
            after_dst, after_type = page[-1]["dst"], page[-1]["type"]

    def at(self, as_of: dt.datetime) -> Neo4jAsOf:
        return Neo4jAsOf(self, as_of)

    def fields(self, keys: Iterable[str], names: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """`ReadsFields`: the named properties alone, in node_get's wire form."""
        found: dict[str, tuple[Any, ...]] = {}
        for key, values in self._rows("node_fields", sorted(set(keys)), names=list(names)):
            type_name = key.partition(":")[0]
            props = _from_db(type_name, _unwire(type_name, [list(names), values]))
            found[key] = tuple(props.get(name) for name in names)
        return found

    def exposure_stamp(self) -> str:
        """`StampsExposure`: the count of each type of relationship an exposure is counted
        over (each from its count store) and the first audit entry's hash, in one query."""
        records = self._read("exposure_stamp")
        if not records:
            return GENESIS
        return _exposure_stamp(records[0]["first"] or GENESIS, records[0]["counts"])

    # ------------------------------------------------------------------ health, and API keys

    def _write_one(self, name: str, **params: Any) -> list[neo4j.Record]:
        """One small write in its own auto-retried transaction (API keys)."""
        return self._execute(name, RoutingControl.WRITE, params)

    def ping(self) -> None:
        try:
            self.driver.verify_connectivity()
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError, OSError) as exc:
            raise self._fail(exc) from exc


class _BesideTheGraph:
    """Records kept beside the graph (API keys, outbound events, recall cases): not `Node`s,
    so no closure, history or audit entry of the graph sees them. An as-of view's reads the
    live ones and refuses writes."""

    def __init__(self, store: Neo4jStore, *, read_only: bool = False) -> None:
        self.store = store
        self.read_only = read_only

    def _writable(self) -> None:
        if self.read_only:
            raise BadInput("an as-of view is read-only")


class Neo4jKeyRing(_BesideTheGraph):
    """The API keys of a Neo4j store: `ApiKey` nodes beside the graph (not `Node`s, so no
    closure, history or audit entry ever sees them), shared by every client of the database.
    An as-of view's ring reads the live keys and refuses writes."""

    def add(self, key: ApiKeyRecord) -> None:
        self._writable()
        if any(k.id == key.id for k in self.all()):
            raise StoreError(f"API key {key.id}: already stored")
        row = {
            "id": key.id,
            "name": key.name,
            "role": key.role,
            "sha256": key.sha256,
            "created_at": key.created_at,
        }
        if key.revoked_at is not None:
            row["revoked_at"] = key.revoked_at
        self.store._write_one("api_key_create", key=row)

    def all(self) -> list[ApiKeyRecord]:
        return [_api_key(rec["key"]) for rec in self.store._read("api_key_all")]

    def revoke(self, key_id: str, at: dt.datetime) -> ApiKeyRecord | None:
        self._writable()
        records = self.store._write_one("api_key_revoke", id=key_id, at=as_utc(at))
        return _api_key(records[0]["key"]) if records else None


class Neo4jOutbox(_BesideTheGraph):
    """Outbound events, hooks and their delivery log: :OutboundEvent, :Hook and :HookAttempt
    nodes beside the graph (no :Node, so no closure, history or audit entry sees them). Seqs
    come from the :OutboundHead counter, whose write lock orders concurrent appends; a claim
    takes the hook's write lock before it reads the lease. An as-of view's outbox reads the
    live one and refuses writes."""

    def append(
        self, events: Sequence[tuple[str, Mapping[str, Any]]], at: dt.datetime
    ) -> list[OutboundEvent]:
        self._writable()
        if not events:
            return []
        rows = [
            {"kind": kind, "data": orjson.dumps(dict(data), default=iso).decode()}
            for kind, data in events
        ]
        records = self.store._write_one("outbox_append", events=rows, at=as_utc(at))
        return [_event(rec) for rec in records]

    def events(
        self, since: int = 0, kinds: Iterable[str] | None = None, limit: int = 1000
    ) -> list[OutboundEvent]:
        wanted = sorted(set(kinds)) if kinds is not None else None
        if wanted == []:
            return []
        records = self.store._read("outbox_events", since=since, kinds=wanted, limit=limit)
        return [_event(rec) for rec in records]

    def last_seq(self) -> int:
        return int(self.store._read("outbox_last")[0]["seq"])

    def add_hook(self, hook: HookRecord) -> HookRecord:
        self._writable()
        if any(h.id == hook.id for h in self.hooks()):
            raise StoreError(f"hook {hook.id}: already stored")
        row = {
            "id": hook.id,
            "url": hook.url,
            "events": list(hook.events),
            "secret": hook.secret,
            "created_at": as_utc(hook.created_at),
        }
        return _hook(self.store._write_one("hook_create", hook=row)[0]["hook"])

    def hooks(self) -> list[HookRecord]:
        return [_hook(rec["hook"]) for rec in self.store._read("hook_all")]

    def remove_hook(self, hook_id: str) -> HookRecord | None:
        self._writable()
        records = self.store._write_one("hook_remove", id=hook_id)
        return _hook(records[0]["hook"]) if records else None

    def claim(self, hook_id: str, owner: str, until: dt.datetime, now: dt.datetime) -> bool:
        self._writable()
        records = self.store._write_one(
            "hook_claim", id=hook_id, owner=owner, until=as_utc(until), now=as_utc(now)
        )
        return bool(records)

    def record_attempt(self, attempt: DeliveryAttempt, next_attempt_at: dt.datetime | None) -> None:
        self._writable()
        row: dict[str, Any] = {
            "hook": attempt.hook,
            "seq": attempt.seq,
            "attempt": attempt.attempt,
            "at": as_utc(attempt.at),
            "status": attempt.status,
            "error": attempt.error,
        }
        self.store._write_one(
            "hook_attempt_add",
            hook=attempt.hook,
            attempt=row,
            acked=attempt.ok,
            failures=0 if attempt.ok else attempt.attempt,
            next_attempt_at=None if next_attempt_at is None else as_utc(next_attempt_at),
        )

    def attempts(self, hook_id: str | None = None, limit: int = 100) -> list[DeliveryAttempt]:
        records = self.store._read("hook_attempts", hook=hook_id, limit=limit)
        return [_attempt(rec["attempt"]) for rec in records]


class Neo4jCaseBook(_BesideTheGraph):
    """Recall cases and their action logs: :RecallCase and :RecallCaseAction nodes beside the
    graph (no :Node). Each write is one managed transaction that takes the audit chain's write
    lock and appends the command's audit entry, like an import. An as-of view's book reads the
    live one and refuses writes."""

    def _transaction(self, work: Any, *args: Any) -> Any:
        """Run ``work(tx, seq, at, prev_hash, *args)`` in one write transaction holding the
        audit chain's lock; ``work`` answers (result, audit entry to append)."""
        self._writable()
        store = self.store
        store._ensure_schema()

        def unit(tx: neo4j.ManagedTransaction) -> Any:
            store._run(tx, "write_lock")
            last = store._run(tx, "audit_last")
            seq = (last[0]["seq"] + 1) if last else 1
            prev_hash = last[0]["hash"] if last else GENESIS
            now = dt.datetime.now(dt.UTC)
            if last:
                now = max(now, _native(last[0]["at"]))
            result, entry = work(tx, seq, now, prev_hash, *args)
            store._run(tx, "audit_append", entry={**entry.as_json(), "at": now})
            return result

        try:
            with store.driver.session(
                database=store.database,
                bookmark_manager=store.driver.execute_query_bookmark_manager,
            ) as session:
                return session.execute_write(neo4j.unit_of_work(metadata={"query": "case"})(unit))
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError, OSError) as exc:
            raise store._fail(exc) from exc

    def open(self, case: CaseRecord, request: WriteRequest) -> CaseRecord:
        store = self.store

        def work(
            tx: neo4j.ManagedTransaction, seq: int, now: dt.datetime, prev_hash: str
        ) -> tuple[CaseRecord, AuditEntry]:
            year = case.opened_at.year
            made = case_id(year, store._run(tx, "case_next", year=year)[0]["n"])
            entry = case_entry(request, source=made, seq=seq, at=now, prev_hash=prev_hash)
            kept = replace(case, id=made, audit_seq=seq)
            store._run(
                tx,
                "case_create",
                id=made,
                opened_at=as_utc(case.opened_at),
                data=orjson.dumps(kept.fields_json()).decode(),
                scope=orjson.dumps(dict(case.scope or {}), default=iso).decode(),
            )
            return kept, entry

        kept: CaseRecord = self._transaction(work)
        return kept

    def cases(self) -> list[CaseRecord]:
        return [
            CaseRecord.from_json(rec["id"], orjson.loads(rec["data"]))
            for rec in self.store._read("case_all")
        ]

    def get(self, case_id: str) -> CaseRecord | None:
        records = self.store._read("case_get", id=case_id)
        if not records:
            return None
        rec = records[0]
        return CaseRecord.from_json(
            rec["id"], orjson.loads(rec["data"]), orjson.loads(rec["scope"])
        )

    def record(self, action: CaseAction, request: WriteRequest) -> CaseAction:
        store = self.store

        def work(
            tx: neo4j.ManagedTransaction, seq: int, now: dt.datetime, prev_hash: str
        ) -> tuple[CaseAction, AuditEntry]:
            entry = case_entry(request, source=action.case, seq=seq, at=now, prev_hash=prev_hash)
            data = replace(action, audit_seq=seq).fields_json()
            found = store._run(
                tx,
                "case_action_add",
                case=action.case,
                data=orjson.dumps(data, default=iso).decode(),
            )
            if not found:
                raise NotFound(f"case {action.case}: no such case")
            return replace(action, n=found[0]["n"], audit_seq=seq), entry

        kept: CaseAction = self._transaction(work)
        return kept

    def close(self, case_id: str, at: dt.datetime, by: str, request: WriteRequest) -> CaseRecord:
        store = self.store

        def work(
            tx: neo4j.ManagedTransaction, seq: int, now: dt.datetime, prev_hash: str
        ) -> tuple[CaseRecord, AuditEntry]:
            found = store._run(tx, "case_get", id=case_id)
            if not found:
                raise NotFound(f"case {case_id}: no such case")
            case = CaseRecord.from_json(case_id, orjson.loads(found[0]["data"]))
            kept = replace(case, status="closed", closed_at=at, closed_by=by)
            store._run(
                tx, "case_update", id=case_id, data=orjson.dumps(kept.fields_json()).decode()
            )
            entry = case_entry(request, source=case_id, seq=seq, at=now, prev_hash=prev_hash)
            return kept, entry

        kept: CaseRecord = self._transaction(work)
        return kept

    def actions(self, case_id: str) -> list[CaseAction]:
        return [
            CaseAction.from_json(case_id, rec["n"], orjson.loads(rec["data"]))
            for rec in self.store._read("case_actions", case=case_id)
        ]


def _event(rec: neo4j.Record) -> OutboundEvent:
    return OutboundEvent(rec["seq"], rec["kind"], _native(rec["at"]), orjson.loads(rec["data"]))


def _hook(raw: Mapping[str, Any]) -> HookRecord:
    next_at = raw.get("next_attempt_at")
    return HookRecord(
        id=raw["id"],
        url=raw["url"],
        events=tuple(raw["events"]),
        secret=raw["secret"],
        created_at=_native(raw["created_at"]),
        acked_seq=raw.get("acked_seq", 0),
        failures=raw.get("failures", 0),
        next_attempt_at=_native(next_at) if next_at is not None else None,
    )


def _attempt(raw: Mapping[str, Any]) -> DeliveryAttempt:
    return DeliveryAttempt(
        hook=raw["hook"],
        seq=raw["seq"],
        attempt=raw["attempt"],
        at=_native(raw["at"]),
        status=raw.get("status"),
        error=raw.get("error"),
    )


def _api_key(raw: Mapping[str, Any]) -> ApiKeyRecord:
    revoked = raw.get("revoked_at")
    return ApiKeyRecord(
        id=raw["id"],
        name=raw["name"],
        role=raw["role"],
        sha256=raw["sha256"],
        created_at=_native(raw["created_at"]),
        revoked_at=_native(revoked) if revoked is not None else None,
    )


def _entry(raw: Mapping[str, Any]) -> AuditEntry:
    """An audit entry as stored. Neo4j keeps no nulls: a missing source or reason is None."""
    return AuditEntry.from_stored({k: _native(v) for k, v in raw.items()})


def _record(ident: str, type_name: str, raw: Mapping[str, Any]) -> RecordVersions:
    """Every version of one node or edge from its properties (the earlier ones are in _h)."""
    seq: Any = raw.get("_a")  # a missing one (an edited record) is for `audit verify` to name
    current = Version(seq, _native(raw.get("_r")), _from_db(type_name, raw))
    history = tuple(_version(type_name, v) for v in raw.get("_h") or ())
    return RecordVersions(ident, _native(raw.get("_c")), (*history, current))


class Neo4jAsOf(_GraphReads):
    """A read-only view of a Neo4j store as it was at one time.

    Every read runs the `*_as_of` variant of the live query: nodes and relationships whose
    `_c` (created) is after the time are left out, in Cypher, so closures stay one pruning
    breadth-first expand. The version in force then is picked here, from `_r` and the kept
    history `_h`. The view shares the store's driver; closing it is the store's business.
    """

    kind = "neo4j"

    def __init__(self, store: Neo4jStore, as_of: dt.datetime) -> None:
        self.store = store
        self.as_of = as_utc(as_of)
        # API keys are not part of the graph's history: a view reads the live ones.
        self.keyring: KeyRing = Neo4jKeyRing(store, read_only=True)
        self.outbox: Outbox = Neo4jOutbox(store, read_only=True)
        self.cases: CaseBook = Neo4jCaseBook(store, read_only=True)

    def _read(self, name: str, **params: Any) -> list[neo4j.Record]:
        return self.store._read(f"{name}_as_of", as_of=self.as_of, **params)

    def describe(self) -> dict[str, str]:
        return {**self.store.describe(), "as_of": str(iso(self.as_of))}

    def close(self) -> None:
        """The store this view came from owns the connection."""

    def at(self, as_of: dt.datetime) -> Neo4jAsOf:
        return Neo4jAsOf(self.store, min(as_utc(as_of), self.as_of))

    def write(
        self, nodes: Sequence[Node], edges: Sequence[Edge], request: WriteRequest
    ) -> WriteSummary:
        raise BadInput("an as-of view is read-only")

    def nodes(self, keys: Iterable[str]) -> dict[str, StoredNode]:
        then = {k: n.at(self.as_of) for k, n in self.store.nodes(keys).items()}
        return {k: n for k, n in then.items() if n is not None}

    def _edge_props(self, type_name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        if _native(raw["_r"]) <= self.as_of:
            return _from_db(type_name, raw)
        then = _record("", type_name, raw).at(self.as_of)
        return dict(then.versions[-1].props) if then else _from_db(type_name, raw)

    def versions(self, idents: Iterable[str] | None = None) -> Iterator[RecordVersions]:
        yield from self._in_force(self.store.versions(idents))

    def versions_paged(self, page_size: int) -> Iterator[RecordVersions]:
        return self._in_force(self.store.versions_paged(page_size))

    def _in_force(self, records: Iterable[RecordVersions]) -> Iterator[RecordVersions]:
        for record in records:
            then = record.at(self.as_of)
            if then is not None:
                yield then

    def ping(self) -> None:
        self.store.ping()
