"""The `GraphStore` protocol every store implements, and the pieces the stores share.

A store knows how to keep nodes and edges with their versions and the audit chain, and how to
answer a handful of graph primitives fast (closure, one hop, edges among a set). The analyses
are written once, in terms of these primitives, so the two stores answer the same questions the
same way and only the heavy lifting (the closure) is store-specific.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from operator import itemgetter
from typing import Any, Final, Literal, NamedTuple, Protocol, overload, runtime_checkable

import orjson

from tracegraph.errors import BadInput
from tracegraph.model import (
    ENDPOINTS,
    EXPOSURE_SET,
    GENEALOGY,
    MAX_HOPS,
    Direction,
    Edge,
    EntityType,
    Node,
    RelType,
    iso,
)


@dataclass(frozen=True)
class Version:
    """An earlier state of a node or edge, kept when a write changed it."""

    audit_seq: int
    recorded_at: dt.datetime
    props: dict[str, Any]


@dataclass(frozen=True)
class RecordVersions:
    """Every kept version of one node or edge, oldest first; the last is the current one."""

    ident: str
    created_at: dt.datetime
    versions: tuple[Version, ...]

    def at(self, as_of: dt.datetime) -> RecordVersions | None:
        """The versions recorded at or before ``as_of`` (the last is the one in force then);
        None if the record did not exist yet."""
        if self.created_at > as_of:
            return None
        kept = tuple(v for v in self.versions if v.recorded_at <= as_of)
        return RecordVersions(self.ident, self.created_at, kept or self.versions[:1])


def as_utc(moment: dt.datetime) -> dt.datetime:
    """An as-of time in UTC; a naive one is read as UTC, like every time in the model."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class StoredNode:
    type: EntityType
    id: str
    props: dict[str, Any]
    created_at: dt.datetime
    recorded_at: dt.datetime
    audit_seq: int
    history: tuple[Version, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.type}:{self.id}"

    def record_versions(self) -> RecordVersions:
        current = Version(self.audit_seq, self.recorded_at, self.props)
        return RecordVersions(self.key, self.created_at, (*self.history, current))

    def at(self, as_of: dt.datetime) -> StoredNode | None:
        """This node as it was at ``as_of``; None if it did not exist yet."""
        then = self.record_versions().at(as_of)
        if then is None:
            return None
        now = then.versions[-1]
        return StoredNode(
            type=self.type,
            id=self.id,
            props=dict(now.props),
            created_at=self.created_at,
            recorded_at=now.recorded_at,
            audit_seq=now.audit_seq,
            history=then.versions[:-1],
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "type": str(self.type),
            "id": self.id,
            **{k: iso(v) for k, v in sorted(self.props.items())},
        }


@dataclass(frozen=True)
class StoredEdge:
    type: RelType
    src: str
    dst: str
    props: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "type": str(self.type),
            "from": self.src,
            "to": self.dst,
            **{k: iso(v) for k, v in sorted(self.props.items())},
        }


#: Relationship types by name: a dict lookup, several times cheaper than ``RelType(name)`` for
#: the hundreds of thousands of edges a large read answers.
REL_TYPE_BY_NAME: Mapping[str, RelType] = {str(t): t for t in RelType}


class Link(NamedTuple):
    """An edge without its properties: what `GraphStore.edges` answers with ``props=False``."""

    type: RelType
    src: str
    dst: str


@dataclass(frozen=True)
class BatchExposure:
    """The batches a set of seeds make and what those batches make, as numbers: what
    `CountsExposure.batch_exposure` answers (common cause sums it per seed).

    The batches are numbered 0..n-1 in no particular order. Of the devices a batch reaches
    over the OUTPUT edges (those it produced, and the devices they are installed in), those
    with no other way in than one PRODUCED edge are counted per batch (no other batch reaches
    them, so these never overlap); the others are grouped by the set of batches that reach
    them (a monitor, with the batch of the module installed in it)."""

    #: Per seed in the store: the numbers of the batches it makes (itself, if a batch, and
    #: those its closure over the MAKING edges reaches).
    batches: Mapping[str, Sequence[int]]
    #: Per batch number: how many of its devices no other batch reaches.
    sole: Sequence[int]
    #: The other devices, per group: the batch numbers that reach them, and how many they are.
    groups: Sequence[tuple[Sequence[int], int]]
    #: Asked for with ``installed=True``: the same two, of the devices installed in another
    #: device only (each with an INSTALLED_IN edge out): a unit is any other device.
    sole_installed: Sequence[int] = ()
    installed_groups: Sequence[tuple[Sequence[int], int]] = ()


@dataclass(frozen=True)
class WriteRequest:
    """Who writes, and why: becomes the audit entry of the write."""

    actor: str
    operation: str
    source: str | None = None
    reason: str | None = None


@dataclass
class WriteSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    audit_seq: int | None = None
    #: the plan the write carried out (None for a summary made otherwise)
    plan: WritePlan | None = field(default=None, repr=False, compare=False)
    #: the write filled an empty store (`LoadsEmpty`): every record in it is one it created
    all_new: bool = field(default=False, repr=False, compare=False)

    def changed_keys(self) -> set[str]:
        """The keys of the nodes the write created or changed, and of both ends of each edge
        it created or changed: what a finding must name to be one the write brought. (For a
        write that filled an empty store: see ``all_new``.)"""
        if self.plan is None:
            return set()
        p = self.plan
        keys = {n.key for n in p.node_creates}
        keys.update(n.key for n, _, _ in p.node_updates)
        for e in (*p.edge_creates, *(e for e, _, _ in p.edge_updates)):
            keys.add(e.src)
            keys.add(e.dst)
        return keys

    def as_json(self) -> dict[str, int | None]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "audit_seq": self.audit_seq,
        }


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: dt.datetime
    actor: str
    operation: str
    source: str | None
    reason: str | None
    created: int
    updated: int
    unchanged: int
    changes_sha256: str
    prev_hash: str
    hash: str
    #: Properties a stored entry holds beyond these fields. Only an entry edited after it was
    #: written has any; they are hashed with the rest, so such an edit breaks the entry's hash.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> AuditEntry:
        """An entry as a store read it back. A field that is missing reads as None and a
        property no entry has goes to ``extra``: an entry edited in place, even by adding or
        removing a property, still loads, and `audit verify` names it."""
        names = {f.name for f in fields(cls)} - {"extra"}
        known: dict[str, Any] = {n: data.get(n) for n in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def body(self) -> dict[str, Any]:
        """The fields the hash covers (everything but the hash itself)."""
        return {
            **self.extra,
            "seq": self.seq,
            "at": iso(self.at),
            "actor": self.actor,
            "operation": self.operation,
            "source": self.source,
            "reason": self.reason,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "changes_sha256": self.changes_sha256,
            "prev_hash": self.prev_hash,
        }

    def as_json(self) -> dict[str, Any]:
        return {**self.body(), "hash": self.hash}


GENESIS = "0" * 64


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=iso)


def entry_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


def seal(
    request: WriteRequest,
    summary: WriteSummary,
    changes: Sequence[Change],
    *,
    seq: int,
    at: dt.datetime,
    prev_hash: str,
) -> AuditEntry:
    """Make the next audit entry of the chain for one write.

    ``changes`` are (identity, op, before, after) for every created or updated record; the entry
    carries their digest, and the versions themselves are kept on the records.
    """
    return seal_digest(
        request, summary, changes_digest(changes), seq=seq, at=at, prev_hash=prev_hash
    )


def seal_digest(
    request: WriteRequest,
    summary: WriteSummary,
    digest: str,
    *,
    seq: int,
    at: dt.datetime,
    prev_hash: str,
) -> AuditEntry:
    """`seal`, given the digest of the changes (`digest_rows`) made already."""
    draft = AuditEntry(
        seq=seq,
        at=at,
        actor=request.actor,
        operation=request.operation,
        source=request.source,
        reason=request.reason,
        created=summary.created,
        updated=summary.updated,
        unchanged=summary.unchanged,
        changes_sha256=digest,
        prev_hash=prev_hash,
        hash="",
    )
    return AuditEntry(**{**draft.__dict__, "hash": entry_hash(draft.body())})


def change_row(
    ident: str, op: str, before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> bytes:
    """One change as the audit digest encodes it."""
    return canonical([ident, op, None if before is None else dict(before), dict(after)])


def digest_rows(rows: Iterable[tuple[str, bytes]]) -> str:
    """The digest of one write's changes, given as (identity, `change_row`) pairs.

    Byte for byte the canonical JSON array of the changes sorted by identity, so `audit verify`
    can rebuild it from the versions kept on the records, one record at a time.
    """
    ordered = sorted(rows, key=lambda r: r[0])
    return hashlib.sha256(b"[" + b",".join(row for _, row in ordered) + b"]").hexdigest()


#: Changes encoded per call of `changes_digest`: one call per change costs ~1 µs each in
#: calls, one call for millions holds a copy of the whole write as JSON at once.
_DIGEST_CHUNK = 10_000


def changes_digest(changes: Iterable[Change]) -> str:
    """`digest_rows` of ``changes``, encoded a chunk of changes per call.

    Compact JSON of a list is ``[`` + its items' JSON joined by ``,`` + ``]``, so hashing the
    chunks' items with the brackets in between gives the bytes of the whole array. A change is
    a tuple (identity, op, before, after), which orjson writes as that array: a chunk goes to
    it as it is, and is copied row by row only if a before or after is a mapping other than a
    dict (orjson takes no other; it refuses the chunk). A write of millions spent more on
    copying the rows than on encoding them.
    """
    ordered = sorted(changes, key=itemgetter(0))
    h = hashlib.sha256(b"[")
    for start in range(0, len(ordered), _DIGEST_CHUNK):
        chunk = ordered[start : start + _DIGEST_CHUNK]
        try:
            encoded = canonical(chunk)
        except orjson.JSONEncodeError:
            encoded = canonical(
                [[i, op, None if b is None else _plain(b), _plain(a)] for i, op, b, a in chunk]
            )
        if start:
            h.update(b",")
        h.update(encoded[1:-1])
    h.update(b"]")
    return h.hexdigest()


def _plain(props: Mapping[str, Any]) -> dict[str, Any]:
    """A dict orjson encodes (it takes no other mapping), without copying one that is."""
    return props if type(props) is dict else dict(props)


def merged(before: Mapping[str, Any] | None, incoming: Mapping[str, Any]) -> dict[str, Any]:
    """Fields given overwrite, fields left out are kept: an import never loses data."""
    return {**(before or {}), **incoming}


def edge_ident(edge: Edge | StoredEdge) -> str:
    return f"{edge.type}:{edge.src}->{edge.dst}"


def split_edge_ident(text: str) -> tuple[RelType, str, str] | None:
    """(type, from, to) of an edge identity ``TYPE:from->to``; None for anything that does not
    start with a relationship type (a node key). Ids may hold "->": the first split whose two
    ends are keys this type may join wins."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in RelType.__members__:
        return None
    rtype = RelType(kind)
    cut = rest.find("->")
    while cut >= 0:
        src, dst = rest[:cut], rest[cut + 2 :]
        ends = tuple(k.partition(":")[0] for k in (src, dst))
        if all(k.partition(":")[2] for k in (src, dst)) and ends in {
            (str(a), str(b)) for a, b in ENDPOINTS[rtype]
        }:
            return rtype, src, dst
        cut = rest.find("->", cut + 1)
    raise BadInput(
        f"{text!r}: not an edge identity; write TYPE:from->to, "
        f"e.g. SUPPLIED:Supplier:S-7->MaterialLot:L-42"
    )


Change = tuple[str, str, Mapping[str, Any] | None, Mapping[str, Any]]


@dataclass
class WritePlan:
    """What one import does to the store, worked out from what the store holds now."""

    node_creates: list[Node] = field(default_factory=list)
    #: (node, props before, props after)
    node_updates: list[tuple[Node, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    edge_creates: list[Edge] = field(default_factory=list)
    edge_updates: list[tuple[Edge, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    unchanged: int = 0
    changes: list[Change] = field(default_factory=list)

    def summary(self) -> WriteSummary:
        return WriteSummary(
            created=len(self.node_creates) + len(self.edge_creates),
            updated=len(self.node_updates) + len(self.edge_updates),
            unchanged=self.unchanged,
            plan=self,
        )


@dataclass(frozen=True)
class NewProduction:
    """The devices a write of new production created (`new_production`), and those of them
    it installed in another device."""

    devices: tuple[str, ...]
    installed: tuple[str, ...]


def new_production(plan: WritePlan) -> NewProduction | None:
    """A write whose new `EXPOSURE` edges all end at nodes it creates, none of them an
    `INSTALLED_IN` edge out of a stored device: it reaches no stored device anew and makes
    none an installed one, so each exposure counted before it gains exactly the new devices
    it now reaches (what `KeepsExposures` and `FollowsExposures` stores grow). None for any
    other write that creates an `EXPOSURE` edge."""
    created = {n.key for n in plan.node_creates}
    installed: set[str] = set()
    for e in plan.edge_creates:
        if e.type not in EXPOSURE_SET:
            continue
        if e.dst not in created:
            return None
        if e.type is RelType.INSTALLED_IN:
            if e.src not in created:
                return None
            installed.add(e.src)
    devices = sorted(k for k in created if k.startswith(f"{EntityType.Device}:"))
    return NewProduction(tuple(devices), tuple(sorted(installed)))


def plan_write(
    nodes: Sequence[Node],
    edges: Sequence[Edge],
    node_props: Mapping[str, Mapping[str, Any]],
    edge_props: Mapping[tuple[str, str, str], Mapping[str, Any]],
) -> WritePlan:
    """Sort each record into create / update / unchanged, given the props stored now."""
    plan = WritePlan()
    for node in nodes:
        before = node_props.get(node.key)
        if before is None:
            plan.node_creates.append(node)
            plan.changes.append((node.key, "create", None, node.props))
            continue
        after = merged(before, node.props)
        if after == before:
            plan.unchanged += 1
            continue
        plan.node_updates.append((node, dict(before), after))
        plan.changes.append((node.key, "update", before, after))
    for edge in edges:
        current = edge_props.get(edge.ident)
        if current is None:
            plan.edge_creates.append(edge)
            plan.changes.append((edge_ident(edge), "create", None, edge.props))
            continue
        after = merged(current, edge.props)
        if after == current:
            plan.unchanged += 1
            continue
        plan.edge_updates.append((edge, dict(current), after))
        plan.changes.append((edge_ident(edge), "update", current, after))
    return plan


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as the store keeps it: never the key itself, only its SHA-256."""

    id: str
    name: str
    role: str
    sha256: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def as_json(self) -> dict[str, Any]:
        """What `keys list` shows: everything but the hash."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created_at": iso(self.created_at),
            "revoked": self.revoked,
            "revoked_at": iso(self.revoked_at) if self.revoked_at else None,
        }


@runtime_checkable
class KeyRing(Protocol):
    """Where a store keeps API keys, so that `tracegraph keys` and `tracegraph serve` share them.
    Keys are not part of the graph's history: an as-of view hands out its store's ring."""

    def add(self, key: ApiKeyRecord) -> None:
        """Keep a new API key; `StoreError` if its id is taken."""
        ...

    def all(self) -> list[ApiKeyRecord]:
        """Every API key, revoked ones included, oldest first."""
        ...

    def revoke(self, key_id: str, at: dt.datetime) -> ApiKeyRecord | None:
        """Mark a key revoked (a revoked key stays revoked, with its first time); None if no
        key has this id."""
        ...


@dataclass(frozen=True)
class OutboundEvent:
    """One entry of a store's outbound event log: what hooks are sent and pollers read."""

    seq: int
    kind: str
    at: dt.datetime
    #: the event's own fields (``audit_seq``, and those of its kind)
    data: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The event as it is POSTed to a hook and streamed by ``/v1/findings``."""
        return {"seq": self.seq, "kind": self.kind, "at": iso(self.at), **self.data}


@dataclass(frozen=True)
class HookRecord:
    """A hook as the store keeps it, with its delivery state. The secret is kept as it is
    (signing needs it); `as_json` never shows it."""

    id: str
    url: str
    #: the kinds of event it is sent
    events: tuple[str, ...]
    secret: str
    created_at: dt.datetime
    #: the last event it acknowledged; a new hook starts at the log's head
    acked_seq: int = 0
    #: failed attempts at the next event since the last acknowledgement
    failures: int = 0
    #: when the next attempt is due (None: at once)
    next_attempt_at: dt.datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "created_at": iso(self.created_at),
            "acked_seq": self.acked_seq,
            "failures": self.failures,
            "next_attempt_at": iso(self.next_attempt_at) if self.next_attempt_at else None,
        }


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST of one event to one hook, as the delivery log keeps it."""

    hook: str
    seq: int
    #: 1 for the first try of this event, 2 for the first retry, ...
    attempt: int
    at: dt.datetime
    #: the HTTP status answered (None: no answer)
    status: int | None
    #: why it failed (None: acknowledged with a 2xx)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "seq": self.seq,
            "attempt": self.attempt,
            "at": iso(self.at),
            "status": self.status,
            "ok": self.ok,
            "error": self.error,
        }


@runtime_checkable
class Outbox(Protocol):
    """Where a store keeps outbound events (one append-only log, ``seq`` rising), the hooks
    they go to and each hook's delivery state and log (docs/hooks.md). Like the API keys, not
    part of the graph's history: an as-of view reads its store's and refuses writes."""

    def append(
        self, events: Sequence[tuple[str, Mapping[str, Any]]], at: dt.datetime
    ) -> list[OutboundEvent]:
        """Append (kind, data) events in one transaction; they get the next seqs, in order."""
        ...

    def events(
        self, since: int = 0, kinds: Iterable[str] | None = None, limit: int = 1000
    ) -> list[OutboundEvent]:
        """The first ``limit`` events after ``since`` (of these kinds; None: every kind), in
        seq order."""
        ...

    def last_seq(self) -> int:
        """The seq of the newest event (0: none yet)."""
        ...

    def add_hook(self, hook: HookRecord) -> HookRecord:
        """Keep a new hook, acknowledged up to the log's head (it is sent what comes after);
        `StoreError` if its id is taken."""
        ...

    def hooks(self) -> list[HookRecord]:
        """Every hook, oldest first."""
        ...

    def remove_hook(self, hook_id: str) -> HookRecord | None:
        """Forget a hook, its state and its delivery log; None if no hook has this id."""
        ...

    def claim(self, hook_id: str, owner: str, until: dt.datetime, now: dt.datetime) -> bool:
        """Lease the hook's deliveries to ``owner`` until ``until``, if no other owner holds an
        unexpired lease (`now`): one deliverer per hook at a time, so its events stay in
        order. The owner renews its lease the same way; ``until=now`` gives it up."""
        ...

    def record_attempt(self, attempt: DeliveryAttempt, next_attempt_at: dt.datetime | None) -> None:
        """Log one attempt and, in the same transaction, the hook's state: acknowledged up to
        its seq (and no failures) when it succeeded, else ``attempt.attempt`` failures and
        the next attempt due at ``next_attempt_at``. A removed hook's attempt is dropped."""
        ...

    def attempts(self, hook_id: str | None = None, limit: int = 100) -> list[DeliveryAttempt]:
        """The newest ``limit`` attempts (of one hook, or of all), oldest first."""
        ...


@dataclass(frozen=True)
class CaseRecord:
    """A recall case as the store keeps it (docs/cases.md). ``scope`` is the recall answer's
    JSON frozen at opening; a listing leaves it out (None)."""

    id: str
    title: str
    level: str
    reason: str | None
    suspects: tuple[str, ...]
    window: Mapping[str, Any]
    #: the moment the scope was frozen
    as_of: dt.datetime
    status: str
    opened_at: dt.datetime
    opened_by: str
    closed_at: dt.datetime | None = None
    closed_by: str | None = None
    #: the audit entry that opened it
    audit_seq: int | None = None
    scope: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def fields_json(self) -> dict[str, Any]:
        """Everything but the id and the scope: what a store keeps as the case's data."""
        return {
            "title": self.title,
            "level": self.level,
            "reason": self.reason,
            "suspects": list(self.suspects),
            "window": dict(self.window),
            "as_of": iso(self.as_of),
            "status": self.status,
            "opened_at": iso(self.opened_at),
            "opened_by": self.opened_by,
            "closed_at": iso(self.closed_at) if self.closed_at else None,
            "closed_by": self.closed_by,
            "audit_seq": self.audit_seq,
        }

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.fields_json()}

    @classmethod
    def from_json(
        cls, case_id: str, data: Mapping[str, Any], scope: Mapping[str, Any] | None = None
    ) -> CaseRecord:
        closed = data.get("closed_at")
        return cls(
            id=case_id,
            title=data["title"],
            level=data["level"],
            reason=data.get("reason"),
            suspects=tuple(data["suspects"]),
            window=dict(data.get("window") or {}),
            as_of=as_utc(dt.datetime.fromisoformat(data["as_of"])),
            status=data["status"],
            opened_at=as_utc(dt.datetime.fromisoformat(data["opened_at"])),
            opened_by=data["opened_by"],
            closed_at=as_utc(dt.datetime.fromisoformat(closed)) if closed else None,
            closed_by=data.get("closed_by"),
            audit_seq=data.get("audit_seq"),
            scope=scope,
        )


@dataclass(frozen=True)
class CaseAction:
    """One entry of a case's action log: a consignee notified, or its response."""

    case: str
    #: ``notify`` or ``respond``
    kind: str
    #: the consignee's key (``Customer:…``)
    customer: str
    #: when it happened (as the user says)
    at: dt.datetime
    recorded_at: dt.datetime
    recorded_by: str
    #: the kind's own fields: ``via`` (notify); ``returned``, ``corrected``, ``note`` (respond)
    data: Mapping[str, Any] = field(default_factory=dict)
    #: its number in the case's log (1, 2, ...) and its audit entry, given by the store
    n: int = 0
    audit_seq: int | None = None

    def fields_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "customer": self.customer,
            "at": iso(self.at),
            "recorded_at": iso(self.recorded_at),
            "recorded_by": self.recorded_by,
            "audit_seq": self.audit_seq,
            **dict(self.data),
        }

    def as_json(self) -> dict[str, Any]:
        return {"case": self.case, "n": self.n, **self.fields_json()}

    @classmethod
    def from_json(cls, case_id: str, n: int, data: Mapping[str, Any]) -> CaseAction:
        own = {"kind", "customer", "at", "recorded_at", "recorded_by", "audit_seq"}
        return cls(
            case=case_id,
            kind=data["kind"],
            customer=data["customer"],
            at=as_utc(dt.datetime.fromisoformat(data["at"])),
            recorded_at=as_utc(dt.datetime.fromisoformat(data["recorded_at"])),
            recorded_by=data["recorded_by"],
            data={k: v for k, v in data.items() if k not in own},
            n=n,
            audit_seq=data.get("audit_seq"),
        )


def case_id(year: int, n: int) -> str:
    """The id of the ``n``th case opened in ``year``: RC-2026-0001."""
    return f"RC-{year}-{n:04d}"


def case_entry(
    request: WriteRequest, *, source: str, seq: int, at: dt.datetime, prev_hash: str
) -> AuditEntry:
    """The audit entry of one case command: it changes no record of the graph (its digest is
    that of no changes), and its ``source`` names the case."""
    named = WriteRequest(request.actor, request.operation, source, request.reason)
    return seal(named, WriteSummary(), [], seq=seq, at=at, prev_hash=prev_hash)


@runtime_checkable
class CaseBook(Protocol):
    """Where a store keeps recall cases and their action logs (docs/cases.md). Every write is
    one transaction that also appends the command's audit entry (`case_entry`), so the case
    and its entry are kept together or not at all. Not part of the graph's history: an as-of
    view reads its store's and refuses writes."""

    def open(self, case: CaseRecord, request: WriteRequest) -> CaseRecord:
        """Keep a new case (its ``id`` and ``audit_seq`` are ignored): the store gives it the
        next id of its opening year and its audit entry's seq, and answers it as kept."""
        ...

    def cases(self) -> list[CaseRecord]:
        """Every case, oldest first, without its scope."""
        ...

    def get(self, case_id: str) -> CaseRecord | None:
        """One case with its frozen scope; None if no case has this id."""
        ...

    def record(self, action: CaseAction, request: WriteRequest) -> CaseAction:
        """Append one action to its case's log (``n`` and ``audit_seq`` are given here);
        `NotFound` if the case is not there."""
        ...

    def close(self, case_id: str, at: dt.datetime, by: str, request: WriteRequest) -> CaseRecord:
        """Mark the case closed; `NotFound` if it is not there."""
        ...

    def actions(self, case_id: str) -> list[CaseAction]:
        """The case's action log, in the order it was recorded."""
        ...


@runtime_checkable
class GraphStore(Protocol):
    """What every store offers. Keys are ``Type:id`` strings throughout.

    Reads come down to two primitives, `edges` (one hop, or the edges among a set) and `reach`
    (closures, whole or per seed, as keys or counts); the analyses are written once over them.
    """

    kind: str
    #: The store's API keys.
    keyring: KeyRing
    #: The store's outbound events, hooks and their delivery state.
    outbox: Outbox
    #: The store's recall cases and their action logs.
    cases: CaseBook

    def describe(self) -> dict[str, str]:
        """Kind, location and version, for logs and `/readyz`."""
        ...

    def close(self) -> None: ...

    def write(
        self, nodes: Sequence[Node], edges: Sequence[Edge], request: WriteRequest
    ) -> WriteSummary:
        """Apply one import atomically: all of it or none of it, one audit entry."""
        ...

    def existing(self, keys: Iterable[str]) -> set[str]:
        """Which of these keys name a node in the store."""
        ...

    def nodes(self, keys: Iterable[str]) -> dict[str, StoredNode]:
        """The nodes with these keys (missing keys are left out)."""
        ...

    def keys_of_type(self, type_: EntityType) -> list[str]:
        """Every key of one type, sorted."""
        ...

    @overload
    def edges(
        self,
        keys: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction | None,
        *,
        props: Literal[True] = ...,
    ) -> list[StoredEdge]: ...

    @overload
    def edges(
        self,
        keys: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction | None,
        *,
        props: Literal[False],
    ) -> list[Link]: ...

    def edges(
        self,
        keys: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction | None,
        *,
        props: bool = True,
    ) -> list[StoredEdge] | list[Link]:
        """Edges of these types leaving (``down``) or entering (``up``) these nodes, or with
        both ends among them (``None``). With properties: `StoredEdge`s sorted by (from, type,
        to). Without: `Link`s in no particular order, for walks that need the graph's shape,
        not what its edges carry (a recall reads every edge in its scope)."""
        ...

    @overload
    def reach(
        self,
        seeds: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        *,
        depth: int | None = ...,
        target: EntityType | None = ...,
        each: Literal[False] = ...,
        count: Literal[False] = ...,
    ) -> set[str]: ...

    @overload
    def reach(
        self,
        seeds: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        *,
        depth: int | None = ...,
        target: EntityType | None = ...,
        each: Literal[True],
        count: Literal[False] = ...,
    ) -> dict[str, set[str]]: ...

    @overload
    def reach(
        self,
        seeds: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        *,
        depth: int | None = ...,
        target: EntityType | None = ...,
        each: Literal[True],
        count: Literal[True],
    ) -> dict[str, int]: ...

    def reach(
        self,
        seeds: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        *,
        depth: int | None = None,
        target: EntityType | None = None,
        each: bool = False,
        count: bool = False,
    ) -> set[str] | dict[str, set[str]] | dict[str, int]:
        """The distinct nodes reachable from the seeds over ``rel_types`` in 1..depth hops
        (None: `MAX_HOPS`). A seed is in the answer only if a walk comes back to it.

        - ``target``: only the reached nodes of that type are answered (the walk still passes
          through the others);
        - ``each``: one closure per seed, ``{seed: keys}``; seeds not in the store are left out;
        - ``count`` (with ``each``): how many nodes each closure holds, not their keys.
        """
        ...

    def audit_entries(self) -> list[AuditEntry]:
        """The whole audit chain, oldest first."""
        ...

    def at(self, as_of: dt.datetime) -> GraphStore:
        """A read-only view of the store as it was at ``as_of``: only what was recorded at or
        before that time, each record in the version it had then."""
        ...

    def versions(self, idents: Iterable[str] | None = None) -> Iterator[RecordVersions]:
        """Every kept version of these records (node keys, or edge identities
        ``TYPE:from->to``), oldest first; unknown ones are left out. None: of every record in
        the store, in no particular order (what `audit verify` checks the chain against)."""
        ...

    def ping(self) -> None:
        """Raise `StoreUnavailable` at once if the store cannot be reached (no retries)."""
        ...


@runtime_checkable
class CountsExposure(Protocol):
    """An optional capability: a store that answers common cause's walks where the graph is,
    with numbers on the wire (Neo4j: a million device keys, or the ~760k batches of 33k
    candidates, need not cross it as text). Common cause uses it when the store has it and
    `GraphStore.keys_of_type` and `GraphStore.reach` otherwise."""

    def device_count(self) -> int:
        """How many devices the store holds: ``len(keys_of_type(Device))``."""
        ...

    def upstream_each(
        self, seeds: Iterable[str], types: Collection[EntityType]
    ) -> tuple[Sequence[str], Mapping[str, Sequence[int]]]:
        """Each seed's upstream closure over the genealogy, of the nodes of these types only:
        their keys, and per seed in the store the places of its own in that list. The same
        sets as ``reach(seeds, GENEALOGY, Direction.up, each=True)`` cut to the types, with
        each key once, not once per seed above it."""
        ...

    def batch_exposure(self, seeds: Iterable[str], installed: bool = False) -> BatchExposure:
        """The batches each seed makes and what they make (`BatchExposure`): the same sets as
        ``reach(seeds, MAKING, Direction.down, target=Batch, each=True)`` (with a batch seed
        itself) and ``reach(batches, OUTPUT, Direction.down, each=True)``, less the keys of
        the devices, which are only counted; with ``installed``, those installed in another
        device counted apart as well. Seeds not in the store are left out."""
        ...

    def installed_count(self) -> int:
        """How many devices are installed in another (an INSTALLED_IN edge out): the
        devices less the units (`commoncause.units_of`)."""
        ...


def plain_fields(node: StoredNode) -> dict[str, Any]:
    """A record as the answers list it: ``id``, ``key``, then its fields by name, instants
    as ISO 8601 in UTC with a Z (`iso`)."""
    return {"id": node.id, "key": node.key, **{k: iso(v) for k, v in sorted(node.props.items())}}


@dataclass(frozen=True)
class Links:
    """Edges held by position: ``names`` in sorted order, so that comparing two positions is
    comparing their keys, and each edge's type and ends in three lists of the same length.

    A recall walks a million of them at size L: sorting the keys, ranking them and turning
    every end into its rank again on the way cost more than the walk (`reasons`); a store
    that reads its keys in order hands the ranks over as it reads them. A position may name
    no edge at all (a key asked for that is not stored).
    """

    names: Sequence[str]
    types: Sequence[RelType]
    src: Sequence[int]
    dst: Sequence[int]

    @classmethod
    def of(cls, edges: Iterable[tuple[RelType, str, str]], keys: Iterable[str] = ()) -> Links:
        """From (type, source, destination) tuples of keys; ``keys`` named even if no edge
        touches them."""
        listed = list(edges)
        names = sorted({k for _, src, dst in listed for k in (src, dst)}.union(keys))
        rank = {k: i for i, k in enumerate(names)}.__getitem__
        return cls(
            names,
            [t for t, _, _ in listed],
            list(map(rank, (src for _, src, _ in listed))),
            list(map(rank, (dst for _, _, dst in listed))),
        )

    def __len__(self) -> int:
        return len(self.src)

    def __iter__(self) -> Iterator[tuple[RelType, str, str]]:
        """Each edge as (type, source, destination) keys."""
        names = self.names
        for t, src, dst in zip(self.types, self.src, self.dst, strict=True):
            yield t, names[src], names[dst]

    def pairs(self, rtype: RelType) -> Iterator[tuple[int, int]]:
        """The (source, destination) positions of the edges of one type."""
        for t, src, dst in zip(self.types, self.src, self.dst, strict=True):
            if t is rtype:
                yield src, dst

    def smallest(self, rtype: RelType) -> dict[str, str]:
        """`smallest_neighbour` of the edges of one type leaving their sources, by position."""
        out: dict[int, int] = {}
        for src, dst in self.pairs(rtype):
            if out.get(src, dst) >= dst:
                out[src] = dst
        names = self.names
        return {names[a]: names[b] for a, b in out.items()}


@dataclass(frozen=True)
class Scope:
    """What a recall answer needs of the nodes of its closure (`read_scope`)."""

    #: Each node's `plain_fields`.
    fields: dict[str, dict[str, Any]]
    #: The genealogy edges leaving the nodes (of a closure downstream: the edges among it);
    #: its names hold every key of ``fields``.
    links: Links
    #: Each device's batch: the smallest key of a batch that PRODUCED it.
    device_batch: dict[str, str]


@runtime_checkable
class ReadsScope(Protocol):
    """An optional capability: a store that reads a `Scope` in one pass over the keys, with
    the fields straight from how it keeps them (times already text), not as `StoredNode`
    values. Recall uses it when the store has it and `read_scope`'s three reads otherwise."""

    def scope(self, keys: Iterable[str]) -> Scope:
        """What `read_scope` answers, for the current state of the store."""
        ...


@runtime_checkable
class ReadsFields(Protocol):
    """An optional capability: a live store that reads a few fields of many nodes without the
    rest of each record (its other fields, its history). The dashboard's certificate panel
    asks for the receipt time of every lot (336k at 1M devices)."""

    def fields(self, keys: Iterable[str], names: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """Per key of a node in the store, the values of ``names`` in order, as `nodes` gives
        them (None where the node has no such field)."""
        ...


@runtime_checkable
class StampsExposure(Protocol):
    """An optional capability: a live store that tells, in one cheap read, whether a write
    since may have changed a common-cause exposure (`EXPOSURE`). Common cause keeps the
    exposures it counted under this stamp (`ExposureMemo`); a store without it is stamped
    by its audit head, which every write moves."""

    def exposure_stamp(self) -> str:
        """A value that changes with every write that creates an `EXPOSURE` edge. It may
        change more often (exposures are then counted again), never less."""
        ...


def live_store(store: object) -> ReadsAuditHead | None:
    """The live store whose graph ``store`` reads, for what is kept per state of a store:
    itself if live; its store if a view as of a time after that store's last write (it sees
    the same graph: an HTTP answer's later pages are read from one, at the first page's
    time); None for an older view, or a store that cannot read its audit head alone."""
    if not isinstance(store, ReadsAuditHead):
        return None
    if getattr(store, "as_of", None) is None:
        return store
    live = getattr(store, "store", None)
    if getattr(live, "as_of", None) is not None or not isinstance(live, ReadsAuditHead):
        return None
    return live if store.audit_head() == live.audit_head() else None


#: How common cause stamps what it counted on a store with `StampsExposure`: this, then the
#: store's `exposure_stamp` (a store without it is stamped ``head:`` and its audit head). A
#: store that keeps exposures may grow those kept under such a stamp in a write that adds
#: to them and restamp them with the stamp the write moves to (`KeepsExposures`).
EXPOSURE_STAMPED: Final = "exposure:"


@runtime_checkable
class KeepsExposures(Protocol):
    """An optional capability: a store that keeps the exposures common cause counted, under
    their stamp (`StampsExposure`), for the next process that opens it: each
    `tracegraph common-cause` command is one, and counting them is the dear part. A cache:
    keeping may be skipped (the store busy with a write, a read-only file), never waited
    for, and what is kept under another stamp is never read. A write may keep them true
    instead of letting them go: the new stamp then holds each kept exposure as a count
    under it would give (`EXPOSURE_STAMPED`)."""

    def kept_exposures(self, stamp: str, keys: Sequence[str]) -> dict[str, tuple[int, int | None]]:
        """Of those of ``keys`` that are kept under ``stamp``: each one's exposure, and how
        many of those devices are installed in another (None where that was not counted)."""
        ...

    def keep_exposures(self, stamp: str, counted: Mapping[str, tuple[int, int | None]]) -> None:
        """Keep ``counted`` (as `kept_exposures` gives them; None keeps what is kept) under
        ``stamp``, dropping what was kept under another, if the store can be written at
        once."""
        ...

    def forget_exposures(self) -> None:
        """Drop every kept exposure."""
        ...


@dataclass(frozen=True)
class ExposureGrowth:
    """What writes of new devices added to the exposures common cause counts
    (`FollowsExposures`): per node that now reaches some of them, how many, and how many of
    those are installed in another device; and how many of them are installed in another in
    all (`CountsExposure.installed_count` grew by that)."""

    gained: Mapping[str, tuple[int, int]]
    installed: int


@runtime_checkable
class FollowsExposures(Protocol):
    """An optional capability: a store object that can say what the writes it made itself
    added to the exposures, so that common cause, which remembers them per stamp
    (`StampsExposure`), grows what it counted instead of counting again: a server on Neo4j
    that imports a day's production through its own API. Only writes whose new exposure
    edges all end at nodes they create can be followed (they reach no stored device anew);
    any other write, or one by another process, breaks the chain."""

    def exposure_growth(self, since: str, to: str) -> ExposureGrowth | None:
        """From exposure stamp ``since`` to ``to``, if every write between them that moved the
        stamp was this object's and could be followed: what they added; else None."""
        ...


@runtime_checkable
class ReadsAuditHead(Protocol):
    """An optional capability: a store that reads the hash of its last audit entry alone.
    The dashboard's quality panel asks for it on every request (`PanelCache`); without it,
    the whole chain is read for its last entry — every write appends one."""

    def audit_head(self) -> str:
        """The hash of the last audit entry (as of the store's time), or `GENESIS`."""
        ...


#: One batch of records for `LoadsEmpty.load_empty`: node rows ``(key, props, change)`` and
#: edge rows ``(type, from, to, props, change)``, where ``props`` is the record's fields as
#: `canonical` JSON (keys sorted, as the audit digest writes them) and ``change`` the
#: `change_row` of its creation, as text — or None where the record's identity (its key, or
#: `edge_ident`) needs no escape in JSON: the store makes the row from the identity and
#: ``props`` (``["<identity>","create",null,<props>]``), so the fields are not held twice.
StagedBatch = tuple[list[tuple[str, str, str | None]], list[tuple[str, str, str, str, str | None]]]


class StagingArea(ABC):
    """Records of a first load held aside by one process (`LoadsEmpty.stage`): batches go
    in as they are checked, in the process that checks them (a forked child included)."""

    @abstractmethod
    def add(self, batch: StagedBatch) -> None:
        """Hold these records."""

    @abstractmethod
    def finish(self) -> None:
        """Every batch is in: make them ready for `LoadsEmpty.load_empty`."""

    @abstractmethod
    def discard(self) -> None:
        """Throw the records away (after the load, or instead of it)."""


@runtime_checkable
class LoadsEmpty(Protocol):
    """An optional capability: a store that takes the first import into an empty store as
    batches of rows checked and encoded already (`tracegraph.bulkload`), staged by one or
    more processes, without a `Node` or `Edge` per record. Every other import goes through
    `GraphStore.write`."""

    def is_empty(self) -> bool:
        """Whether the store holds no node."""
        ...

    def stage(self) -> StagingArea:
        """A new, empty staging area."""
        ...

    def staged_digest(self, stages: Sequence[StagingArea]) -> str:
        """The audit digest of the records staged (`digest_rows` of their creations), worked
        out from the stages alone: another process may run it while this one loads them."""
        ...

    def load_empty(
        self,
        stages: Sequence[StagingArea],
        request: WriteRequest,
        digest: Callable[[], str] | None = None,
    ) -> WriteSummary:
        """Write every record staged in ``stages`` (each finished) in one transaction, with
        one audit entry, as `GraphStore.write` would write them into this store empty; the
        entry's digest from ``digest`` (asked once the records are in), else `staged_digest`.
        Raises `LoadDeclined` (having written nothing) if the store is not empty by then, if
        a key or an edge is staged twice, or if an edge's end is not among the nodes: the
        caller imports the records the ordinary way, which merges or reports them."""
        ...


class LoadDeclined(Exception):
    """`LoadsEmpty.load_empty` declined the records: nothing was written."""


def smallest_neighbour(links: Iterable[tuple[RelType, str, str]], by_dst: bool) -> dict[str, str]:
    """Map each node to its one neighbour over these (type, source, destination) links (the
    smallest key if several): the source of links arriving at it (``by_dst``) or the end of
    links leaving it."""
    out: dict[str, str] = {}
    for _, src, dst in links:
        a, b = (dst, src) if by_dst else (src, dst)
        if a not in out or b < out[a]:
            out[a] = b
    return out


def read_scope(store: GraphStore, keys: Iterable[str]) -> Scope:
    """The `Scope` of these nodes, as the store holds them (as of its time)."""
    wanted: Collection[str] = keys if isinstance(keys, set | frozenset) else set(keys)
    if isinstance(store, ReadsScope):
        return store.scope(wanted)
    return scope_by_reads(store, wanted)


def scope_by_reads(store: GraphStore, wanted: Collection[str]) -> Scope:
    """`read_scope` from the protocol's own reads: nodes, and edges twice."""
    devices = [k for k in wanted if k.startswith("Device:")]
    return Scope(
        fields={k: plain_fields(n) for k, n in store.nodes(wanted).items()},
        links=Links.of(store.edges(wanted, GENEALOGY, Direction.down, props=False), wanted),
        device_batch=smallest_neighbour(
            store.edges(devices, [RelType.PRODUCED], Direction.up, props=False), by_dst=True
        ),
    )


#: Records per page when the whole store's versions are read (`audit verify`).
VERSION_PAGE = 1_000


@runtime_checkable
class PagesVersions(Protocol):
    """An optional capability: a store that reads every record's versions a page at a time,
    of a size the caller picks, so that a pass over the whole store holds one page at once.
    `every_version` uses it when the store has it and `GraphStore.versions` otherwise."""

    def versions_paged(self, page_size: int) -> Iterator[RecordVersions]:
        """What ``versions()`` answers (every record, in the store's own order), read
        ``page_size`` records (on Neo4j: nodes, with their outgoing edges) at a time."""
        ...


def every_version(store: GraphStore, page_size: int = VERSION_PAGE) -> Iterator[RecordVersions]:
    """Every record of the store with its versions, streamed a page at a time where the store
    can (`PagesVersions`); ``store.versions()`` otherwise."""
    if page_size < 1:
        raise BadInput(f"page size {page_size}: must be 1 or more")
    if isinstance(store, PagesVersions):
        return store.versions_paged(page_size)
    return store.versions()


class ReadPrimitives(ABC):
    """`GraphStore.edges` and `GraphStore.reach` as the protocol types them, written once.

    A store inherits them and answers `_edges` and `_reach`, which get every argument spelt
    out and checked: a ``depth`` of `MAX_HOPS` or more comes as None (the whole closure), and
    ``count`` only with ``each``.
    """

    @overload
    def edges(
        self,
        keys: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction | None,
        *,
        props: Literal[True] = ...,
    ) -> list[StoredEdge]: ...

    @overload
    def edges(
        self,
        keys: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction | None,
        *,
        props: Literal[False],
    ) -> list[Link]: ...

    def edges(
        self,
        keys: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction | None,
        *,
        props: bool = True,
    ) -> list[StoredEdge] | list[Link]:
        return self._edges(keys, rel_types, direction, props)

    @overload
    def reach(
        self,
        seeds: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        *,
        depth: int | None = ...,
        target: EntityType | None = ...,
        each: Literal[False] = ...,
        count: Literal[False] = ...,
    ) -> set[str]: ...

    @overload
    def reach(
        self,
        seeds: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        *,
        depth: int | None = ...,
        target: EntityType | None = ...,
        each: Literal[True],
        count: Literal[False] = ...,
    ) -> dict[str, set[str]]: ...

    @overload
    def reach(
        self,
        seeds: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        *,
        depth: int | None = ...,
        target: EntityType | None = ...,
        each: Literal[True],
        count: Literal[True],
    ) -> dict[str, int]: ...

    def reach(
        self,
        seeds: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction,
        *,
        depth: int | None = None,
        target: EntityType | None = None,
        each: bool = False,
        count: bool = False,
    ) -> set[str] | dict[str, set[str]] | dict[str, int]:
        if count and not each:
            raise BadInput("reach: count answers per seed; it needs each=True")
        if depth is not None and depth < 1:
            raise BadInput(f"depth {depth}: must be 1 or more")
        whole = depth is None or depth >= MAX_HOPS
        return self._reach(
            seeds, rel_types, direction, None if whole else depth, target, each, count
        )

    @abstractmethod
    def _edges(
        self,
        keys: Iterable[str],
        rel_types: Sequence[RelType],
        direction: Direction | None,
        props: bool,
    ) -> list[StoredEdge] | list[Link]:
        """`edges`: `StoredEdge`s sorted by `sort_edges` with ``props``, else `Link`s."""

    @abstractmethod
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
        """`reach`, with ``depth`` below `MAX_HOPS` (None: `MAX_HOPS`), and ``count`` only
        with ``each``."""


def sort_edges(edges: Iterable[StoredEdge]) -> list[StoredEdge]:
    return sorted(edges, key=lambda e: (e.src, e.type, e.dst))
