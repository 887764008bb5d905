"""``POST /v1/epcis/capture``: an EPCIS 2.0 document imported as `tracegraph import` imports one
(integrator). The mapping and its checks are `tracegraph.epcis`'s (docs/epcis.md)."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.gate import StoreGate
from api.paging import JSON, json_response
from api.routes import (
    _WRITE_ANSWER,
    Reason,
    Source,
    Stores,
    Writing,
    _write,
    _write_request,
    problems,
)
from tracegraph.epcis import dangling, document_schema, read_bytes
from tracegraph.importer import ImportReport, Raw, refuse
from tracegraph.store.base import WriteSummary

router = APIRouter()

#: The media types a capture takes: EPCIS 2.0 JSON and JSON-LD.
JSON_LD: Final = "application/ld+json"

_CAPTURE_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "description": "An EPCIS 2.0 `EPCISDocument` (JSON or JSON-LD). Only the checks this "
        "schema shows are GS1's; the mapping checks more (each EPC parses, each event fits "
        "its role) and names the event and field of any problem.",
        "content": {JSON: {"schema": document_schema()}, JSON_LD: {"schema": document_schema()}},
    }
}


@router.post(
    "/v1/epcis/capture",
    tags=["writes"],
    summary="Capture an EPCIS 2.0 document (integrator)",
    description="The document's events become nodes and edges of the graph (docs/epcis.md) "
    "and are imported as `/v1/import` imports: all checked first, one problem and nothing is "
    "written, every problem listed in `errors` as `event N (Type): field 'f': message`. The "
    "same document twice, or an event sent again, changes nothing. The answer is the "
    "import's: records, nodes, edges, created, updated, unchanged and the audit entry.",
    openapi_extra=_CAPTURE_BODY,
    responses={**_WRITE_ANSWER, **problems(413)},
)
async def capture(
    request: Request,
    caller: Writing,
    stores: Stores,
    source: Source = None,
    reason: Reason = None,
) -> Response:
    write = _write_request(request, caller, "api epcis capture", source or "EPCIS", reason)
    body = await request.body()
    raws = list(read_bytes(None, body))
    if not raws:  # a valid document whose events the graph has no place for (docs/epcis.md)
        return json_response(ImportReport(0, 0, 0, WriteSummary()).as_json())
    await run_in_threadpool(_references, stores, raws)
    return json_response(await run_in_threadpool(_write, stores, raws, write, "request body"))


def _references(stores: StoreGate, raws: list[Raw]) -> None:
    """Refuse a document that names objects nobody defined, each named once (the import
    itself would name one at every edge to it)."""
    if any(raw.record is None for raw in raws):
        return  # the document's own problems come first, from the import
    with stores.use() as store:
        missing = dangling(store, raws)
    if missing:
        raise refuse(missing)
