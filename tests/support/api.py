"""Helpers for the API tests: an app on a given store, keys of every role, a test client."""

from __future__ import annotations

import copy
import datetime as dt
import warnings
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest
from fastapi import FastAPI

from api.app import create_app
from tracegraph.keys import Role, digest
from tracegraph.settings import Settings, get_settings
from tracegraph.store.base import ApiKeyRecord, GraphStore

with warnings.catch_warnings():
    # Starlette 1.x asks for `httpx2` in its test client; httpx still works the same.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

__all__ = [
    "ROLES",
    "TestClient",
    "api_settings",
    "bearer",
    "fetch_all",
    "from_ndjson",
    "make_app",
    "put_key",
]

ROLES = tuple(Role)


def put_key(store: GraphStore, role: Role | str, name: str | None = None) -> str:
    """Store a key with a known secret (what `keys create` would print) and return it."""
    key_id = f"{role}"[:4] + "0000"
    secret = f"tg_{key_id}_test-secret-for-{role}-{name or 'default'}"
    store.keyring.add(
        ApiKeyRecord(
            id=f"{key_id}-{name or 'default'}",
            name=name or f"test-{role}",
            role=str(role),
            sha256=digest(secret),
            created_at=dt.datetime.now(dt.UTC),
        )
    )
    return secret


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def api_settings(request: pytest.FixtureRequest, store: GraphStore, **overrides: Any) -> Settings:
    """Settings naming the same store as ``store`` (for Neo4j: the session server)."""
    if store.kind == "neo4j":
        server = request.getfixturevalue("neo4j_server")
        return get_settings(
            db=server.uri, neo4j_user=server.user, neo4j_password=server.password, **overrides
        )
    return get_settings(db=str(store.path), **overrides)  # type: ignore[attr-defined]


def make_app(request: pytest.FixtureRequest, store: GraphStore, **overrides: Any) -> FastAPI:
    return create_app(api_settings(request, store, **overrides))


def _put(doc: dict[str, Any], dotted: str, items: list[Any]) -> None:
    *parents, last = dotted.split(".")
    for name in parents:
        doc = doc[name]
    doc[last] = items


def _get(doc: dict[str, Any], dotted: str) -> list[Any]:
    for name in dotted.split("."):
        doc = doc[name]
    assert isinstance(doc, list)
    return doc


def fetch_all(
    client: TestClient,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any = None,
    limit: int | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Follow `next_cursor` to the last page; the answer with every list whole (and no
    `page`), and the pages as they came."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        base, _, given = url.partition("?")
        query: dict[str, Any] = dict(parse_qsl(given))
        query.update(params or {})
        if limit:
            query["limit"] = limit
        if cursor:
            query["cursor"] = cursor
        response = client.request(method, base, headers=headers, json=body, params=query)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["page"]["next_cursor"]
        if cursor is None:
            break
    whole = copy.deepcopy({k: v for k, v in pages[0].items() if k != "page"})
    for name in pages[0]["page"]["total"]:
        items = [item for page in pages for item in _get(page, name)]
        assert len(items) == pages[0]["page"]["total"][name], name
        _put(whole, name, items)
    return whole, pages


def from_ndjson(text: str) -> dict[str, Any]:
    """Rebuild the answer from an NDJSON stream (summary line, then one line per item)."""
    lines = [orjson.loads(line) for line in text.splitlines()]
    head, items = lines[0], lines[1:]
    whole: dict[str, Any] = head["summary"]
    grouped: dict[str, list[Any]] = {name: [] for name in head["total"]}
    for line in items:
        grouped[line["list"]].append(line["item"])
    for name, found in grouped.items():
        assert len(found) == head["total"][name], name
        _put(whole, name, found)
    return whole
