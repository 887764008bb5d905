"""Outbound events (PRODUCT §10): hooks signed, retried with backoff, at least once and in
order per hook, surviving receiver failures and a restart; the delivery log; `/v1/hooks` for
admins; `/v1/findings?since=` as NDJSON. Deliveries go to a real HTTP receiver on loopback
(tests/support/receiver.py); time is a clock the tests move, so nothing sleeps."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.api import TestClient, bearer, make_app, put_key
from tests.support.cli import run
from tests.support.receiver import Receiver
from tracegraph import events, hooks
from tracegraph.errors import BadInput, NotFound
from tracegraph.events import EventKind, record_write
from tracegraph.hooks import LEASE, Deliverer, add_hook, backoff, sign
from tracegraph.importer import Raw, import_records
from tracegraph.keys import Role
from tracegraph.store.base import GraphStore, HookRecord, WriteRequest
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
WRITER = WriteRequest(actor="test", operation="import", source="MES")


class Clock:
    """The deliverer's time: moved by the test, never slept on."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def device(ident: str) -> list[dict[str, Any]]:
    """A device with no producing batch: one finding (structure) each time."""
    return [{"type": "Device", "id": ident, "manufactured_at": "2026-01-02"}]


def write(store: GraphStore, records: list[dict[str, Any]], **kwargs: Any) -> list[Any]:
    """Import as the front ends do: the write, then its outbound events."""
    raws = [Raw(f"record {n}", r) for n, r in enumerate(records, start=1)]
    report = import_records(store, raws, WRITER)
    return record_write(store, report, WRITER, **kwargs)


def reopen(store: GraphStore, request: pytest.FixtureRequest) -> GraphStore:
    """Another store object on the same data: what a restarted server opens."""
    if isinstance(store, Neo4jStore):
        server = request.getfixturevalue("neo4j_server")
        return Neo4jStore(server.uri, server.user, server.password)
    assert isinstance(store, EmbeddedStore)
    return EmbeddedStore(store.path)


def cli_target(store: GraphStore, request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    if isinstance(store, Neo4jStore):
        server = request.getfixturevalue("neo4j_server")
        return server.uri, {"NEO4J_USER": server.user, "NEO4J_PASSWORD": server.password}
    assert isinstance(store, EmbeddedStore)
    return str(store.path), {}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().serving() as serving:
        yield serving


# --------------------------------------------------------------------------- signing, backoff


def test_the_signature_is_sha256_equals_the_hex_hmac_of_the_body() -> None:
    body = b'{"kind":"findings","seq":1}'
    expected = hmac.new(b"s3cret-s3cret-s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret-s3cret-s3cret", body) == f"sha256={expected}"
    assert hooks.verify("s3cret-s3cret-s3cret", body, f"sha256={expected}")
    assert not hooks.verify("s3cret-s3cret-s3cret", body + b" ", f"sha256={expected}")
    assert not hooks.verify("another-secret-entirely", body, f"sha256={expected}")


def test_backoff_doubles_from_one_second_up_to_five_minutes() -> None:
    waits = [backoff(n).total_seconds() for n in range(1, 12)]
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert backoff(10_000) == dt.timedelta(minutes=5)


# --------------------------------------------------------------------------- the event log


def test_a_write_appends_its_import_and_the_findings_it_brought(store: GraphStore) -> None:
    first = write(store, device("D-1"))
    assert [(e.seq, e.kind) for e in first] == [(1, "imports"), (2, "findings")]
    imported, found = (e.as_json() for e in first)
    audit_seq = store.audit_entries()[-1].seq
    assert imported == {
        "seq": 1,
        "kind": "imports",
        "at": imported["at"],
        "audit_seq": audit_seq,
        "actor": "test",
        "operation": "import",
        "source": "MES",
        "reason": None,
        "records": 1,
        "nodes": 1,
        "edges": 0,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "checked": True,
    }
    assert found["audit_seq"] == audit_seq
    assert found["counts"]["findings"] == len(found["findings"]) >= 1
    assert all("Device:D-1" in f["keys"] for f in found["findings"])
    # The same data again changes nothing: no event. Unchecked: no findings event.
    assert write(store, device("D-1")) == []
    unchecked = write(store, device("D-2"), check=False)
    assert [e.kind for e in unchecked] == ["imports"]
    assert unchecked[0].data["checked"] is False
    assert store.outbox.last_seq() == 3
    assert [e.seq for e in store.outbox.events(0)] == [1, 2, 3]
    assert [e.seq for e in store.outbox.events(1, ["imports"])] == [3]
    assert [e.seq for e in store.outbox.events(0, ["findings", "imports"], limit=2)] == [1, 2]
    assert store.outbox.events(0, []) == []
    assert [e.seq for e in events.read_since(store, 0)] == [2]
    with pytest.raises(BadInput, match="since -1"):
        events.read_since(store, -1)
    with pytest.raises(BadInput, match="'recalls'"):
        events.read_since(store, 0, ["recalls"])


def test_an_as_of_view_reads_the_outbox_and_refuses_writes(store: GraphStore) -> None:
    write(store, device("D-1"))
    made = add_hook(store, "http://127.0.0.1:9/x", ["findings"], now=T0)
    view = store.at(dt.datetime.now(dt.UTC))
    assert view.outbox.events(0) == store.outbox.events(0)
    assert view.outbox.last_seq() == 2
    assert view.outbox.hooks() == store.outbox.hooks() == [made.record]
    assert view.outbox.attempts() == []
    with pytest.raises(BadInput, match="read-only"):
        view.outbox.append([("imports", {})], T0)
    with pytest.raises(BadInput, match="read-only"):
        view.outbox.add_hook(made.record)
    with pytest.raises(BadInput, match="read-only"):
        view.outbox.remove_hook(made.record.id)
    with pytest.raises(BadInput, match="read-only"):
        view.outbox.claim(made.record.id, "me", T0, T0)


def test_an_embedded_store_made_before_hooks_gains_their_tables_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.tgdb"
    EmbeddedStore(path).close()
    with sqlite3.connect(path) as db:
        for table in ("outbound_event", "hook", "hook_attempt"):
            db.execute(f"DROP TABLE {table}")
    store = EmbeddedStore(path, create=False)
    write(store, device("D-1"))
    assert store.outbox.last_seq() == 2
    store.close()


# --------------------------------------------------------------------------- managing hooks


def test_hooks_are_added_listed_and_removed(store: GraphStore) -> None:
    write(store, device("D-1"))
    made = add_hook(store, " https://qms.example.com:8443/in?x=1 ", ["imports,findings"], now=T0)
    record = made.record
    assert record.url == "https://qms.example.com:8443/in?x=1"
    assert record.events == ("findings", "imports")
    assert record.acked_seq == 2  # it is sent what comes after it was added
    assert len(record.secret) >= 32
    assert made.as_json()["secret"] == record.secret
    listed = hooks.list_hooks(store).as_json()
    assert record.secret not in orjson.dumps(listed).decode()
    assert listed["hooks"] == [record.as_json()]
    assert listed["last_seq"] == 2
    given = add_hook(store, "http://10.0.0.7/h", ["cases"], "a-secret-of-16-chars", now=T0)
    assert given.record.secret == "a-secret-of-16-chars"
    for url in ("ftp://x.example/", "http://user:pw@x.example/", "http://x y/", "x.example",
                "http://999.1.1.1/", "http://x.example:70000/"):  # fmt: skip
        with pytest.raises(BadInput, match="url"):
            add_hook(store, url, ["findings"])
    with pytest.raises(BadInput, match="events"):
        add_hook(store, "http://x.example/", [""])
    with pytest.raises(BadInput, match="'recalls'"):
        add_hook(store, "http://x.example/", ["findings,recalls"])
    with pytest.raises(BadInput, match="secret"):
        add_hook(store, "http://x.example/", ["findings"], "short")
    assert hooks.remove_hook(store, record.id) == record
    with pytest.raises(NotFound, match=record.id):
        hooks.remove_hook(store, record.id)
    with pytest.raises(NotFound):
        hooks.delivery_log(store, record.id)
    assert [h.id for h in store.outbox.hooks()] == [given.record.id]


# --------------------------------------------------------------------------- delivering


def test_delivery_survives_receiver_failures_and_a_restart(
    store: GraphStore, receiver: Receiver, request: pytest.FixtureRequest
) -> None:
    clock = Clock()
    hook = add_hook(store, receiver.url, ["findings", "imports"], now=clock()).record
    receiver.secret = hook.secret
    write(store, device("D-1"))  # events 1 (imports) and 2 (findings)
    receiver.reply(500, 500)

    with Deliverer(store, clock=clock) as first:
        assert [(a.seq, a.attempt, a.status) for a in first.deliver_once()] == [(1, 1, 500)]
        assert first.deliver_once() == []  # not due before its backoff
        clock.advance(1)
        assert [(a.seq, a.attempt, a.status) for a in first.deliver_once()] == [(1, 2, 500)]
        clock.advance(1)
        assert first.deliver_once() == []  # the second wait is 2 s
        clock.advance(1)
        made = first.deliver_once()
        assert [(a.seq, a.attempt, a.status, a.ok) for a in made] == [
            (1, 3, 200, True),
            (2, 1, 200, True),
        ]
        state = store.outbox.hooks()[0]
        assert (state.acked_seq, state.failures, state.next_attempt_at) == (2, 0, None)

        # The receiver gets event 3 but the connection drops before it answers: not
        # acknowledged. Then the deliverer dies holding its lease.
        write(store, device("D-2"))  # events 3 and 4
        receiver.reply("drop")
        dropped = first.deliver_once()
        assert [(a.seq, a.attempt, a.status, a.ok) for a in dropped] == [(3, 1, None, False)]
        assert dropped[0].error
        assert store.outbox.claim(hook.id, first.owner, clock() + LEASE, clock())

    # A restarted server: another store object, another deliverer.
    again = reopen(store, request)
    try:
        with Deliverer(again, clock=clock) as second:
            clock.advance(2)
            assert second.deliver_once() == []  # the dead one's lease still holds
            clock.advance(LEASE.total_seconds())
            made = second.deliver_once()
            assert [(a.seq, a.attempt, a.ok) for a in made] == [(3, 2, True), (4, 1, True)]
            assert second.deliver_once() == []
    finally:
        if again is not store:
            again.close()

    # At least once, in order, every one signed; event 3 came twice (unacknowledged once).
    assert receiver.seqs() == [1, 1, 1, 2, 3, 3, 4]
    assert receiver.seqs(acknowledged=True) == [1, 2, 3, 4]
    assert all(r.signed for r in receiver.received)
    got = receiver.received
    assert [r.kind for r in got] == ["imports"] * 3 + ["findings", "imports", "imports", "findings"]
    assert got[0].headers["X-TraceGraph-Event"] == "imports"
    assert got[0].headers["X-TraceGraph-Seq"] == "1"
    assert got[0].headers["X-TraceGraph-Hook"] == hook.id
    assert [r.headers["X-TraceGraph-Attempt"] for r in got] == ["1", "2", "3", "1", "1", "2", "1"]
    assert got[0].headers["Content-Type"] == "application/json"
    # The body is the event as the log and /v1/findings hold it, byte for byte.
    assert [r.body for r in got if r.reply == 200] == [
        events.encode(e) for e in store.outbox.events(0)
    ]

    # The delivery log: every attempt, failures with their reason.
    log = hooks.delivery_log(store, hook.id).as_json()
    assert [(a["seq"], a["attempt"], a["status"], a["ok"]) for a in log["attempts"]] == [
        (1, 1, 500, False),
        (1, 2, 500, False),
        (1, 3, 200, True),
        (2, 1, 200, True),
        (3, 1, None, False),
        (3, 2, 200, True),
        (4, 1, 200, True),
    ]
    assert log["attempts"][0]["error"] == "HTTP 500"
    assert log["counts"] == {"attempts": 7, "failed": 3}
    assert hooks.delivery_log(store, limit=2).as_json()["attempts"] == log["attempts"][-2:]

    db, env = cli_target(store, request)
    shown = run("hooks", "log", hook.id, "--db", db, "--format", "json", env=env)
    assert shown.exit_code == 0, shown.output
    assert orjson.loads(shown.stdout) == log
    table = run("hooks", "log", "--db", db, "--format", "csv", env=env)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0] == "hook,seq,attempt,at,status,ok,error"
    assert lines[1].startswith(f"{hook.id},1,1,")
    assert lines[1].endswith(",500,False,HTTP 500")


def test_each_hook_gets_only_its_kinds_and_a_redirect_is_a_failure(
    store: GraphStore, receiver: Receiver
) -> None:
    clock = Clock()
    only_findings = add_hook(store, receiver.url, ["findings"], "one-secret-of-16-chars").record
    cases = add_hook(store, receiver.url, ["cases"], "one-secret-of-16-chars").record
    receiver.secret = "one-secret-of-16-chars"
    write(store, device("D-1"))
    receiver.reply(302)
    with Deliverer(store, clock=clock) as deliverer:
        made = deliverer.deliver_once()
        assert [(a.hook, a.seq, a.status) for a in made] == [(only_findings.id, 2, 302)]
        assert made[0].error == "HTTP 302 (redirects are not followed)"
        clock.advance(1)
        assert [(a.hook, a.seq, a.ok) for a in deliverer.deliver_once()] == [
            (only_findings.id, 2, True)
        ]
    assert receiver.seqs() == [2, 2]  # never the redirect's target, never an imports event
    assert store.outbox.attempts(cases.id) == []
    hooks.remove_hook(store, only_findings.id)
    assert store.outbox.attempts() == []


# --------------------------------------------------------------------------- the CLI


def test_hooks_commands(
    cli_db: tuple[str, dict[str, str]], receiver: Receiver, tmp_path: Path
) -> None:
    db, env = cli_db
    data = tmp_path / "device.jsonl"
    added = run("hooks", "add", receiver.url, "--events", "findings,imports", "--db", db,
                "--format", "json", env=env)  # fmt: skip
    assert added.exit_code == 0, added.output
    hook = orjson.loads(added.stdout)
    receiver.secret = hook["secret"]
    listed = run("hooks", "list", "--db", db, "--format", "json", env=env)
    assert listed.exit_code == 0, listed.output
    assert hook["secret"] not in listed.stdout
    assert orjson.loads(listed.stdout)["hooks"][0]["id"] == hook["id"]
    bad = run("hooks", "add", "ftp://x.example/", "--events", "findings", "--db", db, env=env)
    assert bad.exit_code == 2
    assert "url 'ftp://x.example/'" in bad.stderr
    unknown = run("hooks", "add", receiver.url, "--events", "recalls", "--db", db, env=env)
    assert unknown.exit_code == 2
    assert "'recalls'" in unknown.stderr

    data.write_bytes(orjson.dumps(device("D-CLI")[0]) + b"\n")
    imported = run("import", str(data), "--db", db, "--format", "json", env=env)
    assert imported.exit_code == 0, imported.output
    delivered = run("hooks", "deliver", "--once", "--db", db, "--format", "json", env=env)
    assert delivered.exit_code == 0, delivered.output
    assert [a["seq"] for a in orjson.loads(delivered.stdout)["attempts"]] == [1, 2]
    assert [r.kind for r in receiver.received] == ["imports", "findings"]
    assert all(r.signed for r in receiver.received)
    assert receiver.received[1].event["findings"][0]["keys"] == ["Device:D-CLI"]
    # --no-check: no findings event, and the imports event says so.
    data.write_bytes(orjson.dumps(device("D-CLI-2")[0]) + b"\n")
    unchecked = run("import", str(data), "--no-check", "--db", db, env=env)
    assert unchecked.exit_code == 0, unchecked.output
    again = run("hooks", "deliver", "--once", "--db", db, "--format", "json", env=env)
    assert again.exit_code == 0, again.output
    assert [(r.seq, r.kind, r.event["checked"]) for r in receiver.received[2:]] == [
        (3, "imports", False)
    ]

    removed = run("hooks", "remove", hook["id"], "--db", db, "--format", "json", env=env)
    assert removed.exit_code == 0, removed.output
    assert orjson.loads(removed.stdout)["id"] == hook["id"]
    again = run("hooks", "remove", hook["id"], "--db", db, env=env)
    assert again.exit_code == 2
    assert "no hook has this id" in again.stderr


# --------------------------------------------------------------------------- the API


def test_hooks_endpoints_are_for_admins(request: pytest.FixtureRequest, store: GraphStore) -> None:
    keys = {role: put_key(store, role) for role in Role}
    client = TestClient(make_app(request, store))  # no lifespan: nothing is delivered
    body = {"url": "http://127.0.0.1:9/hook", "events": ["findings"]}
    for role in (Role.analyst, Role.auditor, Role.integrator):
        for method, path, args in [
            ("GET", "/v1/hooks", {}),
            ("POST", "/v1/hooks", {"json": body}),
            ("GET", "/v1/hooks/log", {}),
            ("DELETE", "/v1/hooks/abc", {}),
        ]:
            refused = client.request(method, path, headers=bearer(keys[role]), **args)
            assert refused.status_code == 403, (role, method, path)
            assert client.request(method, path, **args).status_code == 401
    admin = bearer(keys[Role.admin])
    made = client.post("/v1/hooks", headers=admin, json=body)
    assert made.status_code == 200, made.text
    hook = made.json()
    assert hook["secret"]
    assert hook["events"] == ["findings"]
    listed = client.get("/v1/hooks", headers=admin)
    assert listed.status_code == 200
    assert listed.json()["hooks"] == [{k: v for k, v in hook.items() if k != "secret"}]
    assert hook["secret"] not in listed.text
    given = client.post("/v1/hooks", headers=admin,
                        json={**body, "events": ["imports"], "secret": "x" * 16})  # fmt: skip
    assert given.json()["secret"] == "x" * 16
    bad = client.post("/v1/hooks", headers=admin, json={**body, "url": "file:///etc/passwd"})
    assert bad.status_code == 422
    log = client.get("/v1/hooks/log", headers=admin, params={"hook": hook["id"]})
    assert log.status_code == 200
    assert log.json() == {"hook": hook["id"], "attempts": [],
                          "counts": {"attempts": 0, "failed": 0}}  # fmt: skip
    assert client.get("/v1/hooks/log", headers=admin, params={"hook": "nope"}).status_code == 404
    removed = client.delete(f"/v1/hooks/{hook['id']}", headers=admin)
    assert removed.status_code == 200
    assert removed.json()["id"] == hook["id"]
    assert client.delete(f"/v1/hooks/{hook['id']}", headers=admin).status_code == 404
    assert [h["id"] for h in client.get("/v1/hooks", headers=admin).json()["hooks"]] == [
        given.json()["id"]
    ]


def test_findings_since_a_seq_as_ndjson(request: pytest.FixtureRequest, store: GraphStore) -> None:
    keys = {role: put_key(store, role) for role in Role}
    client = TestClient(make_app(request, store))
    writer = bearer(keys[Role.integrator])
    for ident in ("D-A1", "D-A2"):
        posted = client.post("/v1/events", headers=writer, json=device(ident))
        assert posted.status_code == 200, posted.text
    reader = bearer(keys[Role.analyst])

    def lines(**params: Any) -> list[dict[str, Any]]:
        answer = client.get("/v1/findings", headers=reader, params=params)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/x-ndjson"
        return [orjson.loads(line) for line in answer.content.splitlines()]

    found = lines()
    assert [(e["seq"], e["kind"]) for e in found] == [(2, "findings"), (4, "findings")]
    assert found[0]["findings"][0]["keys"] == ["Device:D-A1"]
    assert found[1]["findings"][0]["keys"] == ["Device:D-A2"]
    assert [e["seq"] for e in lines(since=2)] == [4]
    assert lines(since=4) == []
    assert [e["seq"] for e in lines(limit=1)] == [2]
    both = lines(kind=["findings", "imports"])
    assert [(e["seq"], e["kind"]) for e in both] == [
        (1, "imports"), (2, "findings"), (3, "imports"), (4, "findings")
    ]  # fmt: skip
    assert both[0]["operation"] == "api events"
    # The lines are the bodies hooks receive.
    raw = client.get("/v1/findings", headers=reader).content
    assert raw == b"".join(events.encode(e) + b"\n" for e in store.outbox.events(0, ["findings"]))
    assert client.get("/v1/findings", headers=bearer(keys[Role.auditor])).status_code == 200
    assert client.get("/v1/findings", headers=writer).status_code == 403
    assert client.get("/v1/findings").status_code == 401
    assert client.get("/v1/findings", headers=reader, params={"since": -1}).status_code == 422
    assert client.get("/v1/findings", headers=reader, params={"kind": "x"}).status_code == 422
    too_many = client.get("/v1/findings", headers=reader, params={"limit": 10**6})
    assert too_many.status_code == 422


def test_the_server_delivers_its_writes_in_the_background(
    request: pytest.FixtureRequest, embedded_store: EmbeddedStore, receiver: Receiver
) -> None:
    keys = {role: put_key(embedded_store, role) for role in (Role.admin, Role.integrator)}
    with TestClient(make_app(request, embedded_store)) as client:  # the lifespan runs it
        made = client.post(
            "/v1/hooks",
            headers=bearer(keys[Role.admin]),
            json={"url": receiver.url, "events": ["findings", "imports"]},
        )
        receiver.secret = made.json()["secret"]
        posted = client.post(
            "/v1/import",
            headers=bearer(keys[Role.integrator]),
            content=orjson.dumps(device("D-SRV")[0]) + b"\n",
        )
        assert posted.status_code == 200, posted.text
        got = receiver.wait_for(2)  # woken by the write, not by its next round
    assert [(r.seq, r.kind, r.signed) for r in got] == [(1, "imports", True), (2, "findings", True)]
    log = hooks.delivery_log(embedded_store).as_json()
    assert [(a["seq"], a["ok"]) for a in log["attempts"]] == [(1, True), (2, True)]


def test_a_hook_record_never_shows_its_secret() -> None:
    record = HookRecord("h1", "http://x.example/", (str(EventKind.findings),), "s" * 20, T0)
    assert "s" * 20 not in orjson.dumps(record.as_json()).decode()


def test_a_running_server_records_a_writes_events_after_answering(
    request: pytest.FixtureRequest, embedded_store: GraphStore
) -> None:
    keys = {role: put_key(embedded_store, role) for role in Role}
    app = make_app(request, embedded_store)
    recorded: list[int] = []
    with TestClient(app) as client:  # the lifespan runs: the hook worker's thread is up
        worker = app.state.hooks
        real = worker.after_write

        def spy(report: Any, write: Any) -> None:
            recorded.append(report.summary.audit_seq)
            real(report, write)

        app.state.gate.after_write = spy
        posted = client.post(
            "/v1/events", headers=bearer(keys[Role.integrator]), json=device("D-B1")
        )
        assert posted.status_code == 200, posted.text
        assert recorded == [posted.json()["audit_seq"]]  # the API hands the write on
    # A server that stops records what it still owed before it ends.
    kinds = [e.kind for e in embedded_store.outbox.events(0, ["imports", "findings"])]
    assert kinds == ["imports", "findings"]
