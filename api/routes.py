"""The `/v1` endpoints, `/healthz` and `/readyz`: parse the request, call a service, render.

Every query endpoint takes `as_of` (the answer as the store knew it then), is paged or streamed
by `api.paging`, and answers with the service's own JSON (the CLI's `--format json`).
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi import Path as InPath
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.auth import allow
from api.errors import PROBLEM
from api.gate import StoreGate, gate
from api.paging import JSON, NDJSON, Pager, json_response, pager
from tracegraph.audit import history, required_reason
from tracegraph.commoncause import common_cause
from tracegraph.errors import BadInput
from tracegraph.events import record_write
from tracegraph.evidence import evidence, write_package
from tracegraph.impact import impact
from tracegraph.importer import Raw, import_records, read_jsonl
from tracegraph.keys import EVIDENCE, QUERY, WRITE
from tracegraph.model import (
    ENDPOINTS,
    MAX_HOPS,
    Direction,
    EntityType,
    Severity,
    bound_end,
    json_schema,
    utc,
)
from tracegraph.node import node_view
from tracegraph.recall import recall
from tracegraph.store.base import ApiKeyRecord, WriteRequest
from tracegraph.trace import trace

router = APIRouter()

# --------------------------------------------------------------------------- OpenAPI pieces

_PROBLEM_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "description": "stable URI reference of the error kind"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "the one-line reason"},
        "instance": {"type": "string", "description": "the request path"},
        "errors": {"type": "array", "items": {"type": "string"}},
    },
}
_WHY: Final = {
    401: "no API key, or an unknown or revoked one",
    403: "the key's role may not call this endpoint",
    404: "no such node (or change order)",
    409: "a cursor whose answer changed since its first page",
    413: "the request body is larger than TRACEGRAPH_MAX_BODY_BYTES",
    422: "bad input: a bad key, time, parameter, record or cursor",
    503: "the store is unreachable; try again after Retry-After seconds",
}


#: A time as every parameter takes one: an ISO 8601 date (00:00 UTC; as an upper bound, that
#: whole day) or date-time (no offset: UTC), in the years 1 to 9999 in UTC.
_TIMES: Final = [
    {"type": "string", "format": "date", "maxLength": 64},
    {"type": "string", "format": "date-time", "maxLength": 64},
]
TIME: Final[dict[str, Any]] = {"anyOf": _TIMES}
#: Not a character Python's ``str.strip`` takes away, as the schema's regex reads it (ECMA
#: 262's ``\s`` leaves out U+001C to U+001F and U+0085, which ``str.strip`` takes too).
SOLID: Final = r"[^\s\x1c-\x1f\x85]"
#: A node key, ``Type:id``, the id not blank.
KEY: Final = rf"^({'|'.join(EntityType)}):.*{SOLID}"
#: A node key, or an edge identity ``TYPE:from->to`` of ends its type may join.
IDENTITY: Final = "|".join(
    [KEY]
    + [
        rf"^{rtype}:{a}:.*{SOLID}.*->{b}:.*{SOLID}"
        for rtype, pairs in ENDPOINTS.items()
        for a, b in sorted(pairs)
    ]
)
#: An id or other path segment that is not blank.
NOT_BLANK: Final[dict[str, Any]] = {"pattern": SOLID}


def record_schemas() -> dict[str, Any]:
    """The import record's JSON Schema (`tracegraph.model.json_schema`) as components of the
    document: ``Record``, and ``Record.<name>`` for each of its definitions."""
    found = json_schema()
    prefix = "#/$defs/"

    def moved(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: "#/components/schemas/Record." + v.removeprefix(prefix)
                if k == "$ref" and isinstance(v, str) and v.startswith(prefix)
                else moved(v)
                for k, v in value.items()
            }
        return [moved(v) for v in value] if isinstance(value, list) else value

    schemas = {f"Record.{name}": moved(sub) for name, sub in found["$defs"].items()}
    schemas["Record"] = {"title": found["title"], "oneOf": moved(found["oneOf"])}
    return schemas


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"description": _WHY[code], "content": {PROBLEM: {"schema": _PROBLEM_SCHEMA}}}
        for code in (401, 403, 422, 503, *codes)
    }


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """A query's responses: paged JSON, or NDJSON when asked, and its problems."""
    return {
        200: {
            "description": "the answer, its lists paged (see `page`), or NDJSON when asked",
            "content": {JSON: {}, NDJSON: {}},
        },
        **problems(409, *codes),
    }


# --------------------------------------------------------------------------- parsing helpers

AsOf = Annotated[
    str | None,
    Query(
        description="Answer as the store knew it at this time (ISO 8601 date or date-time; a "
        "date means 00:00 UTC).",
        max_length=64,
        json_schema_extra=TIME,
    ),
]
Source = Annotated[
    str | None,
    Query(description="The system the records come from (PLM, MES, ...); audited.", max_length=200),
]
Reason = Annotated[
    str | None,
    Query(description="Why this write is made; kept in the audit trail.", max_length=2000),
]


def when(
    text: str | None, place: str, parse: Callable[[str], dt.datetime] = utc
) -> dt.datetime | None:
    """A time given by the caller; bad input names the field."""
    if text is None or not text.strip():
        return None
    try:
        return parse(text)
    except BadInput as exc:
        raise BadInput(f"{place}: {exc.message}") from None


Id = Annotated[str, InPath(description="The node's id.", json_schema_extra=NOT_BLANK)]
ChangeId = Annotated[
    str, InPath(description="The change order's id (or key).", json_schema_extra=NOT_BLANK)
]
Querying = Annotated[ApiKeyRecord, Depends(allow(QUERY, "run queries"))]
Auditing = Annotated[ApiKeyRecord, Depends(allow(EVIDENCE, "read evidence and the audit trail"))]
Writing = Annotated[ApiKeyRecord, Depends(allow(WRITE, "write"))]
Stores = Annotated[StoreGate, Depends(gate)]
Paging = Annotated[Pager, Depends(pager)]


# --------------------------------------------------------------------------- health


@router.get("/healthz", tags=["health"], summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["health"],
    summary="Readiness: the store answers",
    responses={503: problems()[503]},
)
def readyz(stores: Stores) -> dict[str, str]:
    return {"status": "ready", "store": stores.ready()}


# --------------------------------------------------------------------------- writes


def _write(
    stores: StoreGate, raws: Sequence[Raw], request: WriteRequest, name: str
) -> dict[str, Any]:
    with stores.use() as store:
        report = import_records(store, raws, request, name=name)
        # Its outbound events (docs/hooks.md): recorded by the server's hook worker once the
        # answer is on its way (finding what the write brought is a whole check), else here.
        if stores.after_write is not None:
            stores.after_write(report, request)
        else:
            record_write(store, report, request)
    return report.as_json()


def _write_request(
    request: Request, caller: ApiKeyRecord, operation: str, source: str | None, reason: str | None
) -> WriteRequest:
    settings = request.app.state.settings
    return WriteRequest(
        actor=caller.name,
        operation=operation,
        source=source.strip() if source and source.strip() else None,
        reason=required_reason(reason, required=settings.require_reason, where="reason"),
    )


def _line(number: int, line: bytes) -> Raw | None:
    """One line of the body, read exactly as `tracegraph import` reads a line of a file."""
    if number == 1:
        line = line.removeprefix(codecs.BOM_UTF8)
    for raw in read_jsonl("", [line]):
        return dataclasses.replace(raw, where=f"line {number}")
    return None  # a blank line


async def _jsonl(request: Request) -> AsyncIterator[Raw]:
    """The body's records as they arrive: the body is never held whole, only what is parsed.
    Each chunk is split once and a line's pieces are joined once, so a line that comes in
    many chunks costs time in proportion to its length. A byte order mark at the start of the
    body is accepted, as at the start of a file."""
    number, pending = 0, list[bytes]()  # the pieces of the line not ended yet
    async for chunk in request.stream():
        *ended, tail = chunk.split(b"\n")
        for line in ended:
            if pending:
                line = b"".join([*pending, line])
                pending.clear()
            number += 1
            if (raw := _line(number, line)) is not None:
                yield raw
        if tail:
            pending.append(tail)
    rest = b"".join(pending)
    if rest.strip() and (raw := _line(number + 1, rest)) is not None:
        yield raw


#: Where the document keeps the schema of one import record (`record_schemas`).
RECORD_REF: Final = "#/components/schemas/Record"
_JSONL_BODY: Final = {
    "requestBody": {
        "required": True,
        "description": "JSON Lines: one record per line, as in `tracegraph import` "
        "(docs/import-format.md). The schema is that of one line.",
        "content": {NDJSON: {"schema": {"$ref": RECORD_REF}}},
    }
}
_EVENTS_BODY: Final = {
    "requestBody": {
        "required": True,
        "description": "A JSON array of records (nodes and edges), as in the import format.",
        "content": {
            JSON: {"schema": {"type": "array", "minItems": 1, "items": {"$ref": RECORD_REF}}}
        },
    }
}
_WRITE_ANSWER: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "what the write did: records, nodes, edges, created, updated, unchanged "
        "and the audit_seq of its audit entry (null when nothing changed)",
        "content": {JSON: {}},
    }
}


@router.post(
    "/v1/import",
    tags=["writes"],
    summary="Import JSON Lines (integrator)",
    description="Every record is checked first; one bad record and nothing is written, with "
    "every problem listed in `errors` as `line N: message`. The same body twice changes "
    "nothing. The audit entry names the key's name as its actor.",
    openapi_extra=_JSONL_BODY,
    responses={**_WRITE_ANSWER, **problems(413)},
)
async def import_jsonl(
    request: Request,
    caller: Writing,
    stores: Stores,
    source: Source = None,
    reason: Reason = None,
) -> Response:
    write = _write_request(request, caller, "api import", source, reason)
    raws = [raw async for raw in _jsonl(request)]
    done = await run_in_threadpool(_write, stores, raws, write, "request body")
    return json_response(done)


@router.post(
    "/v1/events",
    tags=["writes"],
    summary="Post records as a JSON array (integrator)",
    description="For systems that post as things happen (an MES posting a batch with its "
    "consumed lots in one call). Same checks, atomicity and idempotency as an import; "
    "problems are listed as `record N: message` (N from 1).",
    openapi_extra=_EVENTS_BODY,
    responses={**_WRITE_ANSWER, **problems(413)},
)
async def post_events(
    request: Request,
    caller: Writing,
    stores: Stores,
    source: Source = None,
    reason: Reason = None,
) -> Response:
    write = _write_request(request, caller, "api events", source, reason)
    body = await request.body()
    try:
        records = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"request body: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(records, list):
        raise BadInput("request body: must be a JSON array of records")
    raws = [
        Raw(f"record {i}", r) if isinstance(r, dict)
        else Raw(f"record {i}", None, "a record must be a JSON object")
        for i, r in enumerate(records, start=1)
    ]  # fmt: skip
    done = await run_in_threadpool(_write, stores, raws, write, "request body")
    return json_response(done)


# --------------------------------------------------------------------------- queries


@router.get(
    "/v1/nodes/{type}/{id:path}",
    tags=["queries"],
    summary="One node: fields, versions, links in and out",
    responses=answers(404),
)
def get_node(
    type: EntityType, id: Id, caller: Querying, stores: Stores, page: Paging, as_of: AsOf = None
) -> Response:
    asked = when(as_of, "as_of")
    with stores.use(page.as_of(asked)) as store:
        answer = node_view(store, f"{type}:{id}").as_json()
    return page.render(answer, asked)


@router.get(
    "/v1/trace/{type}/{id:path}",
    tags=["queries"],
    summary="Upstream or downstream genealogy of a node",
    responses=answers(404),
)
def get_trace(
    type: EntityType,
    id: Id,
    caller: Querying,
    stores: Stores,
    page: Paging,
    direction: Annotated[
        Direction, Query(description="down: where it went; up: where it came from.")
    ] = Direction.down,
    depth: Annotated[
        int | None, Query(ge=1, le=MAX_HOPS, description="At most this many hops.")
    ] = None,
    as_of: AsOf = None,
) -> Response:
    asked = when(as_of, "as_of")
    with stores.use(page.as_of(asked)) as store:
        answer = trace(store, f"{type}:{id}", direction, depth).as_json()
    return page.render(answer, asked)


_OPTIONAL_TIME: Final[dict[str, Any]] = {"anyOf": [*_TIMES, {"type": "null"}]}
_KEYS: Final[dict[str, Any]] = {"pattern": KEY}
_DEVICES: Final[dict[str, Any]] = {"pattern": rf"^Device:.*{SOLID}"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(
        None,
        alias="from",
        max_length=64,
        description="Window start (ISO 8601).",
        json_schema_extra=_OPTIONAL_TIME,
    )
    to: str | None = Field(
        None,
        max_length=64,
        description="Window end (a date covers that whole day).",
        json_schema_extra=_OPTIONAL_TIME,
    )
    as_of: str | None = Field(
        None,
        max_length=64,
        description="Answer as the store knew it at this time.",
        json_schema_extra=_OPTIONAL_TIME,
    )


class RecallRequest(_Body):
    suspects: list[Annotated[str, Field(max_length=1000, json_schema_extra=_KEYS)]] = Field(
        min_length=1, max_length=100_000, description="Suspect keys, Type:id."
    )


class CommonCauseRequest(_Body):
    devices: list[Annotated[str, Field(max_length=1000, json_schema_extra=_DEVICES)]] = Field(
        default_factory=list,
        max_length=1_000_000,
        description="Case devices; without any, every device with a complaint matching the "
        "filters.",
    )
    severity: Severity | None = None
    product: str | None = Field(
        None, max_length=1000, description="Product id or key.", json_schema_extra=NOT_BLANK
    )


@router.post(
    "/v1/recall",
    tags=["queries"],
    summary="Recall scope of suspects",
    responses=answers(404),
)
def post_recall(
    body: Annotated[RecallRequest, Body()], caller: Querying, stores: Stores, page: Paging
) -> Response:
    start, end = when(body.from_, "from"), when(body.to, "to", bound_end)
    asked = when(body.as_of, "as_of")
    with stores.use(page.as_of(asked)) as store:
        answer = recall(store, body.suspects, start, end).as_json()
    return page.render(answer, asked)


@router.get(
    "/v1/impact/{change_id}",
    tags=["queries"],
    summary="Impact of a change order",
    responses=answers(404),
)
def get_impact(
    change_id: ChangeId, caller: Querying, stores: Stores, page: Paging, as_of: AsOf = None
) -> Response:
    asked = when(as_of, "as_of")
    with stores.use(page.as_of(asked)) as store:
        answer = impact(store, change_id).as_json()
    return page.render(answer, asked)


@router.post(
    "/v1/common-cause",
    tags=["queries"],
    summary="Common-cause ranking (risk hotspots)",
    responses=answers(404),
)
def post_common_cause(
    body: Annotated[CommonCauseRequest, Body()], caller: Querying, stores: Stores, page: Paging
) -> Response:
    start, end = when(body.from_, "from"), when(body.to, "to", bound_end)
    asked = when(body.as_of, "as_of")
    with stores.use(page.as_of(asked)) as store:
        answer = common_cause(
            store,
            body.devices,
            severity=str(body.severity) if body.severity is not None else None,
            product=body.product,
            start=start,
            end=end,
        ).as_json()
    return page.render(answer, asked)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@router.get(
    "/v1/evidence/{type}/{id:path}",
    tags=["evidence and audit"],
    summary="Evidence chain as a BagIt package, zipped (auditor)",
    responses={
        200: {"description": "the BagIt package (RFC 8493) as a zip",
              "content": {"application/zip": {}}},
        **problems(404),
    },
)  # fmt: skip
def get_evidence(
    type: EntityType, id: Id, caller: Auditing, stores: Stores, as_of: AsOf = None
) -> Response:
    asked = when(as_of, "as_of")
    with stores.use(asked) as store:
        chain = evidence(store, f"{type}:{id}", as_of=asked)
    name = _UNSAFE.sub("_", f"evidence-{type}-{id}")[:120] + ".zip"
    with tempfile.TemporaryDirectory(prefix="tracegraph-evidence-") as folder:
        data = write_package(chain, Path(folder) / name).read_bytes()
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/v1/audit",
    tags=["evidence and audit"],
    summary="History of one node or edge (auditor)",
    responses=answers(404),
)
def get_audit(
    key: Annotated[
        str,
        Query(
            max_length=3000,
            description="A node key (Type:id) or an edge identity (TYPE:from->to).",
            json_schema_extra={"pattern": IDENTITY},
        ),
    ],
    caller: Auditing,
    stores: Stores,
    page: Paging,
    as_of: AsOf = None,
) -> Response:
    asked = when(as_of, "as_of")
    with stores.use(page.as_of(asked)) as store:
        answer = history(store, key).as_json()
    return page.render(answer, asked)
