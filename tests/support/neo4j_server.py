"""Provide a Neo4j server to the test suite.

Order of preference (see :func:`provide_server`):

1. ``NEO4J_URI`` (with ``NEO4J_USER`` / ``NEO4J_PASSWORD``) names an existing server.
2. A reachable Docker daemon runs ``neo4j:5.26-community`` through testcontainers.
3. A local Neo4j Community server assembled from Maven Central jars
   (``tools/neo4j-local``) and started as a plain ``java`` process.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import neo4j

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_TOOL_DIR = REPO_ROOT / "tools" / "neo4j-local"
DOCKER_IMAGE = "neo4j:5.26-community"
DEFAULT_HEAP = ("512m", "1g")
DEFAULT_PAGECACHE_BYTES = 256 * 1024 * 1024
STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
LOG_TAIL_LINES = 40

# Without these the page cache and transaction-log code fall back to slower paths and
# flood debug.log with warnings; they mirror the defaults of a packaged Neo4j 5 server.
_JVM_FLAGS = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "-XX:+ExitOnOutOfMemoryError",
)
_JARS_COMPLETE_MARKER = ".complete"
_DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"


class Neo4jUnavailableError(RuntimeError):
    """No way to provide a Neo4j server on this machine."""


@dataclass(frozen=True)
class Neo4jServer:
    uri: str
    user: str
    password: str
    version: str
    how: str  # "env", "testcontainers" or "local-maven"
    # Set when how == "local-maven", so tests can stop/restart the server.
    local: LocalNeo4j | None = field(default=None, repr=False, compare=False)


def how_to_provide() -> str:
    return (
        "Provide a Neo4j 5.26 server by setting NEO4J_URI (plus NEO4J_USER and "
        "NEO4J_PASSWORD), or by starting a Docker daemon (with the testcontainers package "
        "installed), or by installing Java 17+ and Maven so the suite can build Neo4j "
        "Community from Maven Central."
    )


def provide_server() -> contextlib.AbstractContextManager[Neo4jServer]:
    """Context manager yielding a running Neo4j server; it is torn down on exit."""
    return _provide_server()


@contextlib.contextmanager
def _provide_server() -> Iterator[Neo4jServer]:
    uri = os.environ.get("NEO4J_URI")
    if uri:
        user = os.environ.get("NEO4J_USER", "neo4j")
        password = os.environ.get("NEO4J_PASSWORD", "")
        yield Neo4jServer(uri, user, password, server_version(uri, user, password), "env")
        return

    container_cls = _testcontainers_neo4j() if _docker_available() else None
    if container_cls is not None:
        password = secrets.token_urlsafe(18)
        with container_cls(DOCKER_IMAGE, password=password) as container:
            uri = str(container.get_connection_url())
            user = "neo4j"
            yield Neo4jServer(
                uri, user, password, server_version(uri, user, password), "testcontainers"
            )
        return

    with LocalNeo4j() as local:
        yield local.server()


def server_version(uri: str, user: str, password: str) -> str:
    with neo4j.GraphDatabase.driver(uri, auth=(user, password)) as driver:
        records, _, _ = driver.execute_query("CALL dbms.components() YIELD name, versions")
    versions = {record["name"]: record["versions"][0] for record in records}
    return str(versions.get("Neo4j Kernel") or next(iter(versions.values())))


def _docker_available() -> bool:
    # docker-py only looks at DOCKER_HOST or this socket; checking first also avoids the
    # unclosed-socket ResourceWarning that docker.from_env() leaks when it fails.
    if not os.environ.get("DOCKER_HOST") and not Path(_DEFAULT_DOCKER_SOCKET).exists():
        return False
    try:
        docker = importlib.import_module("docker")
        client = docker.from_env()
        try:
            client.ping()
        finally:
            client.close()
    except Exception:  # no package, no socket, daemon down: all mean "no Docker"
        return False
    return True


def _testcontainers_neo4j() -> Any:
    for module_name in ("testcontainers.neo4j", "testcontainers.community.neo4j"):
        try:
            return importlib.import_module(module_name).Neo4jContainer
        except (ImportError, AttributeError):
            continue
    return None


# --- local server built from Maven Central -------------------------------------------------


def neo4j_version_from_pom() -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(LOCAL_TOOL_DIR / "pom.xml").getroot()
    version = root.findtext("m:properties/m:neo4j.version", namespaces=ns)
    if not version:
        raise RuntimeError(f"no <neo4j.version> property in {LOCAL_TOOL_DIR / 'pom.xml'}")
    return version.strip()


def cache_dir() -> Path:
    configured = os.environ.get("TRACEGRAPH_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "tracegraph"


def ensure_jars() -> Path:
    """Return the directory holding the Neo4j jars, downloading them with Maven if needed.

    The jars are collected in a scratch directory next to the final one and renamed into
    place, so an interrupted download is never mistaken for a complete one.
    """
    lib = cache_dir() / f"neo4j-{neo4j_version_from_pom()}" / "lib"
    if (lib / _JARS_COMPLETE_MARKER).is_file():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jUnavailableError(f"Maven (mvn) is not on PATH. {how_to_provide()}")
    lib.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="lib-partial-", dir=lib.parent))
    try:
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-Dstyle.color=never",
                "-f",
                str(LOCAL_TOOL_DIR / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={scratch}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"mvn dependency:copy-dependencies failed ({result.returncode}):\n"
                + _tail(result.stdout)
            )
        (scratch / _JARS_COMPLETE_MARKER).write_text(neo4j_version_from_pom() + "\n")
        if lib.exists() and not (lib / _JARS_COMPLETE_MARKER).is_file():
            shutil.rmtree(lib)  # leftover without marker: not ours to trust
        with contextlib.suppress(OSError):  # losing a race to another process is fine
            scratch.rename(lib)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not (lib / _JARS_COMPLETE_MARKER).is_file():
        raise RuntimeError(f"could not install Neo4j jars into {lib}")
    return lib


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise Neo4jUnavailableError(f"Java (java) is not on PATH. {how_to_provide()}")
    return java


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _heap_flags() -> list[str]:
    """``TRACEGRAPH_NEO4J_HEAP`` is either ``SIZE`` (min = max) or ``MIN:MAX``, e.g. ``2g``."""
    configured = os.environ.get("TRACEGRAPH_NEO4J_HEAP", "").strip()
    if not configured:
        xms, xmx = DEFAULT_HEAP
    elif ":" in configured:
        xms, xmx = (part.strip() for part in configured.split(":", 1))
    else:
        xms = xmx = configured
    return [f"-Xms{xms}", f"-Xmx{xmx}"]


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])


class LocalNeo4j:
    """A Neo4j Community DBMS running as a ``java`` child process on a loopback port.

    Port, password and data directory stay the same across :meth:`stop` / :meth:`start`,
    so a restart keeps the data and clients can reconnect with the same settings.
    """

    def __init__(
        self,
        *,
        pagecache_bytes: int = DEFAULT_PAGECACHE_BYTES,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self.user = "neo4j"
        self.password = secrets.token_urlsafe(18)
        self.port = free_port()
        self.pagecache_bytes = pagecache_bytes
        self.startup_timeout_s = startup_timeout_s
        self.version = ""
        self.workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        return self._workdir() / "home"

    @property
    def log_path(self) -> Path:
        """Launcher stdout/stderr; Neo4j's own log is ``home/logs/debug.log``."""
        return self._workdir() / "neo4j.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def server(self) -> Neo4jServer:
        if not self.running:
            raise RuntimeError("local Neo4j is not running")
        return Neo4jServer(self.uri, self.user, self.password, self.version, "local-maven", self)

    def start(self) -> None:
        if self.running:
            return
        java = find_java()
        lib = ensure_jars()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="tracegraph-neo4j-"))
        self.home.mkdir(exist_ok=True)
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log_file = self.log_path.open("ab")
        command = [
            java,
            *_heap_flags(),
            *_JVM_FLAGS,
            "-cp",
            str(lib / "*"),
            str(LOCAL_TOOL_DIR / "Launcher.java"),
            "--home",
            str(self.home),
            "--port",
            str(self.port),
            "--password",
            self.password,
            "--pagecache",
            str(self.pagecache_bytes),
            # The JVM exits when this pipe closes, i.e. also when we are killed.
            "--watch-stdin",
            "true",
        ]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self._workdir(),
        )
        try:
            self._wait_until_ready(log_offset)
            self.version = server_version(self.uri, self.user, self.password)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()  # SIGTERM: the launcher's shutdown hook stops the DBMS
                try:
                    process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdin is not None:
                process.stdin.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> LocalNeo4j:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _workdir(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("local Neo4j has not been started")
        return self.workdir

    def _wait_until_ready(self, log_offset: int) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while not any(line.startswith("READY ") for line in self._log_lines_since(log_offset)):
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"local Neo4j exited with code {self._process.returncode} before it was "
                    f"ready.\n{self._diagnostics()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(self._not_ready_message())
            time.sleep(0.1)
        with neo4j.GraphDatabase.driver(self.uri, auth=(self.user, self.password)) as driver:
            while True:
                try:
                    driver.verify_connectivity()
                    return
                except neo4j.exceptions.ServiceUnavailable:
                    if time.monotonic() > deadline:
                        raise TimeoutError(self._not_ready_message()) from None
                    time.sleep(0.2)

    def _not_ready_message(self) -> str:
        return (
            f"local Neo4j was not ready within {self.startup_timeout_s:.0f} s.\n"
            f"{self._diagnostics()}"
        )

    def _diagnostics(self) -> str:
        # Quoted rather than referenced by path: the work dir is deleted on close().
        parts = []
        for title, path in (
            ("launcher output", self.log_path),
            ("debug.log", self.home / "logs" / "debug.log"),
        ):
            with contextlib.suppress(OSError):
                lines = _read_lines(path)
                if lines:
                    parts.append(
                        f"--- last lines of {title} ---\n" + "\n".join(lines[-LOG_TAIL_LINES:])
                    )
        return "\n".join(parts) or "(no output)"

    def _log_lines_since(self, offset: int) -> list[str]:
        return _read_lines(self.log_path, offset)


def _read_lines(path: Path, offset: int = 0) -> list[str]:
    with path.open("rb") as file:
        file.seek(offset)
        return file.read().decode(errors="replace").splitlines()
