"""A real HTTP receiver of hook POSTs on loopback, for the hook tests.

It answers each POST with the next reply of its script (a status, or ``"drop"``: read the
request, then close the connection without a word), and 200 once the script is spent. It keeps
every request it got, and checks each signature the way a receiver should (`verify`).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from tracegraph.hooks import SIGNATURE_HEADER, verify

Reply = int | str


@dataclass(frozen=True)
class Received:
    seq: int
    kind: str
    body: bytes
    event: dict[str, Any]
    headers: dict[str, str]
    signed: bool
    #: what the receiver answered (a status, or "drop")
    reply: Reply


class Receiver:
    def __init__(self, *script: Reply, secret: str = "") -> None:
        self.script: list[Reply] = list(script)
        self.secret = secret
        self.received: list[Received] = []
        self.arrived = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/tracegraph"

    def reply(self, *script: Reply) -> None:
        """Answer the next requests with these replies (then 200 again)."""
        self.script.extend(script)

    def seqs(self, *, acknowledged: bool = False) -> list[int]:
        return [r.seq for r in self.received if not acknowledged or r.reply == 200]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Block until ``count`` requests have arrived (a synchronisation, not a pause)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
        return list(self.received)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        event = orjson.loads(body)
        signature = handler.headers.get(SIGNATURE_HEADER, "")
        # Kept before the answer goes out: once a POST returns, the test sees what arrived.
        with self.arrived:
            reply: Reply = self.script.pop(0) if self.script else 200
            self.received.append(
                Received(
                    seq=event["seq"],
                    kind=event["kind"],
                    body=body,
                    event=event,
                    headers=dict(handler.headers.items()),
                    signed=verify(self.secret, body, signature),
                    reply=reply,
                )
            )
            self.arrived.notify_all()
        if reply == "drop":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        assert isinstance(reply, int)
        handler.send_response(reply)
        if 300 <= reply < 400:
            handler.send_header("Location", self.url + "/elsewhere")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    @contextmanager
    def serving(self) -> Iterator[Receiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests read `received`."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=10)
