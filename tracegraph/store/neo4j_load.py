"""The initial load of a new Neo4j database: `neo4j-admin database import full` from CSV files.

An online import (`Neo4jStore.write`) costs the server ~30 µs a record; the offline importer
builds the store files directly, many times faster, but only into a database that is stopped
and empty (Neo4j Community allows it only while the database is stopped). The records are
checked exactly as `tracegraph import` checks them (same messages; nothing written if one is
bad), and the graph written is the one an online import of the same files into an empty
database writes: the same labels, properties, bookkeeping (``_c``, ``_r``, ``_a``) and one
audit entry (seq 1, sealed over the same changes), so `tracegraph audit verify` passes and
later online imports continue the chain. The schema (cypher/schema.cypher) is created, as
always, by the first TraceGraph command that opens the database once the server runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import orjson

from tracegraph.errors import BadInput, StoreError, StoreUnavailable
from tracegraph.gcpause import cycles_collected_after
from tracegraph.importer import (
    ImportReport,
    Parsed,
    Progress,
    check_endpoints,
    parse,
    read_paths,
    refuse,
)
from tracegraph.store.base import (
    GENESIS,
    Change,
    GraphStore,
    WritePlan,
    WriteRequest,
    edge_ident,
    seal,
)

#: Separates the items of a list property in a CSV cell: a control character no text holds.
_ARRAY_DELIMITER = "\x1f"

#: The CSV column type of each Python value a validated record holds.
_KINDS: Mapping[type, str] = {
    str: "string",
    bool: "boolean",
    int: "long",
    float: "double",
    list: "string[]",
    dt.datetime: "datetime",
    dt.date: "date",
    dict: "string",  # `attributes`, kept as JSON text as the online import keeps it
}


@dataclass(frozen=True)
class Home:
    """Where a stopped Neo4j keeps one database."""

    home: Path
    database: str
    data: Path

    @property
    def folder(self) -> Path:
        return self.data / "databases" / self.database


def neo4j_home(home: str | Path, database: str = "neo4j") -> Home:
    """The database's place under a Neo4j home (its data folder as `conf/neo4j.conf` sets it)."""
    path = Path(home)
    if not path.is_dir():
        raise BadInput(f"{path}: no such folder; --neo4j-home names the Neo4j installation")
    data = path / "data"
    conf_dir = Path(os.environ["NEO4J_CONF"]) if os.environ.get("NEO4J_CONF") else path / "conf"
    conf = conf_dir / "neo4j.conf"
    if conf.is_file():
        for line in conf.read_text(encoding="utf-8", errors="replace").splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip() == "server.directories.data" and value.strip():
                configured = Path(value.strip())
                data = configured if configured.is_absolute() else path / configured
    return Home(path, database, data)


def admin_command(home: Path) -> list[str]:
    """How to run neo4j-admin: the home's own `bin/neo4j-admin`, else the one on PATH."""
    own = home / "bin" / ("neo4j-admin.bat" if os.name == "nt" else "neo4j-admin")
    if own.is_file():
        return [str(own)]
    found = shutil.which("neo4j-admin")
    if found is None:
        raise StoreUnavailable(
            f"{home}: no bin/neo4j-admin here and none on PATH; the initial load runs the "
            "neo4j-admin of the Neo4j installation the database belongs to"
        )
    return [found]


def _in_use(target: Home) -> bool:
    """Whether a running Neo4j holds this home's store lock (Java locks it with fcntl)."""
    lock = target.data / "databases" / "store_lock"
    try:
        import fcntl
    except ImportError:  # Windows: neo4j-admin itself refuses a database in use
        return False
    try:
        handle = open(lock, "r+b")  # noqa: SIM115 - closed below
    except OSError:
        return False
    with handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(handle, fcntl.LOCK_UN)
    return False


def _check_target(target: Home) -> bool:
    """Refuse a database that is running or has ever held a node; True if its folder exists
    (an empty one, made when the server first started: neo4j-admin is told to replace it)."""
    if _in_use(target):
        raise StoreUnavailable(
            f"{target.home}: Neo4j is running on this home; stop it first (Neo4j Community "
            "allows an initial load only while the database is stopped)"
        )
    if not target.folder.exists():
        return False
    nodes = target.folder / "neostore.nodestore.db"
    if not nodes.is_file():
        raise BadInput(
            f"{target.folder}: cannot tell whether database '{target.database}' is empty (no "
            "neostore.nodestore.db: a store format this load does not know); an initial load "
            "only goes into a new database"
        )
    if nodes.stat().st_size > 0:
        raise BadInput(
            f"{target.folder}: database '{target.database}' is not empty (nodes have been "
            "written to it); an initial load only goes into a new, empty database: use "
            "`tracegraph import` with the server running"
        )
    return True


class _NothingStored:
    """The store an initial load goes into, as the endpoint check sees it: it holds nothing."""

    def existing(self, keys: Iterable[str]) -> set[str]:
        return set()


def validate(paths: Sequence[str | Path], progress: Progress | None = None) -> Parsed:
    """Read and check every record as `tracegraph import` does into an empty store."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise BadInput(
            f"{', '.join(missing)}: no such file or folder",
            details=[f"{m}: missing" for m in missing],
        )
    parsed = parse(read_paths(paths), progress)
    if parsed.records == 0:
        raise BadInput(f"{', '.join(str(p) for p in paths)}: holds no records")
    check_endpoints(cast(GraphStore, _NothingStored()), parsed)
    if parsed.errors:
        raise refuse([message for _, message in sorted(parsed.errors, key=lambda e: e[0])])
    return parsed


# --------------------------------------------------------------------------- CSV


def _cell(value: Any) -> str:
    kind = value.__class__
    if kind is str:
        text: str = value
        return text
    if kind is dt.datetime:
        if value.tzinfo is not dt.UTC:
            value = value.astimezone(dt.UTC)
        return str(value.isoformat())
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        return repr(value)
    if kind is list:
        items = [str(v) for v in value]
        if any(_ARRAY_DELIMITER in v for v in items):
            raise BadInput(f"{items!r}: a list item holds the character U+001F")
        return _ARRAY_DELIMITER.join(items)
    if kind is dict:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return str(value.isoformat() if isinstance(value, dt.date) else value)


@dataclass
class _Group:
    """One CSV file: the records of one type with the same fields of the same kinds."""

    path: Path
    handle: IO[str]
    writer: Any  # csv.writer's object has no public type
    rows: list[list[str]] = field(default_factory=list)
    written: int = 0

    #: Rows handed to the csv module at a time (one call per row costs more than the row).
    _FLUSH = 4096

    def add(self, row: list[str]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self._FLUSH:
            self.flush()

    def flush(self) -> None:
        self.writer.writerows(self.rows)
        self.written += len(self.rows)
        self.rows.clear()

    def multiline(self) -> bool:
        """Whether a value holds a line break: the file has more of them than rows (checked
        once at the end, cheaper than a search per value)."""
        data = self.path.read_bytes()
        return b"\r" in data or data.count(b"\n") != self.written + 1


@dataclass
class _Files:
    folder: Path
    tail: list[str]
    nodes: dict[tuple[Any, ...], _Group] = field(default_factory=dict)
    edges: dict[tuple[Any, ...], _Group] = field(default_factory=dict)
    multiline: bool = False

    def group(
        self, groups: dict[tuple[Any, ...], _Group], sig: tuple[Any, ...], head: list[str]
    ) -> _Group:
        found = groups.get(sig)
        if found is None:
            path = self.folder / f"{'n' if groups is self.nodes else 'e'}{len(groups)}.csv"
            handle = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
            writer.writerow(head)
            found = groups[sig] = _Group(path, handle, writer)
        return found

    def close(self) -> None:
        for group in (*self.nodes.values(), *self.edges.values()):
            group.flush()
            group.handle.close()
            self.multiline = self.multiline or group.multiline()


def _kind(value_class: type) -> str:
    found = _KINDS.get(value_class)
    if found is None:
        if not issubclass(value_class, str):  # (enums are text)
            raise StoreError(f"{value_class.__name__}: no CSV column type for this value")
        found = "string"
    return found


def _header(names: Iterable[str], classes: Iterable[type]) -> list[str]:
    return [f"{n}:{_kind(c)}" for n, c in zip(names, classes, strict=True)]


_BOOKKEEPING = ["_c:datetime", "_r:datetime", "_a:long"]


def write_csv(parsed: Parsed, folder: Path, at: dt.datetime, seq: int) -> _Files:
    """The records as neo4j-admin CSV files, one per (type, fields and their kinds)."""
    stamp = _cell(at)
    files = _Files(folder, [stamp, stamp, str(seq)])
    tail = files.tail
    for node in parsed.nodes.values():
        props = node.props
        sig = (node.type, tuple(props), tuple(map(type, props.values())))
        group = files.nodes.get(sig)
        if group is None:
            head = ["key:ID(Node)", "id:string", *_header(sig[1], sig[2]), *_BOOKKEEPING]
            group = files.group(files.nodes, sig, head)
        group.add([node.key, node.id, *map(_cell, props.values()), *tail])
    for edge in parsed.edges.values():
        props = edge.props
        esig = (edge.type, tuple(props), tuple(map(type, props.values())))
        group = files.edges.get(esig)
        if group is None:
            head = [":START_ID(Node)", ":END_ID(Node)", *_header(esig[1], esig[2]), *_BOOKKEEPING]
            group = files.group(files.edges, esig, head)
        group.add([edge.src, edge.dst, *map(_cell, props.values()), *tail])
    files.close()
    return files


def _audit_files(folder: Path, entry: Mapping[str, Any]) -> list[str]:
    """The audit entry and the chain's head (what `write_lock` keeps) as node files."""
    kept = {k: v for k, v in entry.items() if v is not None}  # Neo4j keeps no nulls
    head = [":ID(Audit)", *_header(kept, map(type, kept.values()))]
    entry_file = folder / "audit_entry.csv"
    with open(entry_file, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerows([head, ["entry", *map(_cell, kept.values())]])
    head_file = folder / "audit_head.csv"
    with open(head_file, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerows([[":ID(Audit)", "id:string", "writes:long"], ["head", "chain", "1"]])
    return [f"--nodes=AuditEntry={entry_file}", f"--nodes=AuditHead={head_file}"]


# --------------------------------------------------------------------------- the load


@cycles_collected_after()
def initial_load(
    paths: Sequence[str | Path],
    home: str | Path,
    request: WriteRequest,
    *,
    database: str = "neo4j",
    admin: Sequence[str] | None = None,
    progress: Progress | None = None,
    work_dir: str | Path | None = None,
    on_output: Callable[[str], None] | None = None,
) -> ImportReport:
    """Load JSON Lines files or CSV folders into the stopped, empty database ``database`` of
    the Neo4j installed at ``home`` with its `neo4j-admin` (``admin``: the command to run it,
    found in the home or on PATH when not given). Checks the records first, exactly as
    `tracegraph import` does; writes nothing if one is bad, the database is not empty or the
    server runs on the home.

    Python's cyclic collector is paused meanwhile, as for `import_records`: every record is
    held until the CSV files are written, and the collector walked them again and again as
    they piled up (at 100k devices the check took 7.4 s with it, 3.4 s without)."""
    target = neo4j_home(home, database)
    exists = _check_target(target)
    command = list(admin) if admin is not None else admin_command(target.home)
    parsed = validate(paths, progress)
    # Into an empty database every record is created: the plan `plan_write` would make, without
    # its lookups (the changes need no order: `seal` sorts them for the digest).
    nodes, edges = list(parsed.nodes.values()), list(parsed.edges.values())
    changes: list[Change] = [(n.key, "create", None, n.props) for n in nodes]
    changes += [(edge_ident(e), "create", None, e.props) for e in edges]
    plan = WritePlan(node_creates=nodes, edge_creates=edges, changes=changes)
    summary = plan.summary()
    at = dt.datetime.now(dt.UTC)
    entry = seal(request, summary, plan.changes, seq=1, at=at, prev_hash=GENESIS)
    summary.audit_seq = entry.seq
    folder = Path(tempfile.mkdtemp(prefix="tracegraph-load-", dir=work_dir))
    try:
        files = write_csv(parsed, folder, at, entry.seq)
        args = [
            *command,
            "database",
            "import",
            "full",
            database,
            "--id-type=string",
            f"--array-delimiter=U+{ord(_ARRAY_DELIMITER):04X}",
            "--bad-tolerance=0",
            f"--report-file={folder / 'import.report'}",
            *(["--overwrite-destination=true"] if exists else []),
            *(["--multiline-fields=true"] if files.multiline else []),
            *(f"--nodes=Node:{sig[0]}={g.path}" for sig, g in files.nodes.items()),
            *(f"--relationships={sig[0]}={g.path}" for sig, g in files.edges.items()),
            *_audit_files(folder, {**entry.as_json(), "at": at}),
        ]
        _run_admin(args, target, on_output)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ImportReport(parsed.records, len(nodes), len(edges), summary)


def _run_admin(args: Sequence[str], target: Home, on_output: Callable[[str], None] | None) -> None:
    env = {**os.environ, "NEO4J_HOME": str(target.home)}
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise StoreUnavailable(f"{args[0]}: cannot run neo4j-admin ({exc.strerror})") from None
    if on_output is not None:
        on_output(done.stdout)
    if done.returncode == 0:
        return
    text = f"{done.stdout}\n{done.stderr}"
    if "database is in use" in text.lower():
        raise StoreUnavailable(
            f"{target.home}: Neo4j is running on this home; stop it first (Neo4j Community "
            "allows an initial load only while the database is stopped)"
        )
    # The database was empty before: remove what the failed import left, so that the server
    # makes it new again on its next start, and nothing of the load stays.
    shutil.rmtree(target.folder, ignore_errors=True)
    shutil.rmtree(target.data / "transactions" / target.database, ignore_errors=True)
    lines = [
        ln.strip()
        for ln in text.splitlines()
        if ln.strip() and not ln.lstrip().startswith(("at ", "..."))
    ]
    raise StoreError(
        f"neo4j-admin database import failed (exit {done.returncode}); nothing was loaded "
        f"and database '{target.database}' is new again: {' | '.join(lines[-6:])}"
    )
