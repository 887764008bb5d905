"""One exception root; each failure kind maps once to an HTTP status and a CLI exit code."""

from __future__ import annotations

from collections.abc import Sequence


class TraceGraphError(Exception):
    """Root of every error TraceGraph raises on purpose."""

    #: RFC 9457 problem type (a stable URI reference per error kind)
    type: str = "about:blank"
    title: str = "TraceGraph error"
    http_status: int = 500
    exit_code: int = 1

    def __init__(self, message: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)


class BadInput(TraceGraphError):
    """The caller's input is wrong: a bad option, key, date or record."""

    type = "/problems/bad-input"
    title = "Bad input"
    http_status = 422
    exit_code = 2


class InvalidImport(BadInput):
    """An import was rejected; ``details`` lists every ``file:line: message``."""

    type = "/problems/invalid-import"
    title = "Invalid import"


class NotFound(BadInput):
    """A key names no node in the store."""

    type = "/problems/not-found"
    title = "Not found"
    http_status = 404


class StoreUnavailable(TraceGraphError):
    """The store cannot be reached (server down, file unreadable)."""

    type = "/problems/store-unavailable"
    title = "Store unavailable"
    http_status = 503
    exit_code = 1


class StoreError(TraceGraphError):
    """The store failed while answering (a bug or a damaged store)."""

    type = "/problems/store-error"
    title = "Store error"
    http_status = 500
    exit_code = 1
