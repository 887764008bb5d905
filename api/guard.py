"""What every request passes before an endpoint: the key, the attempt limit, the safety headers,
and the one answer to a failure nobody expected.

- `Harden` (outermost): every answer gets ``X-Content-Type-Options: nosniff``, and every `/v1`
  answer ``Cache-Control: no-store`` (answers hold traceability data, keys' names). An
  exception no handler took becomes the problem+json 500 here, and is not raised on: raised
  past the app, uvicorn would log it a second time and close the keep-alive connection, so the
  client's next request would meet a reset.
- `KeyFirst`: a `/v1` request's key is checked before its body is read, let alone parsed: no
  key (or a wrong one) is a 401 whatever the body holds, and an unauthenticated body is never
  held in memory. The key found is handed to the endpoint's role check (`api.auth.allow`).
- `Attempts`: a client (by its address) that sent `auth_failures` wrong keys within
  `auth_failure_window` seconds gets 429 with Retry-After for any key it sends, right or
  wrong, until the oldest of those failures is out of the window (answering a right key would
  tell a guesser which one is right). Requests with a valid key never count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import TooManyAttempts, Unauthorized, handle
from api.gate import StoreGate
from tracegraph.errors import TraceGraphError
from tracegraph.keys import authenticate
from tracegraph.store.base import ApiKeyRecord

#: Where `KeyFirst` leaves the caller's key for the endpoint (``request.state``).
CALLER_KEY: Final = "caller_key"


def is_api(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


class Attempts:
    """Failed key attempts per client, in a sliding window; in this process only."""

    #: Clients remembered at most (each holds at most `limit` times): past it, those whose
    #: failures are all out of the window are forgotten, then the oldest.
    MAX_CLIENTS: Final = 10_000

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, client: str) -> int:
        """Seconds until the client may send a key again (0: now)."""
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                return 0
            now = self.clock()
            while times and times[0] <= now - self.window:
                times.popleft()
            if not times:
                del self._failures[client]
                return 0
            if len(times) < self.limit:
                return 0
            return max(1, math.ceil(times[0] + self.window - now))

    def failed(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            times = self._failures.setdefault(client, deque(maxlen=self.limit))
            times.append(now)
            if len(self._failures) > self.MAX_CLIENTS:
                self._forget(now)

    def _forget(self, now: float) -> None:
        for client in [c for c, t in self._failures.items() if t[-1] <= now - self.window]:
            del self._failures[client]
        for client in list(self._failures)[: max(0, len(self._failures) - self.MAX_CLIENTS)]:
            del self._failures[client]


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _lookup(stores: StoreGate, secret: str) -> ApiKeyRecord | None:
    with stores.use() as store:
        return authenticate(store, secret)


class KeyFirst:
    def __init__(self, app: ASGIApp, attempts: Attempts) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_api(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            key = await self._caller(request)
        except TraceGraphError as exc:
            response = await handle(request, exc)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[CALLER_KEY] = key
        await self.app(scope, receive, send)

    async def _caller(self, request: Request) -> ApiKeyRecord:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        secret = credentials.strip()
        if scheme.lower() != "bearer" or not secret:
            raise Unauthorized("no API key: send Authorization: Bearer KEY")
        client = _client(request.scope)
        if wait := self.attempts.wait(client):
            raise TooManyAttempts(
                f"too many wrong API keys from {client}; try again in {wait} s "
                "(TRACEGRAPH_AUTH_FAILURES within TRACEGRAPH_AUTH_FAILURE_WINDOW)",
                retry_after=wait,
            )
        stores: StoreGate = request.app.state.gate
        key = await run_in_threadpool(_lookup, stores, secret)
        if key is None:
            self.attempts.failed(client)
            raise Unauthorized("the API key is not valid (unknown or revoked)")
        return key


class Harden:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = is_api(scope["path"])
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if api:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started:
                raise  # the answer is under way: only closing the connection says it is cut
            response = await handle(Request(scope), exc)
            await response(scope, receive, sending)
