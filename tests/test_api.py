"""The HTTP API (§6 of the contract) through FastAPI's TestClient, on both stores.

The app runs on the same store the test holds (the embedded file, or the session's Neo4j), so
a test can check what a request did in the store itself, and compare with the CLI.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from api.app import create_app
from api.paging import Cursor, Pager
from cli.main import app as cli_app
from tests.support.api import (
    TestClient,
    api_settings,
    bearer,
    fetch_all,
    from_ndjson,
    make_app,
    put_key,
)
from tracegraph.demo import load_demo
from tracegraph.errors import InvalidImport
from tracegraph.evidence import verify_package
from tracegraph.importer import import_paths
from tracegraph.keys import Role
from tracegraph.model import iso, utc
from tracegraph.settings import get_settings
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore

PROBLEM = "application/problem+json"
NDJSON = "application/x-ndjson"


@dataclass
class Api:
    client: TestClient
    store: GraphStore
    keys: dict[Role, str]
    request: pytest.FixtureRequest

    def headers(self, role: Role = Role.admin) -> dict[str, str]:
        return bearer(self.keys[role])

    def get(self, url: str, role: Role = Role.admin, **kw: Any) -> Any:
        return self.client.get(url, headers={**self.headers(role), **kw.pop("headers", {})}, **kw)

    def post(self, url: str, role: Role = Role.admin, **kw: Any) -> Any:
        return self.client.post(url, headers={**self.headers(role), **kw.pop("headers", {})}, **kw)

    def cli(self, *args: str) -> Any:
        """Run `tracegraph ARGS --db <this store> --format json`; its parsed stdout."""
        settings = api_settings(self.request, self.store)
        env = {
            "NEO4J_USER": settings.neo4j_user,
            "NEO4J_PASSWORD": settings.neo4j_password.get_secret_value(),
        }
        result = CliRunner().invoke(
            cli_app, [*args, "--db", settings.db, "--format", "json"], env=env
        )
        assert result.exit_code == 0, result.stderr
        return orjson.loads(result.stdout)


def _api(request: pytest.FixtureRequest, store: GraphStore, **settings: Any) -> Iterator[Api]:
    load_demo(store)
    keys = {role: put_key(store, role) for role in Role}
    with TestClient(make_app(request, store, **settings)) as client:
        yield Api(client, store, keys, request)


@pytest.fixture
def api(request: pytest.FixtureRequest, store: GraphStore) -> Iterator[Api]:
    """The demo data and a key per role, on each store."""
    yield from _api(request, store)


@pytest.fixture
def eapi(request: pytest.FixtureRequest, embedded_store: EmbeddedStore) -> Iterator[Api]:
    """The same on the embedded store only (for what does not involve the store)."""
    yield from _api(request, embedded_store)


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


NEW_LOT: list[dict[str, Any]] = [
    {"type": "Supplier", "id": "S-API", "name": "Posted Parts Ltd", "status": "approved"},
    {"type": "MaterialLot", "id": "L-API", "received_at": "2026-02-10", "quantity": 50},
    {"type": "SUPPLIED", "from": "Supplier:S-API", "to": "MaterialLot:L-API"},
    {"type": "CONSUMED_IN", "from": "MaterialLot:L-API", "to": "Batch:B-MB-104", "quantity": 5},
]


# --------------------------------------------------------------------------- errors


def test_problem_details_shape_is_pinned(eapi: Api) -> None:
    """RFC 9457: these exact members, the status repeated, a stable type per error kind."""
    missing = eapi.get("/v1/nodes/Device/NOPE")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json() == {
        "type": "/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "Device:NOPE: no such node in the store",
        "instance": "/v1/nodes/Device/NOPE",
    }
    cases = {
        "/problems/bad-input": eapi.get("/v1/trace/Device/D-000101", params={"as_of": "soon"}),
        "/problems/unauthorized": eapi.client.get("/v1/trace/Device/D-000101"),
        "/problems/forbidden": eapi.post("/v1/import", Role.analyst, content=jsonl(NEW_LOT)),
        "about:blank": eapi.get("/v1/no-such-endpoint"),
    }
    for kind, response in cases.items():
        body = response.json()
        assert response.headers["content-type"] == PROBLEM, kind
        assert set(body) == {"type", "title", "status", "detail", "instance"}, kind
        assert (body["type"], body["status"]) == (kind, response.status_code)
        assert body["detail"], kind
    bad_time = cases["/problems/bad-input"].json()
    assert bad_time["status"] == 422
    assert bad_time["detail"].startswith("as_of: not an ISO 8601 date")
    assert cases["/problems/unauthorized"].headers["www-authenticate"] == "Bearer"
    assert cases["about:blank"].json()["title"] == "Not Found"


def test_request_validation_is_bad_input_listing_every_problem(eapi: Api) -> None:
    response = eapi.get("/v1/trace/Gadget/D-1", params={"depth": 0, "direction": "sideways"})
    body = response.json()
    assert response.status_code == 422
    assert body["type"] == "/problems/bad-input"
    places = sorted(e.split(":")[0] for e in body["errors"])
    assert places == ["path.type", "query.depth", "query.direction"]
    assert body["detail"] == body["errors"][0] + " (and 2 more)"
    broken = eapi.post(
        "/v1/recall", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert (broken.status_code, broken.json()["type"]) == (422, "/problems/bad-input")


def test_a_too_large_body_is_413_declared_or_streamed_and_nothing_is_written(
    request: pytest.FixtureRequest, embedded_store: EmbeddedStore
) -> None:
    key = put_key(embedded_store, Role.integrator)
    body = jsonl(NEW_LOT * 20)
    assert len(body) > 2000
    with TestClient(make_app(request, embedded_store, max_body_bytes=2000)) as client:
        declared = client.post("/v1/import", headers=bearer(key), content=body)
        streamed = client.post(
            "/v1/import",
            headers=bearer(key),
            content=(body[i : i + 500] for i in range(0, len(body), 500)),
        )
        events = client.post("/v1/events", headers=bearer(key), json=NEW_LOT * 20)
    for response in (declared, streamed, events):
        assert response.status_code == 413
        assert response.json()["type"] == "/problems/body-too-large"
        assert "TRACEGRAPH_MAX_BODY_BYTES" in response.json()["detail"]
    assert "chunked" in streamed.request.headers.get("transfer-encoding", "")
    assert embedded_store.existing(["Supplier:S-API"]) == set()


def test_limits_beyond_the_maximum_are_refused_not_cut(
    request: pytest.FixtureRequest, embedded_store: EmbeddedStore
) -> None:
    load_demo(embedded_store)
    key = put_key(embedded_store, Role.analyst)
    with TestClient(make_app(request, embedded_store, max_page_size=20)) as client:
        too_many = client.get(
            "/v1/trace/MaterialLot/L-2026-0042", headers=bearer(key), params={"limit": 21}
        )
        default = client.get("/v1/trace/MaterialLot/L-2026-0042", headers=bearer(key))
    assert too_many.status_code == 422
    assert "TRACEGRAPH_MAX_PAGE_SIZE" in too_many.json()["detail"]
    # The default page (1000) is capped at the maximum, and the rest is a cursor away.
    page = default.json()["page"]
    assert page["limit"] == 20
    assert page["total"] == {"nodes": 36, "edges": 43}
    assert page["next_cursor"] is not None


# --------------------------------------------------------------------------- writes


def test_import_is_checked_whole_atomic_idempotent_and_audited(api: Api) -> None:
    before = api.store.audit_entries()
    bad = [*NEW_LOT[:2], {**NEW_LOT[1], "id": "L-BAD", "received_at": "last week"}, NEW_LOT[2]]
    bad.append({"type": "PRODUCED", "from": "Batch:B-MB-104", "to": "Device:NOWHERE"})
    refused = api.post("/v1/import", Role.integrator, content=jsonl(bad))
    problem = refused.json()
    assert refused.status_code == 422
    assert problem["type"] == "/problems/invalid-import"
    assert [e.split(":")[0] for e in problem["errors"]] == ["line 3", "line 5"]
    assert api.store.existing(["Supplier:S-API", "MaterialLot:L-API"]) == set()
    assert len(api.store.audit_entries()) == len(before)

    params = {"source": "MES", "reason": "goods receipt GR-77"}
    body = jsonl(NEW_LOT)
    first = api.post("/v1/import", Role.integrator, content=body, params=params)
    assert first.status_code == 200
    assert first.json() == {
        "records": 4,
        "nodes": 2,
        "edges": 2,
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "audit_seq": before[-1].seq + 1,
    }
    entry = api.store.audit_entries()[-1]
    assert (entry.actor, entry.operation, entry.source, entry.reason) == (
        "test-integrator",
        "api import",
        "MES",
        "goods receipt GR-77",
    )
    again = api.post("/v1/import", Role.integrator, content=body, params=params)
    assert again.json()["unchanged"] == 4
    assert (again.json()["created"], again.json()["updated"], again.json()["audit_seq"]) == (
        0,
        0,
        None,
    )
    assert len(api.store.audit_entries()) == len(before) + 1


def test_import_errors_are_the_cli_import_errors(eapi: Api, tmp_path: Path) -> None:
    """Same validation as `tracegraph import`: the same messages, only the place differs."""
    bad = [
        {"type": "Supplier", "id": "S-X"},
        {"type": "MaterialLot", "id": "L-X", "received_at": "2026-13-40", "colour": "red"},
        {"type": "SUPPLIED", "from": "Supplier:S-X", "to": "Batch:B-MB-104"},
    ]
    file = tmp_path / "bad.jsonl"
    file.write_bytes(jsonl(bad) + b"{not json\n")
    with pytest.raises(InvalidImport) as cli:
        import_paths(eapi.store, [file], WriteRequest("t", "import"))
    api = eapi.post("/v1/import", Role.integrator, content=file.read_bytes()).json()
    cli_messages = [d.removeprefix(f"{file}:") for d in cli.value.details]
    api_messages = [d.removeprefix("line ") for d in api["errors"]]
    assert len(api_messages) >= 4
    assert api_messages == cli_messages


def test_events_post_a_batch_with_its_consumed_lots_in_one_call(api: Api) -> None:
    batch = [
        {"type": "Batch", "id": "B-API", "started_at": "2026-03-02T07:00:00Z", "kind": "finished"},
        {"type": "Device", "id": "D-API", "manufactured_at": "2026-03-02T15:00:00Z"},
        {"type": "CONSUMED_IN", "from": "MaterialLot:L-2026-0042", "to": "Batch:B-API",
         "quantity": 4, "at": "2026-03-02T08:00:00Z"},
        {"type": "CONSUMED_IN", "from": "MaterialLot:L-2026-0061", "to": "Batch:B-API",
         "quantity": 6},
        {"type": "PRODUCED", "from": "Batch:B-API", "to": "Device:D-API"},
    ]  # fmt: skip
    posted = api.post("/v1/events", Role.integrator, json=batch, params={"source": "MES"})
    assert posted.status_code == 200
    assert posted.json()["created"] == 5
    assert api.store.audit_entries()[-1].operation == "api events"
    node = api.get("/v1/nodes/Batch/B-API").json()
    assert [(e["type"], e["from"]) for e in node["links"]["in"]] == [
        ("CONSUMED_IN", "MaterialLot:L-2026-0042"),
        ("CONSUMED_IN", "MaterialLot:L-2026-0061"),
    ]
    assert node["links"]["in"][0]["quantity"] == 4
    assert [e["to"] for e in node["links"]["out"]] == ["Device:D-API"]
    # The new device is now in the recall scope of the bad lot.
    scope = api.post("/v1/recall", json={"suspects": ["MaterialLot:L-2026-0042"]}).json()
    assert "Device:D-API" in [d["key"] for d in scope["devices"]]
    again = api.post("/v1/events", Role.integrator, json=batch)
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 5)

    not_objects = api.post("/v1/events", Role.integrator, json=[batch[0], "B-2", 7]).json()
    assert not_objects["errors"] == [
        "record 2: a record must be a JSON object",
        "record 3: a record must be a JSON object",
    ]
    for body in (b'{"type": "Batch"}', b"[", b"[]"):
        refused = api.post("/v1/events", Role.integrator, content=body)
        assert refused.status_code == 422
        assert refused.json()["detail"].startswith("request body:")


def test_reason_is_required_when_the_site_says_so(
    request: pytest.FixtureRequest, embedded_store: EmbeddedStore
) -> None:
    key = put_key(embedded_store, Role.integrator)
    with TestClient(make_app(request, embedded_store, require_reason=True)) as client:
        refused = client.post("/v1/events", headers=bearer(key), json=NEW_LOT[:1])
        taken = client.post(
            "/v1/events", headers=bearer(key), json=NEW_LOT[:1], params={"reason": "new source"}
        )
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("reason: required")
    assert taken.status_code == 200
    assert embedded_store.audit_entries()[-1].reason == "new source"


# --------------------------------------------------------------------------- reads


def test_node_shows_fields_versions_and_links_and_answers_as_of(api: Api) -> None:
    api.post("/v1/events", Role.integrator, json=[
        {"type": "Batch", "id": "B-MB-104", "started_at": "2026-01-08T07:00:00Z",
         "status": "quarantined"},
    ])  # fmt: skip
    node = api.get("/v1/nodes/Batch/B-MB-104").json()
    assert (node["key"], node["status"], node["kind"]) == (
        "Batch:B-MB-104",
        "quarantined",
        "subassembly",
    )
    assert [v["fields"]["status"] for v in node["versions"]] == ["released", "quarantined"]
    assert node["record"]["audit_seq"] == node["versions"][-1]["audit_seq"]
    stored = api.store.nodes(["Batch:B-MB-104"])["Batch:B-MB-104"]
    assert node["record"]["recorded_at"] == iso(stored.recorded_at)
    from tracegraph.model import Direction, RelType

    ins = api.store.edges(["Batch:B-MB-104"], list(RelType), Direction.up)
    outs = api.store.edges(["Batch:B-MB-104"], list(RelType), Direction.down)
    assert node["links"] == {"in": [e.as_json() for e in ins], "out": [e.as_json() for e in outs]}
    assert {e["type"] for e in node["links"]["in"]} >= {"CONSUMED_IN", "HAS_BATCH"}
    assert node["counts"] == {"versions": 2, "in": len(ins), "out": len(outs)}

    # Just before the update, the store knew only the first version.
    before = utc(node["versions"][1]["recorded_at"]) - dt.timedelta(microseconds=1)
    then = api.get("/v1/nodes/Batch/B-MB-104", params={"as_of": iso(before)}).json()
    assert then["status"] == "released"
    assert len(then["versions"]) == 1
    assert then["page"]["as_of"] == iso(before)
    # Before the demo was loaded, the batch did not exist.
    gone = api.get("/v1/nodes/Batch/B-MB-104", params={"as_of": "2000-01-01"})
    assert gone.status_code == 404


QUERIES: dict[str, tuple[list[str], str, str, dict[str, Any] | None]] = {
    "trace": (
        ["trace", "MaterialLot:L-2026-0042"],
        "GET",
        "/v1/trace/MaterialLot/L-2026-0042",
        None,
    ),
    "trace up, depth 2": (
        ["trace", "Device:D-000125", "--up", "--depth", "2"],
        "GET",
        "/v1/trace/Device/D-000125?direction=up&depth=2",
        None,
    ),
    "recall": (
        ["recall", "MaterialLot:L-2026-0042", "Equipment:EQ-SOLDER-2", "--to", "2026-02-01"],
        "POST",
        "/v1/recall",
        {"suspects": ["MaterialLot:L-2026-0042", "Equipment:EQ-SOLDER-2"], "to": "2026-02-01"},
    ),
    "impact": (["impact", "CO-118"], "GET", "/v1/impact/CO-118", None),
    "common cause": (
        ["common-cause", "--severity", "malfunction"],
        "POST",
        "/v1/common-cause",
        {"severity": "malfunction"},
    ),
    "audit log": (
        ["audit", "log", "MaterialLot:L-2026-0042"],
        "GET",
        "/v1/audit?key=MaterialLot:L-2026-0042",
        None,
    ),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_api_answers_equal_cli_answers(api: Api, name: str) -> None:
    args, method, url, body = QUERIES[name]
    expected = api.cli(*args)
    # Small pages, so the answer is put together from several: paging loses nothing.
    paged, pages = fetch_all(api.client, method, url, api.headers(), body, limit=3)
    assert paged == expected
    longest = max(pages[0]["page"]["total"].values())
    assert len(pages) == max(1, -(-longest // 3))
    streamed = api.client.request(
        method, url, json=body, headers={**api.headers(), "Accept": NDJSON}
    )
    assert streamed.headers["content-type"] == NDJSON
    assert from_ndjson(streamed.text) == expected


def test_pages_state_totals_and_follow_one_moment(api: Api) -> None:
    """Writes between pages do not shift items: later pages answer as of the first one."""
    url = "/v1/trace/MaterialLot/L-2026-0042"
    whole, _ = fetch_all(api.client, "GET", url, api.headers())
    first = api.get(url, params={"limit": 10}).json()
    assert first["page"]["total"] == {"nodes": 36, "edges": 43}
    assert (first["page"]["offset"], len(first["nodes"]), len(first["edges"])) == (0, 10, 10)
    assert first["nodes"] == whole["nodes"][:10]
    # A device built from a batch downstream of the lot: one node and one edge more.
    api.post("/v1/events", Role.integrator, json=[
        {"type": "Device", "id": "D-000121A", "manufactured_at": "2026-03-01"},
        {"type": "PRODUCED", "from": "Batch:B-LITE-303", "to": "Device:D-000121A"},
    ])  # fmt: skip
    pages = [first]
    while cursor := pages[-1]["page"]["next_cursor"]:
        pages.append(api.get(url, params={"limit": 10, "cursor": cursor}).json())
        assert pages[-1]["page"]["as_of"] == first["page"]["as_of"]
    assert len(pages) == 5  # 43 edges in pages of 10
    assert [n for p in pages for n in p["nodes"]] == whole["nodes"]
    assert [e for p in pages for e in p["edges"]] == whole["edges"]
    now = api.get(url).json()
    assert now["page"]["total"] == {"nodes": 37, "edges": 44}


def test_cursors_of_other_queries_or_made_up_are_refused(eapi: Api) -> None:
    down = eapi.get("/v1/trace/MaterialLot/L-2026-0042", params={"limit": 5}).json()
    cursor = down["page"]["next_cursor"]
    other = eapi.get(
        "/v1/trace/MaterialLot/L-2026-0042", params={"direction": "up", "cursor": cursor}
    )
    assert other.status_code == 422
    assert other.json()["detail"].startswith("cursor: belongs to another query")
    for made_up in ("abc", "eyJvIjogLTF9", cursor[:-4]):
        refused = eapi.get("/v1/trace/MaterialLot/L-2026-0042", params={"cursor": made_up})
        assert refused.status_code == 422, made_up
        assert refused.json()["detail"].startswith("cursor:")


def test_a_cursor_whose_answer_changed_is_a_conflict_not_a_shifted_page() -> None:
    """If the store was rewritten under a cursor (totals differ at its time), say so."""
    answer = {"nodes": [1, 2, 3], "edges": [1]}
    started = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    first = Pager(2, None, False, "q", started).render(answer)
    cursor = Cursor.decode(orjson.loads(first.body)["page"]["next_cursor"])
    assert cursor.offset == 2
    second = orjson.loads(Pager(2, cursor, False, "q", started).render(answer).body)
    assert (second["nodes"], second["edges"], second["page"]["next_cursor"]) == ([3], [], None)
    from api.errors import StaleCursor

    with pytest.raises(StaleCursor):
        Pager(2, cursor, False, "q", started).render({"nodes": [1, 2, 3, 4], "edges": [1]})


def test_ndjson_streams_everything_whatever_the_limit(eapi: Api) -> None:
    streamed = eapi.get("/v1/nodes/Batch/B-MB-104", params={"limit": 1}, headers={"Accept": NDJSON})
    lines = [json.loads(line) for line in streamed.text.splitlines()]
    head = lines[0]
    assert set(head) == {"summary", "total"}
    assert head["summary"]["key"] == "Batch:B-MB-104"
    assert head["summary"]["links"] == {}  # its lists come as lines
    assert len(lines) - 1 == sum(head["total"].values())
    assert {line["list"] for line in lines[1:]} == {"versions", "links.in", "links.out"}
    whole, _ = fetch_all(eapi.client, "GET", "/v1/nodes/Batch/B-MB-104", eapi.headers())
    assert from_ndjson(streamed.text) == whole


def test_evidence_is_a_verifiable_bagit_zip(eapi: Api, tmp_path: Path) -> None:
    response = eapi.get("/v1/evidence/Device/D-000125", Role.auditor)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert "evidence-Device-D-000125.zip" in response.headers["content-disposition"]
    package = tmp_path / "package.zip"
    package.write_bytes(response.content)
    assert verify_package(package).ok
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert any(n.endswith("manifest-sha256.txt") for n in names)
    assert any("/data/" in n for n in names)


def test_audit_answers_one_records_history(api: Api) -> None:
    api.post("/v1/events", Role.integrator, json=[
        {"type": "MaterialLot", "id": "L-2026-0042", "received_at": "2026-01-05T09:10:00Z",
         "quantity": 480},
    ], params={"reason": "recount"})  # fmt: skip
    log = api.get("/v1/audit", Role.auditor, params={"key": "MaterialLot:L-2026-0042"}).json()
    assert [v["change"] for v in log["versions"]] == ["create", "update"]
    assert (log["versions"][1]["actor"], log["versions"][1]["reason"]) == (
        "test-integrator",
        "recount",
    )
    edge = api.get(
        "/v1/audit", Role.auditor, params={"key": "SUPPLIED:Supplier:S-7->MaterialLot:L-2026-0042"}
    )
    assert edge.status_code == 200, edge.text
    assert edge.json()["kind"] == "edge"


def test_the_embedded_store_picks_up_writes_of_other_processes(eapi: Api, tmp_path: Path) -> None:
    assert eapi.get("/v1/nodes/Supplier/S-API").status_code == 404
    file = tmp_path / "new.jsonl"
    file.write_bytes(jsonl(NEW_LOT))
    settings = api_settings(eapi.request, eapi.store)
    result = CliRunner().invoke(cli_app, ["import", str(file), "--db", settings.db])
    assert result.exit_code == 0, result.stderr
    assert eapi.get("/v1/nodes/Supplier/S-API").json()["name"] == "Posted Parts Ltd"


def test_health_needs_no_key_and_says_nothing_secret(eapi: Api) -> None:
    assert eapi.client.get("/healthz").json() == {"status": "ok"}
    assert eapi.client.get("/readyz").json() == {"status": "ready", "store": "embedded"}
    document = eapi.client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert "/v1/trace/{type}/{id}" in document["paths"]


def test_no_app_exists_until_one_is_made() -> None:
    import api.app

    assert not [v for v in vars(api.app).values() if type(v).__name__ == "FastAPI"]
    made = create_app(get_settings(db="not-opened.tgdb"))
    assert made.state.settings.db == "not-opened.tgdb"
    assert not Path("not-opened.tgdb").exists()  # the store opens on the first request


# --------------------------------------------------------------------------- secrets


def test_keys_never_appear_in_answers_or_logs(eapi: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    own = eapi.keys[Role.auditor]
    # A caller who pastes its key where a record key goes gets its key blanked in the reason.
    echoed = eapi.get("/v1/audit", Role.auditor, params={"key": own})
    assert echoed.status_code in (404, 422)
    assert own not in echoed.text
    assert "***" in echoed.text
    wrong = "tg_00000000_" + "x" * 43
    refused = eapi.client.get("/v1/trace/Device/D-000101", headers=bearer(wrong))
    assert refused.status_code == 401
    assert wrong not in refused.text
    # (httpx logs the test's own requests, URL included: that is the client's log.)
    server = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert own not in server
    assert wrong not in server
    # The store keeps only digests.
    assert all(own not in repr(k) for k in eapi.store.keyring.all())


@pytest.mark.neo4j
def test_a_wrong_neo4j_password_is_a_503_that_never_shows_it(
    neo4j_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "not-the-password-" + "q" * 12
    settings = get_settings(
        db=neo4j_server.uri, neo4j_user=neo4j_server.user, neo4j_password=secret, retry_after=7
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        query = client.get("/v1/trace/Device/D-1", headers=bearer("tg_x_y"))
    for response in (ready, query):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
        assert response.json()["type"] == "/problems/store-unavailable"
        assert secret not in response.text
    assert secret not in caplog.text
