"""The FastAPI app, made by `create_app` (no app exists until a caller asks for one).

`tracegraph serve` calls `create_app(settings)`; `uvicorn api.app:create_app --factory` works
too (settings from the environment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors, routes, web
from api.errors import BodyTooLarge
from api.gate import StoreGate
from tracegraph import __version__
from tracegraph.settings import Settings, get_settings

DESCRIPTION = """\
Traceability for medical devices: recall scope, change impact, common cause, evidence chains
and the audit trail over one graph of suppliers, lots, batches, devices and their records.

Every `/v1` request carries an API key (`Authorization: Bearer KEY`, made with
`tracegraph keys create --role analyst|auditor|integrator|admin`). Answers use the JSON of the
command line (`--format json`); lists are paged (`limit`, `cursor`; totals in `page`) or
streamed whole as NDJSON (`Accept: application/x-ndjson`). Errors are
`application/problem+json` (RFC 9457) with a stable `type` per kind.
"""


class BodyLimit:
    """Refuse bodies over the limit with 413, whether or not they declare their length.

    The check runs as the endpoint reads the body, so the 413 comes from the one error handler
    and a streamed import stops reading at the limit instead of after the whole body.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            if declared.isdigit() and int(declared) > self.limit:
                raise BodyTooLarge(self.limit)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API on the store the settings name (opened on first use, closed at shutdown)."""
    chosen = settings if settings is not None else get_settings()
    stores = StoreGate(chosen)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            stores.close()

    app = FastAPI(
        title="TraceGraph API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
    )
    app.state.settings = chosen
    app.state.gate = stores
    errors.install(app)
    errors.guard_logs(chosen.neo4j_password.get_secret_value())
    app.add_middleware(BodyLimit, limit=chosen.max_body_bytes)
    app.include_router(routes.router)
    app.include_router(web.router)  # the page at / and the endpoints only it needs
    return app
