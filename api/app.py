"""The FastAPI app, made by `create_app` (no app exists until a caller asks for one).

`tracegraph serve` calls `create_app(settings)`; `uvicorn api.app:create_app --factory` works
too (settings from the environment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import cases, checks, epcis, errors, hooks, routes, web
from api.errors import BodyTooLarge
from api.gate import StoreGate
from api.guard import Attempts, Harden, KeyFirst
from tracegraph import __version__
from tracegraph.checks import quality_panel
from tracegraph.checks.panel import PanelCache
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


def _document(app: FastAPI, settings: Settings) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, with what a route cannot declare itself: the import record's
    schema, and the largest page these settings allow."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = FastAPI.openapi(app)
        document.setdefault("components", {}).setdefault("schemas", {}).update(
            routes.record_schemas()
        )
        for operations in document["paths"].values():
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter["name"] != "limit" or parameter["in"] != "query":
                        continue
                    for variant in parameter["schema"].get("anyOf", [parameter["schema"]]):
                        if variant.get("type") == "integer":
                            variant.setdefault("maximum", settings.max_page_size)
        return document

    return openapi


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API on the store the settings name (opened on first use, closed at shutdown)."""
    chosen = settings if settings is not None else get_settings()
    stores = StoreGate(chosen)
    deliveries = hooks.HookWorker(stores)
    stores.after_write = deliveries.after_write

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        deliveries.start()  # hooks are sent their events while the server runs
        try:
            yield
        finally:
            deliveries.stop()
            stores.close()

    app = FastAPI(
        title="TraceGraph API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        # No Swagger UI or ReDoc: FastAPI's load their scripts from a CDN. The page at / is
        # the UI; /openapi.json is for the integrator's own tools (docs/api.md).
        docs_url=None,
        redoc_url=None,
        # A redirect to the path with(out) its slash would be built from the Host header,
        # and would name another id: a path that matches no route is a 404.
        redirect_slashes=False,
    )
    app.state.settings = chosen
    app.state.gate = stores
    app.state.panels = PanelCache(quality_panel)
    app.state.hooks = deliveries
    errors.install(app)
    errors.guard_logs(chosen.neo4j_password.get_secret_value())
    # The last added runs first: Harden, then KeyFirst, then BodyLimit (see api.guard).
    app.add_middleware(BodyLimit, limit=chosen.max_body_bytes)
    attempts = Attempts(chosen.auth_failures, chosen.auth_failure_window)
    app.state.attempts = attempts
    app.add_middleware(KeyFirst, attempts=attempts)
    app.add_middleware(Harden)
    app.include_router(routes.router)
    app.include_router(checks.router)
    app.include_router(epcis.router)
    app.include_router(hooks.router)
    app.include_router(cases.router)
    app.include_router(web.router)  # the page at / and the endpoints only it needs
    app.openapi = _document(app, chosen)  # type: ignore[method-assign]
    return app
