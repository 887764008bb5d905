"""Every error the API answers with is `application/problem+json` (RFC 9457), made here.

One handler serves every kind: TraceGraph's own errors (each class carries its `type`, `title`
and HTTP status), request validation, authentication, HTTP errors of the framework (unknown
route, wrong method, body too large) and anything unexpected (500, no details). The `type` is a
stable URI reference per kind, so clients can branch on it; `detail` is the one-line reason,
with secrets (the Neo4j password, the caller's key) blanked out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from tracegraph.errors import InvalidImport, StoreUnavailable, TraceGraphError

PROBLEM: Final = "application/problem+json"
log = logging.getLogger("tracegraph.api")


class Unauthorized(TraceGraphError):
    """No API key, or one the store does not know (or has revoked)."""

    type = "/problems/unauthorized"
    title = "Unauthorized"
    http_status = 401
    exit_code = 2


class Forbidden(TraceGraphError):
    """A valid key whose role may not do this."""

    type = "/problems/forbidden"
    title = "Forbidden"
    http_status = 403
    exit_code = 2


class TooManyAttempts(TraceGraphError):
    """A client that sent too many wrong keys lately (`api.guard.Attempts`)."""

    type = "/problems/too-many-attempts"
    title = "Too many attempts"
    http_status = 429
    exit_code = 1

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StaleCursor(TraceGraphError):
    """A paging cursor whose answer changed since the first page (or of another query)."""

    type = "/problems/stale-cursor"
    title = "Stale cursor"
    http_status = 409
    exit_code = 2


class BodyTooLarge(HTTPException):
    """Raised while the body is read, so it is an `HTTPException`: FastAPI passes those on as
    they are, where any other error reading a body would become a bare 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request body is larger than {limit:,} bytes (TRACEGRAPH_MAX_BODY_BYTES)"
        )


#: Problem types of the framework's own HTTP errors; the rest are about:blank (RFC 9457 §4.2.1).
HTTP_TYPES: Final = {413: "/problems/body-too-large"}
VALIDATION_TYPE: Final = "/problems/bad-input"
INTERNAL_TYPE: Final = "/problems/internal-error"


#: What an API key looks like (`tracegraph.keys`): blanked wherever one turns up.
KEY_LIKE: Final = re.compile(r"tg_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{8,}")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """The text with every given secret, and anything that looks like an API key, blanked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return KEY_LIKE.sub("tg_***", text)


class Redact(logging.Filter):
    """Blanks keys and the Neo4j password in log records, the access log's request lines
    included (a caller may paste a key into a URL)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def _clean(self, value: object) -> object:
        return scrub(value, self.secrets) if isinstance(value, str) else value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        return True


REDACT: Final = Redact()
LOGGERS: Final = ("uvicorn.access", "uvicorn.error", "tracegraph.api")


def guard_logs(password: str) -> None:
    """Put the redacting filter on the loggers the API writes to (once per logger)."""
    if len(password) >= 4:
        REDACT.secrets.add(password)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if REDACT not in logger.filters:
            logger.addFilter(REDACT)


def _secrets(request: Request) -> list[str]:
    found: list[str] = []
    settings = getattr(request.app.state, "settings", None)
    if settings is not None:
        found.append(settings.neo4j_password.get_secret_value())
    _, _, credentials = request.headers.get("authorization", "").partition(" ")
    if credentials.strip():
        found.append(credentials.strip())
    return [s for s in found if len(s) >= 4]


def problem(
    request: Request,
    status: int,
    type_: str,
    title: str,
    detail: str,
    errors: Sequence[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    hidden = _secrets(request)
    body: dict[str, Any] = {
        "type": type_,
        "title": title,
        "status": status,
        "detail": scrub(detail, hidden),
        "instance": request.url.path,
    }
    if errors is not None:
        body["errors"] = [scrub(e, hidden) for e in errors]
    return Response(orjson.dumps(body), status, headers=headers, media_type=PROBLEM)


def _location(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def handle(request: Request, exc: Exception) -> Response:
    """The one exception handler (registered for every kind in `install`)."""
    if isinstance(exc, TraceGraphError):
        headers: dict[str, str] = {}
        if isinstance(exc, StoreUnavailable):
            settings = getattr(request.app.state, "settings", None)
            headers["Retry-After"] = str(settings.retry_after if settings else 5)
            log.warning("store unavailable: %s", scrub(exc.message, _secrets(request)))
        elif isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        elif isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after)
        elif exc.http_status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc.message)
        errors = exc.details if isinstance(exc, InvalidImport) else None
        return problem(
            request, exc.http_status, exc.type, exc.title, exc.message, errors, headers or None
        )
    if isinstance(exc, RequestValidationError):
        errors = [f"{_location(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        first = errors[0] if errors else "the request is not valid"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return problem(request, 422, VALIDATION_TYPE, "Bad input", first + more, errors)
    if isinstance(exc, HTTPException) and exc.status_code == 400:
        # FastAPI's "There was an error parsing the body" (not UTF-8, ...): bad input, like
        # every other malformed request, with the product's one status for it.
        return problem(
            request, 422, VALIDATION_TYPE, "Bad input", "body: not a JSON document (or not UTF-8)"
        )
    if isinstance(exc, HTTPException):
        phrase = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) else phrase
        return problem(
            request,
            exc.status_code,
            HTTP_TYPES.get(exc.status_code, "about:blank"),
            phrase,
            detail,
            headers=dict(exc.headers) if exc.headers else None,
        )
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem(request, 500, INTERNAL_TYPE, "Internal error", "the server failed; see its log")


def install(app: FastAPI) -> None:
    for kind in (TraceGraphError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(kind, handle)
