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
import hashlib
import sqlite3
import tempfile
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracegraph.errors import BadInput, NotFound
from tracegraph.model import Key, iso
from tracegraph.store.base import (
    GENESIS,
    VERSION_PAGE,
    AuditEntry,
    GraphStore,
    RecordVersions,
    change_row,
    digest_rows,
    entry_hash,
    every_version,
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


#: Change rows `verify` holds in memory; beyond this it sorts them through a temporary file.
SORT_ROWS = 250_000

#: The digest of a write that changed nothing (an entry no version names).
_EMPTY = digest_rows([])


class _ChangeSort:
    """The change rows of every record version, gathered in the store's order and given back
    in each entry's digest order: by (entry, identity), ties in the order they came (as
    `digest_rows`'s stable sort has them).

    Up to ``limit`` rows are sorted in memory; a store with more is spilled, ``limit`` rows at
    a time, into a temporary SQLite file whose ORDER BY is an external merge sort on disk.
    Identities go in as UTF-8 bytes, whose order is that of Python's strings (code points).
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise BadInput(f"sort rows {limit}: must be 1 or more")
        self.limit = limit
        self.held: list[tuple[int, str, bytes]] = []
        #: The most rows held in memory at once (what the streaming test checks).
        self.most_held = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> _ChangeSort:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._db is not None:
            self._db.close()
        if self._dir is not None:
            self._dir.cleanup()

    def add(self, seq: int, ident: str, row: bytes) -> None:
        # A copy: orjson's bytes keep the 4 KiB buffer they were written into (a change row
        # is ~200 bytes), which made the rows held whole take 20 times what they say.
        self.held.append((seq, ident, bytes(memoryview(row))))
        if len(self.held) >= self.limit:
            self.most_held = max(self.most_held, len(self.held))
            self._spill()

    def _spill(self) -> None:
        if self._db is None:
            self._dir = tempfile.TemporaryDirectory(prefix="tracegraph-verify-")
            self._db = sqlite3.connect(Path(self._dir.name) / "changes.db", isolation_level=None)
            for pragma in (
                "journal_mode = OFF",
                "synchronous = OFF",
                "temp_store = FILE",
                f"cache_size = -{_SORT_CACHE_KIB}",
            ):
                self._db.execute(f"PRAGMA {pragma}")
            self._db.execute(
                "CREATE TABLE change (n INTEGER PRIMARY KEY, seq INTEGER NOT NULL, "
                "ident BLOB NOT NULL, row BLOB NOT NULL)"
            )
        self._db.execute("BEGIN")  # one transaction a spill, not one a row
        self._db.executemany(
            "INSERT INTO change (seq, ident, row) VALUES (?, ?, ?)",
            ((seq, ident.encode("utf-8", "surrogatepass"), row) for seq, ident, row in self.held),
        )
        self._db.execute("COMMIT")
        self.held.clear()

    def ordered(self) -> Iterator[tuple[int, bytes]]:
        """(entry, change row), by entry then identity."""
        self.most_held = max(self.most_held, len(self.held))
        if self._db is None:
            self.held.sort(key=lambda r: (r[0], r[1]))
            for seq, _, row in self.held:
                yield seq, row
            return
        self._spill()
        rows = self._db.execute("SELECT seq, row FROM change ORDER BY seq, ident, n")
        while page := rows.fetchmany(min(self.limit, _SORT_PAGE)):
            yield from page
            del page  # before the next is fetched


#: Page cache of the temporary sort file (KiB), and rows read back from it per fetch.
_SORT_CACHE_KIB = 64 * 1024
_SORT_PAGE = 1_000


def _digests(rows: Iterable[tuple[int, bytes]], wanted: Container[int]) -> dict[int, str]:
    """Each entry's digest, folded from its change rows given in digest order (`digest_rows`
    without holding them): only those of the ``wanted`` entries are kept."""
    out: dict[int, str] = {}
    current: int | None = None
    h = hashlib.sha256()
    for seq, row in rows:
        if seq != current:
            if current is not None and current in wanted:
                h.update(b"]")
                out[current] = h.hexdigest()
            current = seq
            h = hashlib.sha256(b"[")
        else:
            h.update(b",")
        h.update(row)
    if current is not None and current in wanted:
        h.update(b"]")
        out[current] = h.hexdigest()
    return out


def _check_versions(
    records: Iterable[RecordVersions],
    entries: Mapping[int, AuditEntry],
    problems: _Problems,
    changes: _ChangeSort,
) -> tuple[int, int]:
    """Check every record's versions against the entries that wrote them; hand each version's
    change (what its entry's digest covers) to ``changes``. Returns (records, versions)."""
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
            changes.add(seq, record.ident, change_row(record.ident, op, before, version.props))
        if record.created_at != first.recorded_at and isinstance(first.audit_seq, int):
            problems.add(
                first.audit_seq, f"{record.ident}: its creation time differs from its first version"
            )
    return count, versions


def verify(
    store: GraphStore, *, page_size: int = VERSION_PAGE, sort_rows: int = SORT_ROWS
) -> VerifyResult:
    """Recompute the chain: every entry's hash and link, and every entry's digest from the
    versions kept on the records. Names the first broken entry.

    Streams: the records are read ``page_size`` at a time, and their changes are sorted into
    digest order in memory up to ``sort_rows`` rows, through a temporary file beyond; the
    answer does not depend on either."""
    entries = store.audit_entries()
    problems = _Problems()
    _check_chain(entries, problems)
    by_seq = {e.seq: e for e in entries if isinstance(e.seq, int)}
    with _ChangeSort(sort_rows) as changes:
        records, versions = _check_versions(
            every_version(store, page_size), by_seq, problems, changes
        )
        digests = _digests(changes.ordered(), by_seq)
    for entry in entries:
        if not isinstance(entry.seq, int):
            continue
        if digests.get(entry.seq, _EMPTY) != entry.changes_sha256:
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
