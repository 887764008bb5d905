"""Editing an embedded store behind TraceGraph's back, as a tamperer would: for the audit tests.

The store's tables are read into the shape of a v1 store file (the JSON that TraceGraph 0.1
kept), changed by the test, and written back as the whole store — so one tampering test reads
the same on every version of the embedded store.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from tracegraph.store.embedded import REL_BY_CODE, EmbeddedStore, create_schema, from_us
from tracegraph.store.upgrade import OLD_FORMAT, copy_v1


def _text(us: int) -> str:
    return from_us(us).isoformat()


def export_v1(path: Path) -> dict[str, Any]:
    """The store at ``path`` as a dict in the v1 file's shape."""
    db = sqlite3.connect(path)
    try:
        keys = dict(db.execute("SELECT id, key FROM node"))
        node_history: dict[int, list[dict[str, Any]]] = {}
        for node, a, r, props in db.execute(
            "SELECT node, a, r, props FROM node_version ORDER BY node, a"
        ):
            node_history.setdefault(node, []).append(
                {"a": a, "r": _text(r), "p": orjson.loads(props)}
            )
        nodes = [
            {"key": key, "p": orjson.loads(props), "c": _text(c), "r": _text(r), "a": a,
             "h": node_history.get(node_id, [])}
            for node_id, key, props, c, r, a in db.execute(
                "SELECT id, key, props, c, r, a FROM node"
            )
        ]  # fmt: skip
        edge_history: dict[tuple[int, int, int], list[dict[str, Any]]] = {}
        for src, t, dst, a, r, props in db.execute(
            "SELECT src, type, dst, a, r, props FROM edge_version ORDER BY src, type, dst, a"
        ):
            edge_history.setdefault((src, t, dst), []).append(
                {"a": a, "r": _text(r), "p": orjson.loads(props)}
            )
        edges = [
            {"t": str(REL_BY_CODE[t]), "s": keys[src], "d": keys[dst], "p": orjson.loads(props),
             "c": _text(c), "r": _text(r), "a": a, "h": edge_history.get((src, t, dst), [])}
            for src, t, dst, c, r, a, props in db.execute(
                "SELECT src, type, dst, c, r, a, props FROM edge"
            )
        ]  # fmt: skip
        audit = [orjson.loads(e) for (e,) in db.execute("SELECT entry FROM audit ORDER BY seq")]
        api_keys = [
            {"id": i, "name": n, "role": role, "sha256": h, "created_at": _text(c),
             "revoked_at": _text(rv) if rv is not None else None}
            for i, n, role, h, c, rv in db.execute(
                "SELECT id, name, role, sha256, created_at, revoked_at FROM api_key"
            )
        ]  # fmt: skip
    finally:
        db.close()
    return {
        "format": OLD_FORMAT,
        "nodes": nodes,
        "edges": edges,
        "audit": audit,
        "api_keys": api_keys,
    }


def rewrite(store: EmbeddedStore, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the store's records in place (the whole store rewritten, as an editor would)."""
    store.close()
    data = export_v1(store.path)
    change(data)
    data = orjson.loads(orjson.dumps(data))  # as a file would hold it: times as text
    tmp = store.path.with_name("tampered.tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        db.execute("BEGIN")
        create_schema(db)
        copy_v1(db, data)
        db.execute("COMMIT")
    finally:
        db.close()
    for suffix in ("-wal", "-shm"):
        store.path.with_name(store.path.name + suffix).unlink(missing_ok=True)
    os.replace(tmp, store.path)
