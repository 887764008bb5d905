"""TraceGraph itself, on both stores, only through its public services: the importer, recall,
impact and common cause, end to end to the JSON answer (serialised, as the CLI and the API
send it)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.data import chunks_of_lines
from tracegraph.importer import import_records, read_jsonl
from tracegraph.model import GENEALOGY, Direction
from tracegraph.recall import recall
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore

REQUEST = WriteRequest(actor="benchmark", operation="import", source="benchmarks")


@dataclass(frozen=True)
class ImportRun:
    store: str
    records: int
    seconds: float
    chunk: int | None
    batch: int | None
    imports: int

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "records": self.records,
            "seconds": self.seconds,
            "records_per_s": self.rate,
            "chunk_records": self.chunk,
            "write_batch": self.batch,
            "imports": self.imports,
        }


def import_file(
    store: GraphStore, path: Path, chunk: int | None, limit: int | None = None
) -> tuple[int, int, float]:
    """Import the JSON Lines file (its first ``limit`` lines), ``chunk`` records per import
    (each one atomic; None: the whole file in one import). Returns (records, imports, s)."""
    started = time.perf_counter()
    records = imports = 0
    size = chunk or 1 << 62
    for lines in chunks_of_lines(path, size, limit):
        report = import_records(store, read_jsonl(path.name, lines), REQUEST)
        records += report.records
        imports += 1
    return records, imports, time.perf_counter() - started


def open_neo4j(uri: str, user: str, password: str, batch: int = 10_000) -> Neo4jStore:
    return Neo4jStore(uri, user, password, batch=batch)


def reset_neo4j(store: Neo4jStore) -> None:
    """Empty the database and drop its indexes and constraints, as if it were new (the next
    store to use it creates them again: see `ready_neo4j`)."""
    store.clear()
    driver, database = store.driver, store.database
    for name in driver.execute_query("SHOW CONSTRAINTS YIELD name", database_=database).records:
        driver.execute_query(f"DROP CONSTRAINT `{name[0]}` IF EXISTS", database_=database)
    indexes = driver.execute_query(
        "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name", database_=database
    ).records
    for name in indexes:
        driver.execute_query(f"DROP INDEX `{name[0]}` IF EXISTS", database_=database)


def ready_neo4j(store: Neo4jStore) -> None:
    """Create the store's schema now, wait until every index is online and forget every cached
    plan, so that each configuration of the import sweep starts from the same state. (The
    write path's `edge_get` is planned afresh on every run anyway: see its query file on the
    plan it once kept from an empty database.)"""
    store._ensure_schema()
    driver, database = store.driver, store.database
    driver.execute_query("CALL db.awaitIndexes(600)", database_=database)
    driver.execute_query("CALL db.clearQueryCaches()", database_=database)


def open_embedded(path: Path) -> EmbeddedStore:
    for stale in (path, path.with_name(path.name + ".lock")):
        stale.unlink(missing_ok=True)
    return EmbeddedStore(path)


def recall_json(store: GraphStore, suspects: Sequence[str]) -> bytes:
    """Recall end to end: the service's answer serialised as JSON."""
    return orjson.dumps(recall(store, list(suspects)).as_json())


def recall_devices(answer: bytes) -> set[str]:
    return {f"Device:{d['id']}" for d in orjson.loads(answer)["devices"]}


def closure(store: GraphStore, suspects: Sequence[str]) -> set[str]:
    """The store's closure primitive alone (what recall's one reachability query returns)."""
    return store.reach(suspects, GENEALOGY, Direction.down)


def impact_json(store: GraphStore, change: str) -> bytes:
    from tracegraph.impact import impact

    return orjson.dumps(impact(store, change).as_json())


def impact_categories(answer: bytes) -> dict[str, list[str]]:
    data = orjson.loads(answer)
    return {
        name: sorted(item.get("key") or item["id"] for item in items)
        for name, items in data.items()
        if isinstance(items, list) and name != "notes"
    }


def common_cause_json(store: GraphStore, cases: Sequence[str]) -> bytes:
    from tracegraph.commoncause import common_cause

    return orjson.dumps(common_cause(store, list(cases)).as_json())


def common_cause_rows(answer: bytes) -> list[tuple[Any, ...]]:
    return [
        (h["key"], h["cases"], h["exposure"], h["p_value"]) for h in orjson.loads(answer)["ranking"]
    ]
