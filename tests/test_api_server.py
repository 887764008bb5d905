"""The API through a real uvicorn server on a loopback port: `tracegraph serve` itself, and a
store that goes away and comes back under a running server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from tests.support.api import bearer, put_key
from tests.support.neo4j_server import LocalNeo4j, Neo4jServer, free_port
from tracegraph.demo import load_demo
from tracegraph.keys import Role
from tracegraph.model import EntityType
from tracegraph.settings import get_settings
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore

TRACE = "/v1/trace/MaterialLot/L-2026-0042"


class _Server(uvicorn.Server):
    """uvicorn that says when it listens (instead of being polled)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.listening.set()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run the app on a free loopback port in a thread; its base URL. Stopped on exit."""
    port = free_port()
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        assert server.listening.wait(60), "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive()


def test_serve_command_runs_the_api_on_loopback(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "served.tgdb")
    load_demo(store)
    key = put_key(store, Role.analyst)
    port = free_port()
    command = [str(Path(sys.executable).parent / "tracegraph"), "serve", "--port", str(port),
               "--db", str(store.path)]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env
    )
    log: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # until uvicorn says it listens (or the process ends)
            log.append(line)
            if "Uvicorn running on" in line:
                break
        assert process.poll() is None, "".join(log)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            answer = client.get(TRACE, headers=bearer(key), params={"limit": 5})
            assert answer.status_code == 200
            assert answer.json()["page"]["total"] == {"nodes": 36, "edges": 43}
            with client.stream(
                "GET", TRACE, headers={**bearer(key), "Accept": "application/x-ndjson"}
            ) as streamed:
                lines = list(streamed.iter_lines())
            assert streamed.headers["content-type"] == "application/x-ndjson"
            assert len(lines) == 1 + 36 + 43
            # A key pasted into a URL (a caller's mistake) must not reach the access log.
            assert client.get(f"/v1/audit?key={key}", headers=bearer(key)).status_code == 403
            assert client.get(TRACE).status_code == 401
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=30)
        log.append(rest)
    output = "".join(log)
    # A graceful stop: uvicorn finishes shutting down, then re-raises the SIGTERM it caught.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete." in output
    assert f"Uvicorn running on http://127.0.0.1:{port}" in output
    assert f'"GET {TRACE}?limit=5 HTTP/1.1" 200' in output
    assert "/v1/audit?key=tg_*** HTTP/1.1" in output
    assert key not in output


def test_serve_on_a_taken_port_fails_with_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [str(Path(sys.executable).parent / "tracegraph"), "serve", "--port", str(port),
             "--db", str(tmp_path / "s.tgdb")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1] == (
        f"tracegraph: the server could not start on 127.0.0.1:{port} (see above)"
    )
    assert "address already in use" in run.stderr


def test_an_embedded_store_that_goes_away_is_503_until_it_is_back(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "moving.tgdb")
    load_demo(store)
    key = put_key(store, Role.analyst)
    app = create_app(get_settings(db=str(store.path), retry_after=11))
    with serving(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        before = client.get(TRACE, headers=bearer(key))
        assert before.status_code == 200
        store.path.rename(tmp_path / "elsewhere.tgdb")
        for response in (client.get(TRACE, headers=bearer(key)), client.get("/readyz")):
            assert response.status_code == 503
            assert response.headers["retry-after"] == "11"
            assert response.json()["type"] == "/problems/store-unavailable"
        assert client.get("/healthz").status_code == 200  # alive, only not ready
        (tmp_path / "elsewhere.tgdb").rename(store.path)
        after = client.get(TRACE, headers=bearer(key))
        assert after.status_code == 200
        assert after.json()["nodes"] == before.json()["nodes"]
        assert client.get("/readyz").json() == {"status": "ready", "store": "embedded"}


@pytest.fixture
def local_neo4j(neo4j_server: Neo4jServer) -> Iterator[tuple[LocalNeo4j, Neo4jServer]]:
    """A Neo4j this test may stop: the session's own when the suite started it, else one more."""
    if neo4j_server.local is not None:
        local = neo4j_server.local
        try:
            yield local, neo4j_server
        finally:
            local.start()  # whatever happened, the rest of the suite gets its server back
        return
    with LocalNeo4j() as extra:
        yield extra, extra.server()


@pytest.mark.neo4j
def test_neo4j_stopped_under_a_running_api_is_503_and_the_api_recovers_by_itself(
    local_neo4j: tuple[LocalNeo4j, Neo4jServer],
) -> None:
    local, server = local_neo4j
    store = Neo4jStore(server.uri, server.user, server.password, batch=500)
    try:
        store.clear()
        load_demo(store)
        key = put_key(store, Role.analyst)
    finally:
        store.close()
    settings = get_settings(
        db=server.uri, neo4j_user=server.user, neo4j_password=server.password, retry_after=9
    )
    with serving(create_app(settings)) as base, httpx.Client(base_url=base, timeout=120) as client:
        before = client.get(TRACE, headers=bearer(key))
        assert before.status_code == 200
        local.stop()
        ready = client.get("/readyz")  # what an orchestrator polls: it finds out at once
        started = time.monotonic()
        down = client.get(TRACE, headers=bearer(key))
        waited = time.monotonic() - started
        for response in (ready, down):
            assert response.status_code == 503
            assert response.headers["retry-after"] == "9"
            assert response.json()["type"] == "/problems/store-unavailable"
            assert server.password not in response.text
        # Once the store is known to be down, requests fail fast instead of waiting out the
        # driver's retries (30 s).
        assert waited < 10
        assert client.get("/healthz").status_code == 200
        local.start()
        after = client.get(TRACE, headers=bearer(key))
        assert after.status_code == 200
        assert after.json() == before.json() | {"page": after.json()["page"]}
        assert client.get("/readyz").json() == {"status": "ready", "store": "neo4j"}


def test_concurrent_reads_and_writes_on_the_embedded_store(tmp_path: Path) -> None:
    """Requests run in a thread pool; the embedded store's requests take turns, so readers
    never see a write half done."""
    store = EmbeddedStore(tmp_path / "busy.tgdb")
    load_demo(store)
    reader, writer = put_key(store, Role.analyst), put_key(store, Role.integrator)
    devices = [
        [
            {"type": "Device", "id": f"D-9{n:02d}", "manufactured_at": "2026-03-01"},
            {"type": "PRODUCED", "from": "Batch:B-LITE-303", "to": f"Device:D-9{n:02d}"},
        ]
        for n in range(10)
    ]
    with serving(create_app(get_settings(db=str(store.path)))) as base:

        def read(_: int) -> tuple[int, int]:
            with httpx.Client(base_url=base, timeout=60) as client:
                answer = client.get(TRACE, headers=bearer(reader))
                return answer.status_code, answer.json()["page"]["total"]["nodes"]

        def write(records: list[dict[str, Any]]) -> int:
            with httpx.Client(base_url=base, timeout=60) as client:
                return client.post("/v1/events", headers=bearer(writer), json=records).status_code

        with ThreadPoolExecutor(8) as pool:
            reads = pool.map(read, range(40))
            writes = pool.map(write, devices)
            read_results, write_codes = list(reads), list(writes)
    assert write_codes == [200] * 10
    assert {code for code, _ in read_results} == {200}
    # Each read saw a whole number of the writes: 36 nodes, plus one per device written.
    assert all(36 <= nodes <= 46 for _, nodes in read_results)
    assert len(store.keys_of_type(EntityType.Device)) == 40 + 10
