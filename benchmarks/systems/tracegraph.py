"""TraceGraph itself, on both stores, only through its public services: the importer, recall,
impact and common cause, end to end to the JSON answer (serialised, as the CLI and the API
send it)."""

from __future__ import annotations

import datetime as dt
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.data import chunks_of_lines
from tracegraph.importer import import_paths, import_records, read_jsonl
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


#: What an embedded store may leave beside its file: the JSON store's lock, SQLite's WAL,
#: shared-memory index and rollback journal.
_EMBEDDED_SIDECARS = (".lock", "-wal", "-shm", "-journal")


def remove_embedded(path: Path) -> None:
    for stale in (path, *(path.with_name(path.name + s) for s in _EMBEDDED_SIDECARS)):
        stale.unlink(missing_ok=True)


def open_embedded(path: Path) -> EmbeddedStore:
    """A new, empty embedded store at ``path`` (whatever was there is removed)."""
    remove_embedded(path)
    return EmbeddedStore(path)


def import_whole_file(
    data: Path, store_path: Path, chunk: int | None = None, memory_limit: int | None = None
) -> dict[str, Any]:
    """Import the file into a new embedded store and close it: in one import the way
    `tracegraph import FILE` does (`import_paths`, records streamed from the file), or, given
    ``chunk``, that many records per import. Meant to run in a process of its own (see
    `import_in_child`), whose address space ``memory_limit`` caps (bytes): an import that
    does not fit fails with MemoryError instead of waking the kernel's OOM killer."""
    if memory_limit is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    store = open_embedded(store_path)
    cpu0, started = time.process_time(), time.perf_counter()
    if chunk is None:
        records, imports = import_paths(store, [data], REQUEST).records, 1
    else:
        records, imports, _seconds = import_file(store, data, chunk)
    store.close()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    # A first load into an empty store reads half of the file in a forked child: its CPU
    # counts, and its peak beside this process's.
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "records": records,
        "imports": imports,
        "seconds": seconds,
        "client_cpu_s": cpu + child.ru_utime + child.ru_stime,
        # Linux reports the peak resident set in KiB.
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "child_max_rss_bytes": child.ru_maxrss * 1024,
    }


class ImportOutOfMemory(RuntimeError):
    """The import needed more memory than its process was given."""


_CHILD = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from benchmarks.systems.tracegraph import import_whole_file\n"
    "chunk, limit = (int(a) if a != '-' else None for a in sys.argv[3:5])\n"
    "print(json.dumps(import_whole_file(Path(sys.argv[1]), Path(sys.argv[2]), chunk, limit)))\n"
)


def import_in_child(
    data: Path, store_path: Path, chunk: int | None = None, memory_limit: int | None = None
) -> dict[str, Any]:
    """`import_whole_file` in a new Python process: the run's own process keeps none of the
    import's memory (a one-import load holds every parsed record of the file at once), and
    the peak is measured. Returns the `ImportRun` JSON with the CPU and memory figures;
    raises `ImportOutOfMemory` if the import did not fit ``memory_limit``."""
    argv = [str(data), str(store_path), *(str(v) if v else "-" for v in (chunk, memory_limit))]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        # -9: the kernel's OOM killer, if the limit was not low enough to come first.
        if "MemoryError" in done.stderr or done.returncode == -9:
            remove_embedded(store_path)
            raise ImportOutOfMemory(
                f"the import of {data} ran out of memory (exit {done.returncode}"
                + (
                    f"; address space capped at {memory_limit / 1024**3:.1f} GiB"
                    if memory_limit
                    else ""
                )
                + ")"
            )
        raise RuntimeError(
            f"embedded import of {data} failed ({done.returncode}): {done.stderr[-2000:]}"
        )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    run = ImportRun(
        "embedded", figures["records"], figures["seconds"], chunk, None, figures["imports"]
    )
    how = (
        "one import (import_paths, as `tracegraph import FILE`)"
        if chunk is None
        else f"{chunk:,} records per import"
    )
    return {
        **run.as_json(),
        "client_cpu_s": figures["client_cpu_s"],
        "records_per_cpu_s": figures["records"] / max(figures["client_cpu_s"], 1e-9),
        "max_rss_bytes": figures["max_rss_bytes"],
        "how": f"{how}, in a process of its own",
    }


def available_memory() -> int | None:
    """Bytes the kernel says can be allocated without swapping (MemAvailable), if known."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


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


def check_json(store: GraphStore, now: dt.datetime) -> bytes:
    """`tracegraph check --format json` of the whole store, every rule, measured from ``now``
    (the same moment for both stores, so their answers compare byte for byte)."""
    from tracegraph import checks

    return orjson.dumps(checks.run(store, now=now).as_json())


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


def common_cause_first_json(store: GraphStore, cases: Sequence[str]) -> bytes:
    """`common_cause_json` as the first analysis after a write: nothing remembered."""
    from tracegraph.commoncause import REMEMBERED

    REMEMBERED.forget(store)
    return common_cause_json(store, cases)


def new_production(
    name: str, suppliers: Sequence[str], stations: Sequence[str], process: str | None, devices: int
) -> list[dict[str, Any]]:
    """A day's production as an MES and an ERP would send it: ``devices`` new devices of a
    new batch ``Batch:{name}``, made of two new lots of the first of the suppliers, on the
    stations, to the process. Every new edge ends at a node it creates: a write common cause
    can follow (`FollowsExposures`), and one that changes no recall of a stored lot or batch."""
    batch = f"Batch:{name}"
    out: list[dict[str, Any]] = [
        {"type": "Batch", "id": name, "started_at": "2026-11-30T08:00:00Z", "status": "released"}
    ]
    for i in range(2 if suppliers else 0):
        lot = f"{name}-L{i}"
        out += [
            {"type": "MaterialLot", "id": lot, "received_at": "2026-11-28"},
            {"type": "SUPPLIED", "from": suppliers[0], "to": f"MaterialLot:{lot}"},
            {"type": "CONSUMED_IN", "from": f"MaterialLot:{lot}", "to": batch},
        ]
    out += [{"type": "PROCESSED", "from": s, "to": batch, "at": "2026-11-30"} for s in stations]
    if process is not None:
        out.append({"type": "FOLLOWED", "from": process, "to": batch})
    for i in range(devices):
        device = f"{name}-D{i:04d}"
        out += [
            {"type": "Device", "id": device, "manufactured_at": "2026-11-30"},
            {"type": "PRODUCED", "from": batch, "to": f"Device:{device}"},
        ]
    return out


def write(store: GraphStore, records: Sequence[dict[str, Any]]) -> None:
    """Import records as `tracegraph import` would (one write, one audit entry)."""
    lines = [orjson.dumps(r) for r in records]
    import_records(store, read_jsonl("bench.jsonl", lines), WriteRequest("bench", "import"))


def common_cause_rows(answer: bytes) -> list[tuple[Any, ...]]:
    return [
        (h["key"], h["cases"], h["exposure"], h["p_value"]) for h in orjson.loads(answer)["ranking"]
    ]
