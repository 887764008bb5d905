"""Upgrading an embedded store written by TraceGraph 0.1 (one JSON file, ``tracegraph-embedded/1``)
to the SQLite store, in place, with the old file kept beside it.

Everything carries over as it was: every node and edge with its created and recorded times, its
audit seq and its earlier versions; the audit chain entry for entry, as the JSON each was hashed
from; the API keys. So `tracegraph audit verify` passes after an upgrade exactly when it passed
before (and names the same entry when it did not).

The new store is written to ``<name>.upgrading`` and synced, the old file is hard-linked to
``<name>.v1-backup.json``, then the new one is renamed over ``<name>``: a process killed at any
point leaves either the old store (upgraded again on the next open) or the new one. A lock on
``<name>.upgrade-lock`` keeps two processes from upgrading the same file at once.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from tracegraph.errors import StoreError, StoreUnavailable
from tracegraph.model import RelType
from tracegraph.store.embedded import FAM_CODE, REL_CODE, SQLITE_MAGIC, create_schema, us

OLD_FORMAT: Final = "tracegraph-embedded/1"


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".v1-backup.json")


def is_old_store(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(1) == b"{"
    except OSError:
        return False


def upgrade_in_place(path: Path) -> Path | None:
    """Upgrade the JSON store at ``path``; the backup's path, or None if another process
    upgraded it meanwhile."""
    lock = path.with_name(path.name + ".upgrade-lock")
    try:
        handle = open(lock, "a+b")  # noqa: SIM115 - held for the block
    except OSError as exc:
        raise StoreUnavailable(f"{path}: cannot upgrade the store: {exc}") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if not is_old_store(path):
                return None
            return _upgrade(path)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            lock.unlink(missing_ok=True)


def _upgrade(path: Path) -> Path:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise StoreError(f"{path}: not a TraceGraph store: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != OLD_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise StoreError(f"{path}: not a TraceGraph store (format {found!r})")
    fresh = path.with_name(path.name + ".upgrading")
    fresh.unlink(missing_ok=True)
    db = sqlite3.connect(fresh, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = DELETE")
        db.execute("BEGIN")
        create_schema(db)
        copy_v1(db, data)
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode = WAL")
    except (sqlite3.Error, KeyError, TypeError, ValueError) as exc:
        db.close()
        fresh.unlink(missing_ok=True)
        raise StoreError(f"{path}: cannot upgrade the store: {exc!r}") from None
    db.close()
    with open(fresh, "rb") as handle:
        os.fsync(handle.fileno())
    backup = backup_path(path)
    backup.unlink(missing_ok=True)
    os.link(path, backup)
    os.replace(fresh, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    # Leftovers of the old store's writers (temporary files, its lock file) go with it.
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        tmp.unlink(missing_ok=True)
    path.with_name(path.name + ".lock").unlink(missing_ok=True)
    return backup


def _t(text: str) -> int:
    return us(dt.datetime.fromisoformat(text))


def _props(props: Mapping[str, Any]) -> str:
    # The old file kept properties as the same JSON the new tables hold (orjson's ISO 8601).
    return orjson.dumps(props).decode() if props else "{}"


def copy_v1(db: sqlite3.Connection, data: Mapping[str, Any]) -> None:
    """Write the records of a v1 store (its JSON as a dict) into an empty store's tables."""
    ids: dict[str, int] = {}
    nodes: list[tuple[int, str, str, int, int, int]] = []
    node_versions: list[tuple[Any, ...]] = []
    for number, n in enumerate(data["nodes"], start=1):
        ids[n["key"]] = number
        nodes.append((number, n["key"], _props(n["p"]), _t(n["c"]), _t(n["r"]), n["a"]))
        node_versions.extend(_versions((number,), n.get("h", ())))
    db.executemany("INSERT INTO node (id, key, props, c, r, a) VALUES (?, ?, ?, ?, ?, ?)", nodes)
    db.executemany(
        "INSERT INTO node_version (node, a, r, props) VALUES (?, ?, ?, ?)", node_versions
    )
    edges = []
    edge_versions: list[tuple[int, ...] | tuple[Any, ...]] = []
    for e in data["edges"]:
        rtype = RelType(e["t"])
        ident = (ids[e["s"]], FAM_CODE[rtype], REL_CODE[rtype], ids[e["d"]])
        edges.append((*ident, _t(e["c"]), _t(e["r"]), e["a"], _props(e["p"])))
        edge_versions.extend(_versions(ident, e.get("h", ())))
    db.executemany(
        "INSERT INTO edge (src, fam, type, dst, c, r, a, props) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        edges,
    )
    db.executemany(
        "INSERT INTO edge_version (src, fam, type, dst, a, r, props) VALUES (?, ?, ?, ?, ?, ?, ?)",
        edge_versions,
    )
    # Entries go over as the JSON they were hashed from, edits and all: `audit verify` judges.
    db.executemany(
        "INSERT INTO audit (seq, at, entry) VALUES (?, ?, ?)",
        [
            (a["seq"], _t(a["at"]) if isinstance(a.get("at"), str) else 0, orjson.dumps(a))
            for a in data.get("audit", ())
        ],
    )
    db.executemany(
        "INSERT INTO api_key (id, name, role, sha256, created_at, revoked_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                k["id"],
                k["name"],
                k["role"],
                k["sha256"],
                _t(k["created_at"]),
                _t(k["revoked_at"]) if k.get("revoked_at") else None,
            )
            for k in data.get("api_keys", ())
        ],
    )


def _versions(ident: Sequence[int], history: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return [(*ident, v["a"], _t(v["r"]), _props(v["p"])) for v in history]


def upgrade(path: Path) -> Path | None:
    """`tracegraph store upgrade`: upgrade the store at ``path`` if it is an old one; the
    backup's path, or None when it was already a SQLite store."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreUnavailable(f"{path}: cannot read the store: {exc}") from None
    if head == SQLITE_MAGIC:
        return None
    return upgrade_in_place(path)
