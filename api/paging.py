"""Paging and streaming of answers: one rule for every endpoint.

Every list in an answer (any list value of the answer's object, or of an object nested in it:
``nodes``, ``devices``, ``links.in``) is cut to the same window ``[offset, offset + limit)``.
The answer gains one key, ``page``::

    "page": {"limit": 1000, "offset": 0, "total": {"nodes": 2400, "edges": 2399},
             "as_of": "2026-03-01T10:00:00Z", "next_cursor": "eyJv..."}

``total`` counts every item of each list; ``next_cursor`` is null on the last page. The cursor is
opaque; it holds the offset, the time the first page was answered and digests of the query and
of the totals. Later pages answer **as of that time**, so writes made meanwhile cannot shift
items between pages; if the totals still differ (the store was rewritten under the cursor) the
answer is 409 `stale-cursor` instead of a silently different page. A cursor of another query is
422.

``Accept: application/x-ndjson`` streams the whole answer instead, never cut: a first line
``{"summary": {...the answer without its lists...}, "total": {...}}``, then one line
``{"list": "nodes", "item": {...}}`` per item, list by list, in answer order.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

import orjson
from fastapi import Query, Request
from starlette.responses import Response, StreamingResponse

from api.errors import StaleCursor
from tracegraph.errors import BadInput
from tracegraph.model import iso, utc

NDJSON: Final = "application/x-ndjson"
JSON: Final = "application/json"
PAGE_KEY: Final = "page"


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=iso)


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status, media_type=JSON)


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


@dataclass(frozen=True)
class Cursor:
    offset: int
    as_of: dt.datetime
    query: str
    totals: str

    def encode(self) -> str:
        raw = orjson.dumps({"o": self.offset, "t": iso(self.as_of), "q": self.query,
                            "n": self.totals})  # fmt: skip
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            data = orjson.loads(raw)
            cursor = cls(int(data["o"]), utc(data["t"]), str(data["q"]), str(data["n"]))
        except (binascii.Error, ValueError, KeyError, TypeError, BadInput):
            raise BadInput("cursor: not one this API gave out; use next_cursor as given") from None
        if cursor.offset < 0:
            raise BadInput("cursor: not one this API gave out; use next_cursor as given")
        return cursor


def lists_of(doc: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, list[Any]]]:
    """Every list in the answer, by dotted name, in answer order (lists inside lists are part
    of their item and are not paged)."""
    for name, value in doc.items():
        if isinstance(value, list):
            yield prefix + name, value
        elif isinstance(value, Mapping):
            yield from lists_of(value, f"{prefix}{name}.")


def _sliced(doc: Mapping[str, Any], start: int, stop: int) -> dict[str, Any]:
    return {
        name: value[start:stop]
        if isinstance(value, list)
        else _sliced(value, start, stop)
        if isinstance(value, Mapping)
        else value
        for name, value in doc.items()
    }


def _without_lists(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: _without_lists(value) if isinstance(value, Mapping) else value
        for name, value in doc.items()
        if not isinstance(value, list)
    }


def wants_ndjson(accept: str | None) -> bool:
    types = {part.split(";")[0].strip().lower() for part in (accept or "").split(",")}
    return NDJSON in types


@dataclass(frozen=True)
class Pager:
    """What one request asked about paging, and the time its first page stands for."""

    limit: int
    cursor: Cursor | None
    stream: bool
    query: str
    started: dt.datetime

    def as_of(self, asked: dt.datetime | None) -> dt.datetime | None:
        """The time to answer as of: a cursor's, else the one asked (None: the live store)."""
        return self.cursor.as_of if self.cursor is not None else asked

    def render(self, answer: Mapping[str, Any], asked: dt.datetime | None = None) -> Response:
        if PAGE_KEY in answer:  # pragma: no cover - a service would have to use the name
            raise RuntimeError(f"an answer may not hold {PAGE_KEY!r}")
        totals = {name: len(items) for name, items in lists_of(answer)}
        if self.stream:
            return StreamingResponse(_ndjson(answer, totals), media_type=NDJSON)
        offset = 0
        if self.cursor is not None:
            if self.cursor.totals != _digest(totals):
                raise StaleCursor(
                    "cursor: the answer changed since its first page (the store was rewritten "
                    "before the cursor's time); ask again without the cursor"
                )
            offset = self.cursor.offset
        as_of = self.as_of(asked) or self.started
        stop = offset + self.limit
        more = any(stop < total for total in totals.values())
        following = Cursor(stop, as_of, self.query, _digest(totals)) if more else None
        body = _sliced(answer, offset, stop)
        body[PAGE_KEY] = {
            "limit": self.limit,
            "offset": offset,
            "total": totals,
            "as_of": iso(as_of),
            "next_cursor": following.encode() if following else None,
        }
        return json_response(body)


def _ndjson(answer: Mapping[str, Any], totals: dict[str, int]) -> Iterator[bytes]:
    yield dumps({"summary": _without_lists(answer), "total": totals}) + b"\n"
    for name, items in lists_of(answer):
        for item in items:
            yield dumps({"list": name, "item": item}) + b"\n"


def _fingerprint(request: Request, body: bytes) -> str:
    params = sorted((k, v) for k, v in request.query_params.multi_items()
                    if k not in ("limit", "cursor"))  # fmt: skip
    return _digest([request.method, request.url.path, params,
                    hashlib.sha256(body).hexdigest()])  # fmt: skip


async def pager(
    request: Request,
    limit: Annotated[
        int | None,
        Query(ge=1, description="Items per list on this page [default: TRACEGRAPH_PAGE_SIZE]."),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(max_length=1000, description="`page.next_cursor` of the previous page."),
    ] = None,
) -> Pager:
    """The paging dependency of every query endpoint."""
    settings = request.app.state.settings
    if limit is not None and limit > settings.max_page_size:
        raise BadInput(
            f"limit {limit}: at most {settings.max_page_size} (TRACEGRAPH_MAX_PAGE_SIZE); "
            "follow next_cursor for the rest"
        )
    body = await request.body() if request.method == "POST" else b""
    query = _fingerprint(request, body)
    parsed = Cursor.decode(cursor) if cursor else None
    if parsed is not None and parsed.query != query:
        raise BadInput("cursor: belongs to another query; repeat the same request with it")
    return Pager(
        limit=limit or min(settings.page_size, settings.max_page_size),
        cursor=parsed,
        stream=wants_ndjson(request.headers.get("accept")),
        query=query,
        started=dt.datetime.now(dt.UTC),
    )
