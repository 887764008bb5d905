"""The API against what outside clients tried (issue 18): records the stores could not write,
errors that cost the connection, bodies read before the key was checked, lines read in
quadratic time, redirects built from the Host header, answers without safety headers, CDN
scripts, unlimited key guessing, and a document looser than the server.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import orjson
import pytest
from starlette.requests import Request

from api import routes
from api.app import create_app
from tests.support.api import TestClient, bearer, make_app, put_key
from tests.support.neo4j_server import free_port
from tests.test_api_server import serving
from tracegraph.demo import load_demo
from tracegraph.keys import Role
from tracegraph.model import EntityType
from tracegraph.settings import get_settings
from tracegraph.store.base import GraphStore
from tracegraph.store.embedded import EmbeddedStore

PROBLEM = "application/problem+json"


@pytest.fixture
def demo(tmp_path: Any) -> EmbeddedStore:
    store = EmbeddedStore(tmp_path / "demo.tgdb")
    load_demo(store)
    return store


def nested_json(depth: int) -> bytes:
    """An object ``depth`` levels deep, as JSON text (orjson writes at most 255 levels)."""
    return b'{"a":' * (depth - 1) + b'{"leaf":1}' + b"}" * (depth - 1)


# --------------------------------------------------------------------------- records


def test_nested_attributes_are_bad_input_on_both_stores_not_a_server_error(
    request: pytest.FixtureRequest, store: GraphStore
) -> None:
    key = put_key(store, Role.integrator)
    deep = b'{"type":"Supplier","id":"S-DEEP","name":"Deep","attributes":' + nested_json(300)
    with TestClient(make_app(request, store)) as client:
        events = client.post("/v1/events", headers=bearer(key), content=b"[" + deep + b"}]")
        body = b'{"type":"Supplier","id":"S-OK","name":"Fine"}\n' + deep + b"}\n"
        imported = client.post("/v1/import", headers=bearer(key), content=body)
    for response, where in ((events, "record 1"), (imported, "line 2")):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["type"] == "/problems/invalid-import"
        assert problem["errors"] == [f"{where}: field 'attributes': nested deeper than 8 levels"]
    assert store.nodes(["Supplier:S-OK", "Supplier:S-DEEP"]) == {}


def test_a_50_mb_supplier_name_is_refused_naming_line_and_field(demo: EmbeddedStore) -> None:
    key = put_key(demo, Role.integrator)
    body = b'{"type":"Supplier","id":"S-OK","name":"Fine"}\n' + orjson.dumps(
        {"type": "Supplier", "id": "S-HUGE", "name": "N" * 50_000_000}
    )
    with TestClient(create_app(get_settings(db=str(demo.path)))) as client:
        response = client.post("/v1/import", headers=bearer(key), content=body)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        "line 2: field 'name': longer than 10,000 characters (50,000,000)"
    ]
    assert len(response.content) < 2000  # the value is not echoed
    assert demo.nodes(["Supplier:S-OK", "Supplier:S-HUGE"]) == {}


class _Streamed:
    """What `routes._jsonl` reads of a request: its body, in the chunks given."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def _read(chunks: list[bytes]) -> list[Any]:
    async def collect() -> list[Any]:
        body = cast(Request, _Streamed(chunks))
        return [(raw.where, raw.record, raw.problem) async for raw in routes._jsonl(body)]

    return asyncio.run(collect())


def test_import_lines_are_the_same_however_the_body_is_cut() -> None:
    body = (
        b'\xef\xbb\xbf{"type":"Supplier","id":"S-1","name":"A"}\n\n'
        b'{"type":"Supplier","id":"S-2","name":"B"}\r\n{not json}\n'
        b'  \n{"type":"Supplier","id":"S-3","name":"C"}'
    )
    whole = _read([body])
    assert [where for where, _, _ in whole] == ["line 1", "line 3", "line 4", "line 6"]
    assert whole[0][1] == {"type": "Supplier", "id": "S-1", "name": "A"}  # the BOM is taken
    assert whole[2][2] is not None  # line 4 is no JSON
    for size in (1, 2, 3, 7, 50):
        assert _read([body[i : i + size] for i in range(0, len(body), size)]) == whole
    assert _read([b"", body[:10], b"", body[10:], b""]) == whole
    # a byte order mark is taken at the start of the body only
    assert _read([b'{"type":"Supplier","id":"S-1","name":"A"}\n\xef\xbb\xbf{}'])[1][2] is not None


def test_a_long_line_in_many_chunks_is_read_in_linear_time() -> None:
    """32 MB in 32 KiB chunks: joining the pending line to each chunk (as before) copies and
    scans ~17 GB; reading it once is a few tens of milliseconds."""
    line = b'{"type":"Supplier","id":"S-1","name":"' + b"n" * 32_000_000 + b'"}'
    chunks = [line[i : i + 32_768] for i in range(0, len(line), 32_768)]
    started = time.monotonic()
    (raw,) = _read(chunks)
    assert time.monotonic() - started < 2.0
    assert raw[0] == "line 1"
    assert len(raw[1]["name"]) == 32_000_000


# --------------------------------------------------------------------------- connections


def test_an_unexpected_error_is_a_problem_500_on_a_connection_that_stays_open(
    demo: EmbeddedStore, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(get_settings(db=str(demo.path)))

    @app.get("/boom")
    def boom() -> None:  # a bug, as far as the client can tell
        raise RuntimeError("something nobody expected")

    uvicorn_log = logging.getLogger("uvicorn.error")  # it does not propagate to the root
    uvicorn_log.addHandler(caplog.handler)
    with serving(app) as base, caplog.at_level(logging.ERROR):
        host, port = base.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            connection.request("GET", "/boom")
            failed = connection.getresponse()
            problem = json.loads(failed.read())
            opened = connection.sock
            connection.request("GET", "/healthz")  # on the same keep-alive connection
            after = connection.getresponse()
            assert after.status == 200
            assert json.loads(after.read()) == {"status": "ok"}
            assert connection.sock is opened  # not reconnected
        finally:
            connection.close()
            uvicorn_log.removeHandler(caplog.handler)
    assert failed.status == 500
    assert failed.getheader("content-type") == PROBLEM
    assert failed.getheader("connection") != "close"
    assert problem == {
        "type": "/problems/internal-error",
        "title": "Internal error",
        "status": 500,
        "detail": "the server failed; see its log",
        "instance": "/boom",
    }
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert [r.name for r in logged] == ["tracegraph.api"]  # once, by the API, not by uvicorn


# --------------------------------------------------------------------------- keys first


def test_the_key_is_checked_before_the_body_is_parsed(demo: EmbeddedStore) -> None:
    key = put_key(demo, Role.analyst)
    with TestClient(create_app(get_settings(db=str(demo.path)))) as client:
        for path in ("/v1/recall", "/v1/common-cause", "/v1/events", "/v1/recall/csv"):
            nothing = client.post(path, content=b"{not json")
            wrong = client.post(path, content=b"{not json", headers=bearer("tg_12345678_nope"))
            for response in (nothing, wrong):
                assert response.status_code == 401, (path, response.text)
                assert response.json()["type"] == "/problems/unauthorized"
                assert response.headers["www-authenticate"] == "Bearer"
        valid = client.post("/v1/recall", content=b"{not json", headers=bearer(key))
        assert valid.status_code == 422
        assert client.post("/v1/events", content=b"[]", headers=bearer(key)).status_code == 403


def test_an_unauthenticated_body_is_not_waited_for(demo: EmbeddedStore) -> None:
    """A 95 MB body declared and not sent: the 401 comes without reading it (before, the
    server read the whole body first, so this request would wait for it)."""
    with serving(create_app(get_settings(db=str(demo.path)))) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=20) as conn:
            conn.sendall(
                b"POST /v1/recall HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 95000000\r\n\r\n" + b'{"suspects": ["'
            )
            answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401 "), answer


# --------------------------------------------------------------------------- redirects


def test_no_redirect_is_built_from_the_host_header(demo: EmbeddedStore) -> None:
    key = put_key(demo, Role.analyst)
    app = create_app(get_settings(db=str(demo.path)))
    with TestClient(app, follow_redirects=False) as client:
        headers = {**bearer(key), "Host": "evil.example"}
        for path in ("/v1/whoami/", "/v1/impact/CO-118/", "/v1/dashboard/", "/healthz/"):
            response = client.get(path, headers=headers)
            assert response.status_code == 404, path
            assert "location" not in response.headers
            assert response.headers["content-type"] == PROBLEM
        # an id ending in "/" is that id, which does not exist: not a redirect to another
        slashed = client.get("/v1/nodes/Device/D-000125/", headers=headers)
        assert slashed.status_code == 404
        assert slashed.json()["type"] == "/problems/not-found"
        assert client.get("/v1/whoami", headers=headers).status_code == 200


# --------------------------------------------------------------------------- headers, /docs


def test_api_answers_say_nosniff_and_no_store(demo: EmbeddedStore) -> None:
    key = put_key(demo, Role.admin)
    with TestClient(create_app(get_settings(db=str(demo.path)))) as client:
        answers = [
            client.get("/v1/whoami", headers=bearer(key)),
            client.get("/v1/nodes/Device/D-000125", headers=bearer(key)),
            client.get(
                "/v1/trace/Device/D-000125",
                headers={**bearer(key), "Accept": "application/x-ndjson"},
            ),
            client.get("/v1/nodes/Device/D-NONE", headers=bearer(key)),  # 404
            client.get("/v1/whoami"),  # 401
            client.get("/v1/evidence/Device/D-000125", headers=bearer(key)),  # a zip
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 404, 401, 200]
        for answer in answers:
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["cache-control"] == "no-store"
        for path in ("/healthz", "/openapi.json", "/"):
            assert client.get(path).headers["x-content-type-options"] == "nosniff"


def test_no_page_loads_scripts_from_elsewhere(demo: EmbeddedStore) -> None:
    with TestClient(create_app(get_settings(db=str(demo.path)))) as client:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            assert client.get(path).status_code == 404, path
        page = client.get("/")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        for text in (page.text, client.get("/static/app.js").text):
            assert "cdn" not in text.lower()
            assert '<script src="http' not in text


# --------------------------------------------------------------------------- attempts


def test_wrong_keys_are_limited_per_client_and_valid_ones_never_count(
    demo: EmbeddedStore,
) -> None:
    key = put_key(demo, Role.analyst)
    app = create_app(get_settings(db=str(demo.path), auth_failures=3, auth_failure_window=60))
    now = [1000.0]
    app.state.attempts.clock = lambda: now[0]
    guesser = TestClient(app, client=("203.0.113.7", 40000))
    colleague = TestClient(app, client=("198.51.100.2", 40000))
    with guesser, colleague:
        for _ in range(50):  # valid keys, and no key at all, are no failed attempts
            assert guesser.get("/v1/whoami", headers=bearer(key)).status_code == 200
            assert guesser.get("/v1/whoami").status_code == 401
        wrong = [guesser.get("/v1/whoami", headers=bearer(f"tg_guess000_{n}")) for n in range(3)]
        assert [r.status_code for r in wrong] == [401, 401, 401]
        now[0] += 10
        limited = guesser.get("/v1/whoami", headers=bearer("tg_guess000_3"))
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "50"
        assert limited.headers["content-type"] == PROBLEM
        assert limited.json()["type"] == "/problems/too-many-attempts"
        # while limited, a right key is not told apart from a wrong one
        assert guesser.get("/v1/whoami", headers=bearer(key)).status_code == 429
        # other clients are not affected
        assert colleague.get("/v1/whoami", headers=bearer(key)).status_code == 200
        now[0] += 50  # the first failures leave the window
        assert guesser.get("/v1/whoami", headers=bearer(key)).status_code == 200


# --------------------------------------------------------------------------- the document


def test_the_document_describes_keys_times_limits_and_records(demo: EmbeddedStore) -> None:
    document = create_app(get_settings(db=str(demo.path), max_page_size=500)).openapi()
    paths = document["paths"]

    def parameter(path: str, name: str, method: str = "get") -> dict[str, Any]:
        found = [p for p in paths[path][method]["parameters"] if p["name"] == name]
        schema: dict[str, Any] = found[0]["schema"]
        return schema

    times = [{"type": "string", "format": "date", "maxLength": 64},
             {"type": "string", "format": "date-time", "maxLength": 64}]  # fmt: skip
    assert parameter("/v1/trace/{type}/{id}", "as_of")["anyOf"] == times
    assert parameter("/v1/dashboard", "from")["anyOf"] == times
    assert parameter("/v1/trace/{type}/{id}", "limit")["anyOf"][0]["maximum"] == 500
    solid = r"[^\s\x1c-\x1f\x85]"  # what str.strip keeps, in ECMA 262's terms
    assert parameter("/v1/nodes/{type}/{id}", "id")["pattern"] == solid
    audit = parameter("/v1/audit", "key")["pattern"]
    assert audit.startswith(f"^({'|'.join(EntityType)}):")
    assert f"^SUPPLIED:Supplier:.*{solid}.*->MaterialLot:.*{solid}" in audit
    schemas = document["components"]["schemas"]
    recall = schemas["RecallRequest"]["properties"]
    assert recall["suspects"]["items"]["pattern"] == routes.KEY
    assert recall["from"]["anyOf"] == [*times, {"type": "null"}]
    events = paths["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert events["schema"]["items"] == {"$ref": "#/components/schemas/Record"}
    lines = paths["/v1/import"]["post"]["requestBody"]["content"]["application/x-ndjson"]
    assert lines["schema"] == {"$ref": "#/components/schemas/Record"}
    assert len(schemas["Record"]["oneOf"]) == len(EntityType) + 19
    supplier = schemas["Record.Supplier"]["properties"]
    assert supplier["id"]["maxLength"] == 200
    assert supplier["name"] == {"title": "Name", "type": "string", "pattern": solid,
                                "maxLength": 10_000}  # fmt: skip
    assert supplier["status"]["anyOf"][0] == {"$ref": "#/components/schemas/Record.SupplierStatus"}
    governs = schemas["Record.GOVERNS"]
    assert [v["properties"]["from"]["anyOf"][0]["pattern"][:10] for v in governs["anyOf"]] == [
        "^Document:",
        "^Process:[",
    ]
    text = json.dumps(document)
    assert "#/$defs/" not in text  # every reference resolves inside the document


# --------------------------------------------------------------------------- Neo4j down


def test_a_request_to_a_neo4j_that_is_down_is_503_at_once() -> None:
    down_neo4j = f"bolt://127.0.0.1:{free_port()}"  # nothing listens there
    settings = get_settings(db=down_neo4j, neo4j_password="secret-pw", neo4j_retry_seconds=30)
    with TestClient(create_app(settings)) as client:
        started = time.monotonic()
        response = client.get("/v1/whoami", headers=bearer("tg_12345678_whatever-it-is"))
        waited = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["detail"] == (
        f"Neo4j at {down_neo4j} is not reachable (connection refused): is the server running, "
        "and is --db / TRACEGRAPH_DB its address?"
    )
    assert waited < 15, "the request waited out the query retries (30 s)"
