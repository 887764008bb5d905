"""The servers a benchmark run uses: a Neo4j sized for the run, and a PostgreSQL cluster of its
own (``initdb`` in a temporary folder, a free loopback port, stopped and removed after).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.neo4j_server import LocalNeo4j, free_port, server_version


@dataclass(frozen=True)
class Neo4jInfo:
    uri: str
    user: str
    password: str
    version: str
    how: str
    heap: str | None
    pagecache_bytes: int | None
    #: The server's process id when it runs here (for its CPU time), else None.
    pid: int | None = None
    #: The database's folder when the server runs here (for its size on disk), else None.
    store_dir: Path | None = None
    #: Stops and starts the server (same port, same data) when it runs here, else None.
    restart: Callable[[], None] | None = None

    def store_bytes(self) -> int | None:
        if self.store_dir is None or not self.store_dir.exists():
            return None
        return sum(p.stat().st_size for p in self.store_dir.rglob("*") if p.is_file())


@contextlib.contextmanager
def neo4j_server(
    heap: str,
    pagecache_bytes: int,
    uri: str | None = None,
    user: str | None = None,
    password: str | None = None,
) -> Iterator[Neo4jInfo]:
    """The Neo4j of ``uri`` if given (its memory is whatever it was started with), else a local
    Neo4j Community started here with this heap (-Xms = -Xmx) and page cache."""
    if uri:
        user = user or "neo4j"
        password = password or ""
        yield Neo4jInfo(
            uri, user, password, server_version(uri, user, password), "given", None, None
        )
        return
    before = os.environ.get("TRACEGRAPH_NEO4J_HEAP")
    os.environ["TRACEGRAPH_NEO4J_HEAP"] = heap
    try:
        with LocalNeo4j(pagecache_bytes=pagecache_bytes) as local:
            process = local._process
            yield Neo4jInfo(
                local.uri,
                local.user,
                local.password,
                local.version,
                "local",
                heap,
                pagecache_bytes,
                process.pid if process is not None else None,
                local.home / "data" / "databases" / "neo4j",
                local.restart,
            )
    finally:
        if before is None:
            os.environ.pop("TRACEGRAPH_NEO4J_HEAP", None)
        else:
            os.environ["TRACEGRAPH_NEO4J_HEAP"] = before


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def pg_bindir() -> Path:
    """The newest Debian PostgreSQL's bin folder (or wherever ``pg_ctl`` is on PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise PostgresUnavailableError(
        "PostgreSQL is not installed: run `make postgres` (Debian: apt-get install postgresql)"
    )


@dataclass
class PgCluster:
    """A throw-away PostgreSQL cluster. PostgreSQL refuses to run as root: as root, the
    cluster belongs to (and runs as) the ``postgres`` user that Debian's package creates."""

    shared_buffers: str = "256MB"
    work_mem: str = "256MB"
    port: int = 0
    workdir: Path | None = None
    version: str = ""
    _as_user: tuple[str, ...] = ()

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=bench dbname=postgres"

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout)[-2000:]}"
            )
        return result.stdout

    def start(self) -> None:
        bindir = pg_bindir()
        self.workdir = Path(tempfile.mkdtemp(prefix="tracegraph-pg-"))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.workdir, owner.pw_uid, owner.pw_gid)
            self._as_user = ("runuser", "-u", "postgres", "--")
        data = self.workdir / "data"
        self._run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "--auth=trust",
            "-U",
            "bench",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.port = free_port()
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {self.port}",
                f"-c unix_socket_directories={self.workdir}",
                f"-c shared_buffers={self.shared_buffers}",
                f"-c work_mem={self.work_mem}",
                "-c maintenance_work_mem=1GB",
                "-c effective_cache_size=8GB",
                # A benchmark copy, rebuilt every run: durability buys nothing here.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_wal_size=8GB",
                "-c checkpoint_timeout=30min",
                # JIT compilation costs more than it saves on these short OLTP-style queries.
                "-c jit=off",
                "-c random_page_cost=1.1",
            ]
        )
        self._run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.workdir / "server.log"),
            "-w",
            "-t",
            "120",
            "-o",
            options,
            "start",
        )
        self.version = self._run(str(bindir / "postgres"), "--version").strip()

    def stop(self) -> None:
        if self.workdir is None:
            return
        with contextlib.suppress(RuntimeError, FileNotFoundError):
            self._run(
                str(pg_bindir() / "pg_ctl"),
                "-D",
                str(self.workdir / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            )
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    def __enter__(self) -> PgCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used (0 if it is not ours to read)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
