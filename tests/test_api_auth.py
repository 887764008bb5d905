"""Who may call what: every endpoint × every role, no key, a malformed, unknown or revoked key.

Allowed callers get the answer (200): each request is a valid one, so a wrong 4xx would show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from cli.main import app as cli_app
from tests.support.api import TestClient, api_settings, bearer, make_app, put_key
from tracegraph import cases
from tracegraph.demo import load_demo
from tracegraph.keys import CASE_READ, CASE_WRITE, EVIDENCE, QUERY, WRITE, Role, revoke_key
from tracegraph.store.base import GraphStore, HookRecord

RECORDS = [
    {"type": "Supplier", "id": "S-AUTH", "name": "Matrix Metals"},
    {"type": "MaterialLot", "id": "L-AUTH", "received_at": "2026-02-01"},
    {"type": "SUPPLIED", "from": "Supplier:S-AUTH", "to": "MaterialLot:L-AUTH"},
]

#: One EPCIS 2.0 document: a device commissioned (docs/epcis.md).
EPCIS: dict[str, Any] = {
    "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
    "type": "EPCISDocument",
    "schemaVersion": "2.0",
    "creationDate": "2026-03-01T12:00:00Z",
    "epcisBody": {
        "eventList": [
            {
                "type": "ObjectEvent",
                "eventID": "urn:uuid:5f0c2a4e-0000-4000-8000-000000000001",
                "eventTime": "2026-03-01T10:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "action": "ADD",
                "bizStep": "commissioning",
                "epcList": ["urn:epc:id:sgtin:0614141.812345.SN1"],
            }
        ]
    },
}

#: The recall case `served` opens (the first of this year).
CASE = f"RC-{dt.datetime.now(dt.UTC).year}-0001"
OPEN_CASE = {"suspects": ["MaterialLot:L-2026-0042"], "title": "auth matrix"}

#: (method, path, request arguments, roles allowed besides admin)
ENDPOINTS: list[tuple[str, str, dict[str, Any], frozenset[Role]]] = [
    ("POST", "/v1/import",
     {"content": b"".join(orjson.dumps(r) + b"\n" for r in RECORDS)}, WRITE),
    ("POST", "/v1/events", {"json": RECORDS}, WRITE),
    ("POST", "/v1/epcis/capture", {"json": EPCIS}, WRITE),
    ("GET", "/v1/nodes/Device/D-000125", {}, QUERY),
    ("GET", "/v1/trace/MaterialLot/L-2026-0042", {"params": {"direction": "up"}}, QUERY),
    ("POST", "/v1/recall", {"json": {"suspects": ["MaterialLot:L-2026-0042"]}}, QUERY),
    ("GET", "/v1/impact/CO-118", {}, QUERY),
    ("POST", "/v1/common-cause",
     {"json": {"devices": ["Device:D-000125", "Device:D-000131"]}}, QUERY),
    ("GET", "/v1/evidence/Device/D-000125", {}, EVIDENCE),
    ("GET", "/v1/audit", {"params": {"key": "Device:D-000125"}}, EVIDENCE),
    ("GET", "/v1/checks", {}, QUERY),
    # the web page's own endpoints (api/web.py)
    ("GET", "/v1/whoami", {}, frozenset(Role)),
    ("GET", "/v1/search", {"params": {"q": "D-000125"}}, QUERY),
    ("GET", "/v1/layout/Device/D-000125", {}, QUERY),
    ("GET", "/v1/dashboard", {}, QUERY),
    ("GET", "/v1/dashboard/quality", {}, QUERY),
    ("POST", "/v1/recall/csv", {"json": {"suspects": ["MaterialLot:L-2026-0042"]}}, QUERY),
    # outbound events (api/hooks.py); `served` adds the hook h-auth
    ("GET", "/v1/findings", {"params": {"since": 0}}, QUERY),
    ("GET", "/v1/hooks", {}, frozenset()),
    ("POST", "/v1/hooks",
     {"json": {"url": "http://127.0.0.1:9/hook", "events": ["findings"]}}, frozenset()),
    ("GET", "/v1/hooks/log", {}, frozenset()),
    ("DELETE", "/v1/hooks/h-auth", {}, frozenset()),
    # recall cases (api/cases.py); `served` opens CASE, closed last
    ("GET", "/v1/cases", {}, CASE_READ),
    ("POST", "/v1/cases", {"json": OPEN_CASE}, CASE_WRITE),
    ("GET", f"/v1/cases/{CASE}", {}, CASE_READ),
    ("POST", f"/v1/cases/{CASE}/notify", {"json": {"customer": "C-01", "at": "2026-03-01"}},
     CASE_WRITE),
    ("POST", f"/v1/cases/{CASE}/respond", {"json": {"customer": "C-01", "at": "2026-03-02"}},
     CASE_WRITE),
    ("GET", f"/v1/cases/{CASE}/reports/fda-806", {}, CASE_READ),
    ("POST", f"/v1/cases/{CASE}/close", {}, CASE_WRITE),
]  # fmt: skip
PUBLIC = ["/healthz", "/readyz", "/openapi.json"]


@pytest.fixture
def served(request: pytest.FixtureRequest, store: GraphStore) -> Iterator[tuple[Any, GraphStore]]:
    load_demo(store)
    store.outbox.add_hook(HookRecord("h-auth", "http://127.0.0.1:9/hook", ("findings",),
                                     "s" * 32, dt.datetime.now(dt.UTC)))  # fmt: skip
    opened = cases.draft_case(store, OPEN_CASE["suspects"], title="auth matrix", actor="test")
    assert cases.open_case(store, opened, "test").id == CASE
    # The matrix sends wrong keys to every endpoint from one client: more than the attempt
    # limit allows (tests/test_api_hardening.py holds that limit).
    with TestClient(make_app(request, store, auth_failures=1000)) as client:
        yield client, store


def test_the_matrix_covers_every_endpoint_of_the_app(
    request: pytest.FixtureRequest, embedded_store: GraphStore
) -> None:
    document = make_app(request, embedded_store).openapi()
    routes = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        if path.startswith("/v1")
        for method in operations
    }
    templates = {
        (m, p.replace("Device/D-000125", "{type}/{id}")
              .replace("MaterialLot/L-2026-0042", "{type}/{id}")
              .replace("CO-118", "{change_id}")
              .replace("h-auth", "{hook_id}")
              .replace(CASE, "{case_id}")
              .replace("fda-806", "{kind}"))
        for m, p, _, _ in ENDPOINTS
    }  # fmt: skip
    assert templates == routes


def test_every_endpoint_by_every_caller(served: tuple[Any, GraphStore]) -> None:
    client, store = served
    keys = {str(role): put_key(store, role) for role in Role}
    doomed = put_key(store, Role.admin, "leaver")
    revoke_key(store, next(k.id for k in store.keyring.all() if k.name == "leaver"))
    callers: dict[str, dict[str, str]] = {
        **{name: bearer(key) for name, key in keys.items()},
        "no key": {},
        "another scheme": {"Authorization": f"Basic {keys['admin']}"},
        "unknown key": bearer("tg_12345678_" + "z" * 43),
        "revoked key": bearer(doomed),
    }
    wrong: list[str] = []
    for method, path, args, roles in ENDPOINTS:
        for caller, headers in callers.items():
            if caller in keys:
                expected = 200 if Role(caller) in roles | {Role.admin} else 403
            else:
                expected = 401
            response = client.request(method, path, headers=headers, **args)
            if response.status_code != expected:
                wrong.append(f"{method} {path} as {caller}: {response.status_code} {response.text}")
            elif expected != 200:
                problem = response.json()
                assert problem["type"] == {401: "/problems/unauthorized",
                                           403: "/problems/forbidden"}[expected]  # fmt: skip
    assert not wrong, "\n".join(wrong)
    for path in PUBLIC:
        assert client.get(path).status_code == 200, path


def test_keys_made_and_revoked_by_the_cli_apply_to_the_running_api(
    request: pytest.FixtureRequest, served: tuple[Any, GraphStore]
) -> None:
    client, store = served
    settings = api_settings(request, store)
    env = {"NEO4J_USER": settings.neo4j_user,
           "NEO4J_PASSWORD": settings.neo4j_password.get_secret_value()}  # fmt: skip

    def cli(*args: str) -> Any:
        result = CliRunner().invoke(
            cli_app, ["keys", *args, "--db", settings.db, "--format", "json"], env=env
        )
        assert result.exit_code == 0, result.stderr
        return orjson.loads(result.stdout)

    made = cli("create", "--role", "analyst", "--name", "night shift")
    assert made["key"].startswith("tg_")
    assert made["key"] not in orjson.dumps(cli("list")).decode()
    url = "/v1/nodes/Device/D-000125"
    assert client.get(url, headers=bearer(made["key"])).status_code == 200
    assert client.post("/v1/events", headers=bearer(made["key"]), json=RECORDS).status_code == 403
    revoked = cli("revoke", made["id"])
    assert revoked["revoked"] is True
    assert client.get(url, headers=bearer(made["key"])).status_code == 401
    listed = {k["name"]: k for k in cli("list")["keys"]}
    assert listed["night shift"]["revoked_at"] == revoked["revoked_at"]
