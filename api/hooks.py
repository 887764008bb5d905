"""``/v1/hooks`` (admin: add, list, remove, the delivery log), ``GET /v1/findings`` (the
outbound events as NDJSON, for systems that poll), and the deliverer `tracegraph serve` runs
in the background (`HookWorker`). See docs/hooks.md."""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path as FilePath
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import allow
from api.gate import StoreGate
from api.paging import JSON, NDJSON, json_response
from api.routes import NOT_BLANK, Querying, Stores, problems
from tracegraph import events, hooks
from tracegraph.errors import BadInput, TraceGraphError
from tracegraph.events import EventKind
from tracegraph.importer import ImportReport
from tracegraph.settings import Settings
from tracegraph.store import is_neo4j
from tracegraph.store.base import ApiKeyRecord, WriteRequest

router = APIRouter()
log = logging.getLogger("tracegraph.api")

Administering = Annotated[ApiKeyRecord, Depends(allow(frozenset(), "manage hooks"))]

#: The largest seq a request may name: beyond what either store's integers hold.
MAX_SEQ: Final = 2**62


class HookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=hooks.MAX_URL,
        description="Where to POST: http:// or https://, a host name or IPv4 address (no "
        "user or password), an optional port and path.",
        json_schema_extra={"pattern": hooks.URL_PATTERN},
    )
    events: list[EventKind] = Field(
        min_length=1,
        max_length=10,
        description="The kinds of event to send (cases: recall case steps).",
    )
    secret: str | None = Field(
        None,
        max_length=200,
        description="The HMAC-SHA256 secret (16 to 200 printable ASCII characters, no "
        "spaces); left out, one is made. Answered this once.",
        json_schema_extra={"pattern": hooks.SECRET_PATTERN},
    )


def _limit(request: Request, limit: int | None) -> int:
    settings: Settings = request.app.state.settings
    if limit is None:
        return settings.page_size
    if limit > settings.max_page_size:
        raise BadInput(
            f"limit {limit}: at most {settings.max_page_size} (TRACEGRAPH_MAX_PAGE_SIZE)"
        )
    return limit


_HOOK_ANSWER: Final[dict[int | str, dict[str, Any]]] = {
    200: {"description": "the hook (never its secret, but when it is added)", "content": {JSON: {}}}
}


@router.get(
    "/v1/hooks",
    tags=["hooks"],
    summary="Every hook and its delivery state (admin)",
    description="`tracegraph hooks list --format json`: each hook's id, url, events, "
    "created_at, acked_seq (the last event it acknowledged), failures (failed attempts since) "
    "and next_attempt_at; never its secret. `last_seq` is the event log's head.",
    responses={200: {"description": "the hooks", "content": {JSON: {}}}, **problems()},
)
def get_hooks(caller: Administering, stores: Stores) -> Response:
    with stores.use() as store:
        return json_response(hooks.list_hooks(store).as_json())


@router.post(
    "/v1/hooks",
    tags=["hooks"],
    summary="Add a hook (admin)",
    description="Each event appended from now on, of the kinds asked, is POSTed to `url` as "
    "JSON with `X-TraceGraph-Signature: sha256=<hex>` (HMAC-SHA256 of the body under the "
    "secret), retried with backoff until a 2xx, in order. The answer holds the secret: the "
    "only time it is shown.",
    responses={**_HOOK_ANSWER, **problems()},
)
def post_hook(
    caller: Administering, stores: Stores, body: Annotated[HookRequest, Body()]
) -> Response:
    with stores.use() as store:
        made = hooks.add_hook(store, body.url, [str(k) for k in body.events], body.secret)
    return json_response(made.as_json())


@router.get(
    "/v1/hooks/log",
    tags=["hooks"],
    summary="The delivery log (admin)",
    description="`tracegraph hooks log [ID] --format json`: the newest `limit` delivery "
    "attempts (of one hook, or of all), oldest first: hook, seq, attempt, at, status, ok, "
    "error.",
    responses={200: {"description": "the attempts", "content": {JSON: {}}}, **problems(404)},
)
def get_hook_log(
    request: Request,
    caller: Administering,
    stores: Stores,
    hook: Annotated[
        str | None, Query(max_length=100, description="Only this hook's attempts.")
    ] = None,
    limit: Annotated[
        int | None,
        Query(ge=1, description="The newest N attempts [default: TRACEGRAPH_PAGE_SIZE]."),
    ] = None,
) -> Response:
    wanted = _limit(request, limit)
    with stores.use() as store:
        answer = hooks.delivery_log(store, hook if hook and hook.strip() else None, wanted)
    return json_response(answer.as_json())


@router.delete(
    "/v1/hooks/{hook_id}",
    tags=["hooks"],
    summary="Remove a hook (admin)",
    description="Nothing more is sent to it; its delivery state and log go with it.",
    responses={**_HOOK_ANSWER, **problems(404)},
)
def delete_hook(
    caller: Administering,
    stores: Stores,
    hook_id: Annotated[
        str, Path(max_length=100, description="The hook's id.", json_schema_extra=NOT_BLANK)
    ],
) -> Response:
    with stores.use() as store:
        return json_response(hooks.remove_hook(store, hook_id).as_json())


@router.get(
    "/v1/findings",
    tags=["queries"],
    summary="Outbound events after a seq, as NDJSON (for systems that poll)",
    description="The events hooks are sent, one JSON object per line, oldest first: those "
    "after `since` (0: from the first), of the kinds asked (`kind`, repeatable; default "
    "findings), at most `limit`. Each line is the body a hook receives; pass the `seq` of the "
    "last line as the next `since`.",
    responses={
        200: {"description": "one event per line (none: an empty body)", "content": {NDJSON: {}}},
        **problems(),
    },
)
def get_findings(
    request: Request,
    caller: Querying,
    stores: Stores,
    since: Annotated[
        int, Query(ge=0, le=MAX_SEQ, description="The seq of the last event already read.")
    ] = 0,
    kind: Annotated[
        list[EventKind] | None,
        Query(max_length=10, description="Kinds of event (repeatable) [default: findings]."),
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, description="At most this many [default: TRACEGRAPH_PAGE_SIZE].")
    ] = None,
) -> Response:
    wanted = _limit(request, limit)
    kinds = [str(k) for k in kind] if kind else [str(EventKind.findings)]
    with stores.use() as store:
        found = events.read_since(store, since, kinds, wanted)
    return Response(b"".join(events.encode(e) + b"\n" for e in found), media_type=NDJSON)


# --------------------------------------------------------------------------- delivering


class HookWorker:
    """`tracegraph serve`'s deliverer: a thread that runs delivery passes on the app's store,
    woken by the API's own writes, and every few seconds for anyone else's (the command line,
    another server). A store not made yet is left alone (the API creates it on first use);
    one that is down is tried again on the next pass."""

    def __init__(self, stores: StoreGate, *, interval: float = hooks.INTERVAL) -> None:
        self.stores = stores
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._written: queue.SimpleQueue[tuple[ImportReport, WriteRequest]] = queue.SimpleQueue()

    def after_write(self, report: ImportReport, request: WriteRequest) -> None:
        """Record a committed write's outbound events: on the worker's thread while it runs
        (the check behind a ``findings`` event takes seconds on a large store, and the client
        should not wait for it), else at once."""
        if self._thread is None or not self._thread.is_alive():
            with self.stores.use() as store:
                events.record_write(store, report, request)
            return
        self._written.put((report, request))
        self._wake.set()

    def _record_written(self) -> None:
        """The events of the writes queued so far, in the order they were written."""
        while True:
            try:
                report, request = self._written.get_nowait()
            except queue.Empty:
                return
            try:
                with self.stores.use() as store:
                    events.record_write(store, report, request)
            except Exception:  # one write's events must not stop the others'
                log.exception("hooks: recording a write's outbound events failed")

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tracegraph-hooks", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=hooks.TIMEOUT + 5)
            self._thread = None

    def _store_exists(self) -> bool:
        """Whether there is a store to deliver from: an embedded store's file, or a Neo4j
        server the app has reached (the worker does not log in by itself: with a wrong
        password, its tries would count against the user, and Neo4j locks a user out after
        a few failed logins — the first request or `/readyz` opens the store)."""
        db = self.stores.settings.db
        return self.stores.is_open if is_neo4j(db) else FilePath(db).exists()

    def _run(self) -> None:
        deliverer: hooks.Deliverer | None = None
        while not self._stop.is_set():
            self._wake.clear()
            wait = self.interval
            self._record_written()
            try:
                if self._store_exists():
                    with self.stores.use() as store:
                        if deliverer is None or deliverer.store is not store:
                            if deliverer is not None:
                                deliverer.close()
                            deliverer = hooks.Deliverer(store, stop=self._stop)
                        wait = deliverer.step(self.interval)
            except TraceGraphError as exc:
                log.warning("hooks: delivery paused: %s", exc.message)
            except Exception:  # a bug must not end deliveries for the server's lifetime
                log.exception("hooks: a delivery pass failed")
            if wait > 0:
                self._wake.wait(wait)
        self._record_written()  # a stopping server still records what it wrote
        if deliverer is not None:
            deliverer.close()
