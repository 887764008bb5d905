"""The audit trail: check the hash chain against the records, and tell one record's history.

Every write appends one `AuditEntry` (who, when, why, from where, what operation, how many
records) holding the hash of the entry before it, and the digest of the changes it made. The
changes themselves are not copied into the entry: they are the versions kept on the records
(each version names the entry that wrote it). So `verify` rebuilds each entry's digest from the
stored versions, and an edit to either side shows:

- an entry edited in place (any field, or a property added or removed) no longer matches its
  own hash;
- an entry deleted leaves a gap in the sequence and a `prev_hash` that points nowhere; the last
  entry deleted leaves versions that name an entry that is not there;
- a record version edited, added or deleted no longer matches the digest of the entry that
  wrote it; one whose time or entry number was changed disagrees with that entry.

What a chain cannot show on its own is a rewrite of everything from some entry on, hashes
included. `verify` reports the hash of the newest entry (`head`): recorded elsewhere (a ticket,
a signed report) it pins the chain up to that point.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tracegraph.errors import BadInput, NotFound
from tracegraph.model import Key, iso
from tracegraph.store.base import (
    GENESIS,
    AuditEntry,
    GraphStore,
    RecordVersions,
    change_row,
    digest_rows,
    entry_hash,
    split_edge_ident,
)
from tracegraph.words import plural

# --------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class Break:
    """What is wrong, and with which entry (None: a record no entry accounts for)."""

    seq: int | None
    problem: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "problem": self.problem}


@dataclass(frozen=True)
class VerifyResult:
    entries: int
    records: int
    versions: int
    head: str | None
    broken: Break | None

    @property
    def intact(self) -> bool:
        return self.broken is None

    def message(self) -> str:
        """The answer in one line."""
        if self.broken is None:
            head = f"; head {self.head}" if self.head else ""
            return (
                f"audit trail intact: {plural(self.entries, 'entry', 'entries')}, "
                f"{plural(self.versions, 'version')} of {plural(self.records, 'record')} "
                f"checked{head}"
            )
        if self.broken.seq is None:
            return f"audit trail broken: {self.broken.problem}"
        return f"audit entry {self.broken.seq} is broken: {self.broken.problem}"

    def as_json(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "entries": self.entries,
            "records": self.records,
            "versions": self.versions,
            "head": self.head,
            "broken": None if self.broken is None else self.broken.as_json(),
        }


class _Problems:
    """The first problem found per entry; the answer is the one of the lowest entry."""

    def __init__(self) -> None:
        self.by_seq: dict[int, str] = {}
        self.unplaced: list[str] = []

    def add(self, seq: int | None, problem: str) -> None:
        if seq is None:
            self.unplaced.append(problem)
        else:
            self.by_seq.setdefault(seq, problem)

    def first(self) -> Break | None:
        if self.by_seq:
            seq = min(self.by_seq)
            return Break(seq, self.by_seq[seq])
        return Break(None, self.unplaced[0]) if self.unplaced else None


def _check_chain(entries: list[AuditEntry], problems: _Problems) -> None:
    expected = 1
    prev: AuditEntry | None = None
    for entry in entries:
        seq = entry.seq
        if not isinstance(seq, int) or isinstance(seq, bool):
            problems.add(expected, f"the entry after entry {expected - 1} has no valid seq")
            continue
        if seq > expected:
            problems.add(
                expected,
                "missing: "
                + (f"the chain goes from entry {expected - 1}" if expected > 1 else "it starts")
                + f" to entry {seq}",
            )
        elif seq < expected:
            problems.add(seq, "its seq appears twice or out of order")
        if entry_hash(entry.body()) != entry.hash:
            problems.add(seq, "its content does not match its hash (edited after it was written)")
        want = GENESIS if prev is None else prev.hash
        if entry.prev_hash != want:
            before = "the start of the chain" if prev is None else f"entry {prev.seq}"
            problems.add(seq, f"its prev_hash does not match the hash of {before}")
        prev = entry
        expected = seq + 1


def _check_versions(
    records: Iterable[RecordVersions],
    entries: Mapping[int, AuditEntry],
    problems: _Problems,
) -> tuple[int, int, dict[int, list[tuple[str, bytes]]]]:
    """Check every record's versions against the entries that wrote them; gather, per entry,
    the changes its digest covers. Returns (records, versions, rows per entry)."""
    rows: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
    count = versions = 0
    last_seq = max(entries, default=0)
    for record in records:
        count += 1
        versions += len(record.versions)
        if not record.versions:
            problems.add(None, f"{record.ident}: has no versions")
            continue
        first = record.versions[0]
        previous: int | None = None
        for i, version in enumerate(record.versions):
            seq = version.audit_seq
            if not isinstance(seq, int) or isinstance(seq, bool):
                problems.add(None, f"{record.ident}: version {i + 1} names no audit entry")
                break
            entry = entries.get(seq)
            if entry is None:
                where = "after the last one" if seq > last_seq else "not in the chain"
                problems.add(seq, f"missing ({where}), yet {record.ident} has a version it wrote")
            elif version.recorded_at != entry.at:
                problems.add(
                    seq,
                    f"{record.ident}: its version {i + 1} was recorded at "
                    f"{iso(version.recorded_at)}, not when this entry was written",
                )
            if previous is not None and seq <= previous:
                problems.add(seq, f"{record.ident}: its versions are out of order")
            previous = seq
            before = record.versions[i - 1].props if i else None
            op = "update" if i else "create"
            rows[seq].append((record.ident, change_row(record.ident, op, before, version.props)))
        if record.created_at != first.recorded_at and isinstance(first.audit_seq, int):
            problems.add(
                first.audit_seq, f"{record.ident}: its creation time differs from its first version"
            )
    return count, versions, rows


def verify(store: GraphStore) -> VerifyResult:
    """Recompute the chain: every entry's hash and link, and every entry's digest from the
    versions kept on the records. Names the first broken entry."""
    entries = store.audit_entries()
    problems = _Problems()
    _check_chain(entries, problems)
    by_seq = {e.seq: e for e in entries if isinstance(e.seq, int)}
    records, versions, rows = _check_versions(store.versions(), by_seq, problems)
    for entry in entries:
        if not isinstance(entry.seq, int):
            continue
        if digest_rows(rows.get(entry.seq, [])) != entry.changes_sha256:
            problems.add(
                entry.seq,
                "the record versions it wrote do not match its digest "
                "(a record was edited, added or removed)",
            )
    return VerifyResult(
        entries=len(entries),
        records=records,
        versions=versions,
        head=entries[-1].hash if entries else None,
        broken=problems.first(),
    )


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "before": iso(self.before), "after": iso(self.after)}


@dataclass(frozen=True)
class HistoryEntry:
    """One version of a record, with the audit entry of the write that made it."""

    version: int
    audit_seq: int
    at: dt.datetime
    change: str
    actor: str | None
    operation: str | None
    source: str | None
    reason: str | None
    fields: tuple[FieldChange, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "audit_seq": self.audit_seq,
            "at": iso(self.at),
            "change": self.change,
            "actor": self.actor,
            "operation": self.operation,
            "source": self.source,
            "reason": self.reason,
            "fields": [f.as_json() for f in self.fields],
        }


@dataclass(frozen=True)
class History:
    key: str
    kind: str
    created_at: dt.datetime
    versions: tuple[HistoryEntry, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "created_at": iso(self.created_at),
            "versions": [v.as_json() for v in self.versions],
            "counts": {
                "versions": len(self.versions),
                "field_changes": sum(len(v.fields) for v in self.versions),
            },
        }


_MISSING = object()


def _diff(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    old = before or {}
    names = sorted(set(old) | set(after))
    changed = [
        FieldChange(n, old.get(n), after.get(n))
        for n in names
        if old.get(n, _MISSING) != after.get(n, _MISSING)
    ]
    return tuple(changed)


def identity(text: str) -> tuple[str, str]:
    """(kind, identity) of what `audit log` is given: an edge identity ``TYPE:from->to``
    (a relationship type first) or a node key ``Type:id``."""
    edge = split_edge_ident(text.strip())
    if edge is not None:
        rtype, src, dst = edge
        return "edge", f"{rtype}:{Key.parse(src)}->{Key.parse(dst)}"
    return "node", str(Key.parse(text.strip()))


def history(store: GraphStore, key: str) -> History:
    """Every version of one node or edge, oldest first, each with who wrote it, when, why and
    which fields it changed (before and after)."""
    kind, ident = identity(key)
    found = list(store.versions([ident]))
    if not found:
        raise NotFound(f"{ident}: no such {kind} in the store")
    (record,) = found
    entries = {e.seq: e for e in store.audit_entries()}
    out = []
    for i, version in enumerate(record.versions):
        entry = entries.get(version.audit_seq)
        out.append(
            HistoryEntry(
                version=i + 1,
                audit_seq=version.audit_seq,
                at=version.recorded_at,
                change="update" if i else "create",
                actor=entry.actor if entry else None,
                operation=entry.operation if entry else None,
                source=entry.source if entry else None,
                reason=entry.reason if entry else None,
                fields=_diff(record.versions[i - 1].props if i else None, version.props),
            )
        )
    return History(ident, kind, record.created_at, tuple(out))


# --------------------------------------------------------------------------- reasons


def required_reason(reason: str | None, *, required: bool, where: str = "--reason") -> str | None:
    """The reason a write gives, stripped; BadInput when the site requires one (setting
    ``require_reason``, TRACEGRAPH_REQUIRE_REASON) and none is given. ``where`` names the
    place in the message: the CLI option or the API field."""
    text = reason.strip() if reason else ""
    if required and not text:
        raise BadInput(
            f"{where}: required on this site (TRACEGRAPH_REQUIRE_REASON): say why this write "
            "is made; it is kept in the audit trail"
        )
    return text or None
