"""The dashboard's data-quality panel is made once per state of the store and day, and once
however many ask for it at the same time."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.support.api import TestClient, bearer, make_app, put_key
from tracegraph.checks import quality_panel
from tracegraph.checks.panel import PanelCache, audit_head
from tracegraph.importer import import_records, read_jsonl
from tracegraph.keys import Role
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore

REQ = WriteRequest(actor="test", operation="import")


def _import(store: GraphStore, *records: dict[str, Any]) -> None:
    import_records(store, read_jsonl("p.jsonl", [orjson.dumps(r) for r in records]), REQ)


def _future_batch(ident: str) -> dict[str, Any]:
    return {"type": "Batch", "id": ident, "started_at": "2099-01-01T00:00:00Z"}


class Counting:
    """`quality_panel`, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, store: GraphStore) -> dict[str, Any]:
        self.calls += 1
        return quality_panel(store)


def test_a_panel_is_made_again_only_after_a_write_or_on_another_day(store: GraphStore) -> None:
    _import(store, _future_batch("B-1"))
    make, day = Counting(), [dt.date(2026, 12, 5)]
    panels = PanelCache(make, today=lambda: day[0])
    first = panels.get(store)
    assert panels.get(store) is first
    assert make.calls == 1
    assert first["counts"]["warning"] == 1  # the batch "in the future"

    _import(store, _future_batch("B-2"))
    second = panels.get(store)
    assert make.calls == 2
    assert second["counts"]["warning"] == 2

    day[0] += dt.timedelta(days=1)
    assert panels.get(store) is not second
    assert make.calls == 3


class Asking:
    """A store that says how many have asked for its audit head (the first thing a request
    for the panel does)."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store
        self.asked = threading.Semaphore(0)

    def audit_head(self) -> str:
        self.asked.release()
        return self.store.audit_head()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_requests_that_ask_meanwhile_wait_for_the_one_being_made(
    embedded_store: EmbeddedStore,
) -> None:
    started, release = threading.Event(), threading.Event()
    made: list[int] = []

    def slow(store: GraphStore) -> dict[str, Any]:
        made.append(1)
        started.set()
        assert release.wait(30)
        return quality_panel(embedded_store)

    store: Any = Asking(embedded_store)
    panels = PanelCache(slow)
    got: list[dict[str, Any]] = []
    leader = threading.Thread(target=lambda: got.append(panels.get(store)))
    leader.start()
    assert started.wait(30)
    followers = [threading.Thread(target=lambda: got.append(panels.get(store))) for _ in range(4)]
    for t in followers:
        t.start()
    for _ in range(1 + len(followers)):  # everyone is past reading the head
        assert store.asked.acquire(timeout=30)
    release.set()
    for t in [leader, *followers]:
        t.join(30)
    assert len(made) == 1
    assert len(got) == 5
    assert all(p is got[0] for p in got)


def test_a_failure_reaches_those_waiting_and_the_next_request_tries_again(
    embedded_store: EmbeddedStore,
) -> None:
    calls = []

    def failing_once(store: GraphStore) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the store went away")
        return quality_panel(store)

    panels = PanelCache(failing_once)
    with pytest.raises(RuntimeError, match="went away"):
        panels.get(embedded_store)
    assert panels.get(embedded_store)["counts"]["findings"] == 0
    assert len(calls) == 2


class ChainUnread:
    """A store whose whole audit chain must not be read."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store

    def audit_entries(self) -> Any:
        raise AssertionError("the whole chain was read for its head")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_the_head_is_read_without_the_chain(store: GraphStore) -> None:
    _import(store, _future_batch("B-1"))
    _import(store, _future_batch("B-2"))
    head = store.audit_entries()[-1].hash
    assert audit_head(ChainUnread(store)) == head


@pytest.fixture
def client(request: pytest.FixtureRequest, embedded_store: EmbeddedStore) -> Iterator[Any]:
    key = put_key(embedded_store, Role.admin)
    with TestClient(make_app(request, embedded_store)) as c:
        c.headers.update(bearer(key))
        yield c


def test_the_endpoint_answers_from_the_panel_until_the_store_changes(
    client: Any, embedded_store: EmbeddedStore
) -> None:
    first = client.get("/v1/dashboard/quality").json()
    assert client.get("/v1/dashboard/quality").json()["as_of"] == first["as_of"]
    _import(embedded_store, _future_batch("B-9"))  # another process's write, say
    after = client.get("/v1/dashboard/quality").json()
    assert after["counts"]["warning"] == first["counts"]["warning"] + 1
