"""TraceGraph as its users run it, on the run's own stores and data:

- **cold queries**: the wall time of one fresh `tracegraph` process (start-up, opening the store,
  the query, printing the JSON) for a small upstream trace and a small recall, on the embedded
  store, on Neo4j and on an embedded store of 1k devices built in the same run (the figure a
  size is judged against); and, for context, the start-up alone (`python -c "import cli.main"`);
  the first such process of the run on each store, and on Neo4j the first command after a
  restart of the server (`after_restart`);
- **concurrency**: `tracegraph serve` on the embedded store, under 1 and then under several
  HTTP clients at once, each making a fixed number of `POST /v1/recall` requests (small recalls
  and a few large ones): requests per second and the latency of the small recalls.

Every answer is checked (against the CSR copy's reach, and the two stores' CLI output against
each other) before any time of it is kept: a difference is one of the run's problems.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.data import Dataset
from benchmarks.probes import Candidate, RecallProbe, nearest
from benchmarks.timing import percentile
from tests.support.neo4j_server import free_port
from tracegraph.model import EntityType

Log = Callable[[str], None]

#: A "small" recall: the suspect whose reach is nearest this many devices (the data's lots and
#: batches reach whole finished batches of 50-200 devices).
SMALL_DEVICES = 50
#: The "large" recalls mixed into the HTTP load.
LARGE_DEVICES = 1_000
#: The devices of the embedded store that every size's cold figures are compared with.
REFERENCE_DEVICES = 1_000
#: Distinct small suspects the HTTP clients take turns over.
SMALL_SUSPECTS = 8
#: Every this-many-th request of an HTTP client is a large recall.
LARGE_EVERY = 10
#: Seconds `tracegraph serve` gets to answer /healthz.
SERVE_START_S = 120.0


def tracegraph_command() -> list[str]:
    """The `tracegraph` script of this environment (what a user types), else the module."""
    script = Path(sys.executable).with_name("tracegraph")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "cli.main"]


def summary(seconds: Sequence[float]) -> dict[str, Any]:
    return {
        "runs": len(seconds),
        "p50_s": statistics.median(seconds) if seconds else None,
        "min_s": min(seconds, default=None),
        "max_s": max(seconds, default=None),
        "samples_s": list(seconds),
    }


# --------------------------------------------------------------------------- cold queries


@dataclass(frozen=True)
class ColdStore:
    """One store the cold queries run on, with the queries chosen from its data."""

    name: str
    db: str
    env: dict[str, str]
    devices: int
    #: The upstream trace's start (a device the small recall reaches) and its expected reach.
    device: str
    upstream: frozenset[str]
    recall: RecallProbe
    recalled: frozenset[str]

    def commands(self) -> dict[str, list[str]]:
        return {
            "trace_up": ["trace", self.device, "--up", "--format", "json", "--db", self.db],
            "small_recall": ["recall", self.recall.suspect, "--format", "json", "--db", self.db],
        }


def cold_store(
    name: str,
    db: str,
    data: Dataset,
    measured: Sequence[Candidate],
    env: dict[str, str] | None = None,
) -> ColdStore:
    """The cold queries on a store of ``data``: the recall of the suspect nearest
    `SMALL_DEVICES` devices, and the upstream trace of the first device (by key) it reaches."""
    probe = nearest(measured, SMALL_DEVICES, 1)[0]
    reach = data.reach([probe.suspect])
    devices = data.devices_in(reach)
    device = devices[0]
    upstream = frozenset(data.keys[i] for i in data.reach([device], reverse=True))
    return ColdStore(
        name,
        db,
        env or {},
        data.type_count(EntityType.Device),
        device,
        upstream,
        probe,
        frozenset(devices),
    )


def _check(store: ColdStore, command: str, out: bytes) -> str | None:
    """What is wrong with a CLI answer (None: nothing)."""
    try:
        answer = orjson.loads(out)
        items = answer["nodes"] if command == "trace_up" else answer["devices"]
        got = {item["key"] for item in items}
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        return f"{command} on {store.name}: not the answer's JSON ({exc!r}): {out[:200]!r}"
    if command == "trace_up":
        got -= {store.device}
        if got != store.upstream:
            return (
                f"{command} {store.device} on {store.name}: {len(got)} nodes upstream, "
                f"expected {len(store.upstream)}"
            )
    elif got != store.recalled:
        return (
            f"{command} {store.recall.suspect} on {store.name}: {len(got)} devices, "
            f"expected {len(store.recalled)}"
        )
    return None


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, bytes, bytes]:
    """The wall time of one process, from its start to its exit."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, cwd=cwd, check=False)
    return time.perf_counter() - started, done.returncode, done.stdout, done.stderr


@dataclass(frozen=True)
class _Job:
    store: str
    command: str
    argv: list[str]
    env: dict[str, str]
    check: ColdStore | None


def cold_queries(
    stores: Sequence[ColdStore], runs: int, cwd: Path, log: Log
) -> tuple[dict[str, Any], list[str]]:
    """Each command on each store, and the bare start-up, as fresh processes in interleaved
    rounds (so the machine's noise falls on all of them alike): a first round whose answers
    are checked (and not timed), then ``runs`` timed ones. Returns the figures and the
    problems found; a command whose answer is wrong is not timed."""
    base = tracegraph_command()
    jobs = [
        _Job("startup", "import", [sys.executable, "-c", "import cli.main"], dict(os.environ), None)
    ]
    for store in stores:
        env = {**os.environ, **store.env}
        jobs += [
            _Job(store.name, command, [*base, *args], env, store)
            for command, args in store.commands().items()
        ]
    log(
        f"  cold: {len(jobs)} commands, each as 1 checked and {runs} timed fresh processes "
        f"({' '.join(base)})"
    )
    problems: list[str] = []
    failed: set[tuple[str, str]] = set()
    outputs: dict[tuple[str, str], bytes] = {}
    # The checked round's time: the first process of the run to open each store this way.
    first: dict[tuple[str, str], float] = {}
    times: dict[tuple[str, str], list[float]] = {(j.store, j.command): [] for j in jobs}
    for round_ in range(runs + 1):
        for job in jobs:
            ident = (job.store, job.command)
            if ident in failed:
                continue
            took, code, out, err = _timed(job.argv, job.env, cwd)
            problem = None
            if code != 0:
                problem = (
                    f"{job.command} on {job.store}: exit {code}: "
                    f"{err.decode(errors='replace').strip()[-500:]}"
                )
            elif round_ == 0 and job.check is not None:
                problem = _check(job.check, job.command, out)
                outputs[ident] = out
            if problem is not None:
                problems.append(f"cold {problem}")
                failed.add(ident)
            elif round_ > 0:
                times[ident].append(took)
            else:
                first[ident] = took
    # The same data in both stores: the CLI must print the same bytes from either.
    for command in ("trace_up", "small_recall"):
        pair = [outputs.get((name, command)) for name in ("embedded", "neo4j")]
        if None not in pair and pair[0] != pair[1]:
            problems.append(f"cold {command}: the embedded and Neo4j CLI answers differ")
    result: dict[str, Any] = {
        "command": base,
        "runs": runs,
        "startup": summary(times[("startup", "import")]),
        "stores": {},
    }
    for store in stores:
        trace = summary(times[(store.name, "trace_up")])
        recall = summary(times[(store.name, "small_recall")])
        result["stores"][store.name] = {
            "db": store.db,
            "devices": store.devices,
            "trace_up": {
                "key": store.device,
                "nodes": len(store.upstream),
                "first_s": first.get((store.name, "trace_up")),
                **trace,
            },
            "small_recall": {
                "suspect": store.recall.suspect,
                "devices": store.recall.devices,
                "first_s": first.get((store.name, "small_recall")),
                **recall,
            },
        }
        log(
            f"    {store.name}: trace --up {_ms(trace['p50_s'])} ms, recall of "
            f"{store.recall.devices} devices {_ms(recall['p50_s'])} ms (median wall)"
        )
    log(f"    start-up alone (import cli.main): {_ms(result['startup']['p50_s'])} ms")
    return result, problems


def after_restart(
    store: ColdStore, restart: Callable[[], None], cwd: Path, log: Log
) -> tuple[dict[str, Any], list[str]]:
    """Each command once as the first query after a restart of the Neo4j server (the same
    data, port and settings): its page cache and query caches start empty, and the first
    command also plans its queries. The operating system's file cache stays warm (emptying
    it needs root and would slow every other job on the machine); Neo4j reloads the pages that
    were hot before the stop in the background as it starts (page cache warm-up), so part of
    the store may be back in memory by the time the command runs. The restart itself is timed
    apart (until the server answers)."""
    base = tracegraph_command()
    env = {**os.environ, **store.env}
    figures: dict[str, Any] = {}
    problems: list[str] = []
    for command, args in store.commands().items():
        started = time.perf_counter()
        restart()
        restarted = time.perf_counter() - started
        took, code, out, err = _timed([*base, *args], env, cwd)
        problem = (
            f"{command}: exit {code}: {err.decode(errors='replace').strip()[-500:]}"
            if code != 0
            else _check(store, command, out)
        )
        if problem is not None:
            problems.append(f"cold after restart {problem}")
            continue
        figures[command] = {"first_s": took, "restart_s": restarted}
        log(f"    {command} after a restart: {took * 1000:,.0f} ms (restart {restarted:.1f} s)")
    return {"store": store.name, "commands": figures}, problems


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:,.0f}"


# --------------------------------------------------------------------------- HTTP


def _run(argv: list[str], cwd: Path) -> bytes:
    done = subprocess.run(argv, capture_output=True, cwd=cwd, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[-6:])} failed ({done.returncode}): "
            f"{done.stderr.decode(errors='replace')[-1000:]}"
        )
    return done.stdout


def make_key(db: Path, cwd: Path) -> str:
    """An analyst key for the benchmark, made as a user makes one."""
    out = _run(
        [
            *tracegraph_command(),
            "keys",
            "create",
            "--role",
            "analyst",
            "--name",
            f"benchmark-{os.getpid()}-{time.time_ns()}",
            "--db",
            str(db),
            "--format",
            "json",
        ],
        cwd,
    )
    key: str = orjson.loads(out)["key"]
    return key


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server we started: SIGINT (uvicorn's graceful stop), then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def served(db: Path, log_path: Path, cwd: Path) -> Iterator[tuple[str, float]]:
    """`tracegraph serve` on the store, on a free loopback port, until the block ends (also on
    failure). Yields its base URL and the seconds it took to answer /healthz."""
    port = free_port()
    argv = [
        *tracegraph_command(),
        "serve",
        "--db",
        str(db),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as server_log:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=server_log, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"tracegraph serve exited ({process.returncode}): "
                    f"{log_path.read_text(errors='replace')[-1000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=2.0).status_code == 200:
                    break
            if time.perf_counter() - started > SERVE_START_S:
                raise RuntimeError(
                    f"tracegraph serve did not answer /healthz in {SERVE_START_S:g} s"
                )
            time.sleep(0.1)
        yield base, time.perf_counter() - started
    finally:
        _stop(process)


@dataclass
class _Client:
    """One client's requests and what came back."""

    requests: list[RecallProbe]
    latencies: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _requests(
    small: Sequence[RecallProbe], large: Sequence[RecallProbe], client: int, count: int
) -> list[RecallProbe]:
    """A client's mix: small recalls taking turns (each client starts elsewhere), and every
    `LARGE_EVERY`-th request a large one."""
    out: list[RecallProbe] = []
    for i in range(count):
        if large and i % LARGE_EVERY == LARGE_EVERY - 1:
            out.append(large[(client + i // LARGE_EVERY) % len(large)])
        else:
            out.append(small[(client + i) % len(small)])
    return out


def _recall(http: httpx.Client, probe: RecallProbe) -> str | None:
    """One request; what is wrong with its answer (None: nothing)."""
    response = http.post("/v1/recall", json={"suspects": [probe.suspect]})
    if response.status_code != 200:
        return f"recall {probe.suspect}: HTTP {response.status_code}: {response.text[:200]}"
    total = orjson.loads(response.content)["page"]["total"].get("devices", 0)
    if total != probe.devices:
        return f"recall {probe.suspect}: {total} devices, expected {probe.devices}"
    return None


def _load(
    base: str,
    key: str,
    clients: int,
    small: Sequence[RecallProbe],
    large: Sequence[RecallProbe],
    count: int,
    small_devices: int,
) -> dict[str, Any]:
    """``clients`` threads, each with its own connection, released together; the wall time
    runs from their release to the last answer."""
    work = [_Client(_requests(small, large, c, count)) for c in range(clients)]
    gate = threading.Barrier(clients + 1)

    def client(state: _Client) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=600.0) as http:
                with contextlib.suppress(httpx.HTTPError):
                    http.get("/healthz")  # connect before the clock starts
                gate.wait(SERVE_START_S)
                for probe in state.requests:
                    kind = "small" if probe.devices <= small_devices else "large"
                    started = time.perf_counter()
                    try:
                        problem = _recall(http, probe)
                    except (httpx.HTTPError, KeyError, ValueError) as exc:
                        problem = f"recall {probe.suspect}: {type(exc).__name__}: {exc}"
                    state.latencies.append((kind, time.perf_counter() - started))
                    if problem is not None:
                        state.errors.append(problem)
        except Exception as exc:  # a client that died is one of the run's problems
            state.errors.append(f"client stopped: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in work]
    for thread in threads:
        thread.start()
    gate.wait(SERVE_START_S)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    requests = sum(len(w.latencies) for w in work)
    out: dict[str, Any] = {
        "clients": clients,
        "requests": requests,
        "seconds": seconds,
        "requests_per_s": requests / seconds if seconds else None,
        "errors": [e for w in work for e in w.errors][:10],
        "error_count": sum(len(w.errors) for w in work),
    }
    for kind in ("small", "large"):
        took = [s for w in work for k, s in w.latencies if k == kind]
        out[kind] = {
            "requests": len(took),
            "p50_s": statistics.median(took) if took else None,
            "p95_s": percentile(took, 95) if took else None,
        }
    return out


def http_throughput(
    db: Path,
    measured: Sequence[Candidate],
    clients: Sequence[int],
    per_client: int,
    work: Path,
    log: Log,
) -> tuple[dict[str, Any], list[str]]:
    """Recall through `tracegraph serve` on the embedded store, under each number of clients.
    Returns the figures and the problems found (failed requests, wrong answers)."""
    small = nearest(measured, SMALL_DEVICES, SMALL_SUSPECTS)
    small_devices = max(p.devices for p in small)
    large = [p for p in nearest(measured, LARGE_DEVICES, 2) if p.devices > small_devices]
    problems: list[str] = []
    key = make_key(db, work)
    result: dict[str, Any] = {
        "store": "embedded",
        "requests_per_client": per_client,
        "large_every": LARGE_EVERY,
        "small": [p.as_json() for p in small],
        "large": [p.as_json() for p in large],
        "runs": [],
    }
    log(
        f"  http: {len(small)} small suspects ({min(p.devices for p in small)}-"
        f"{small_devices} devices), large {[p.devices for p in large]}; "
        f"{per_client} requests per client"
    )
    with served(db, work / "serve.log", work) as (base, startup):
        result["serve_startup_s"] = startup
        # Every suspect once, checked, before anything is timed (and the store's first reads).
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=600.0
        ) as http:
            for probe in [*small, *large]:
                problem = _recall(http, probe)
                if problem is not None:
                    problems.append(f"http {problem}")
        if problems:
            return result, problems
        for n in clients:
            run = _load(base, key, n, small, large, per_client, small_devices)
            result["runs"].append(run)
            if run["error_count"]:
                problems.append(
                    f"http, {n} clients: {run['error_count']} of {run['requests']} requests "
                    f"failed (first: {run['errors'][0]})"
                )
            log(
                f"    {n} client(s): {run['requests']} requests in {run['seconds']:.1f} s = "
                f"{run['requests_per_s']:.1f}/s; small recall p50 "
                f"{_ms(run['small']['p50_s'])} ms, p95 {_ms(run['small']['p95_s'])} ms"
            )
    return result, problems
