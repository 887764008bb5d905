"""The web page at `/` and the few `/v1` endpoints only the page needs.

The page is three static files (``api/static``: HTML, CSS and plain JavaScript, no build step)
that call the `/v1` API with the user's key. What the contract's endpoints do not answer is
here, each a thin front end over a service in `tracegraph`:

- ``GET /v1/whoami`` — the caller's key name and role (the page asks for a key once);
- ``GET /v1/search?q=`` — `tracegraph.search`: by key, id, serial, UDI or name;
- ``GET /v1/layout/{type}/{id}`` — `tracegraph.layout`: a trace laid out as a layered graph;
- ``GET /v1/dashboard`` — `tracegraph.dashboard`: the risk-hotspot panels;
- ``POST /v1/recall/csv`` — the recall's device rows as `tracegraph recall --format csv` writes
  them (the same function makes both).
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, Query
from starlette.responses import Response

from api.auth import allow
from api.gate import StoreGate, gate
from api.paging import Pager, json_response, pager
from api.routes import TIME, AsOf, RecallRequest, problems, when
from tracegraph.dashboard import DEFAULT_RECENT, DEFAULT_TOP, MAX_ROWS, dashboard_json
from tracegraph.keys import QUERY, Role
from tracegraph.layout import DEFAULT_CAP, MAX_CAP, MAX_EXPAND, layout
from tracegraph.model import MAX_HOPS, EntityType, Severity, bound_end
from tracegraph.recall import csv_text as recall_csv
from tracegraph.recall import recall
from tracegraph.search import DEFAULT_LIMIT, MAX_LIMIT, MAX_QUERY, search
from tracegraph.store.base import ApiKeyRecord

router = APIRouter()

#: The search's ``offset`` at most (a bound for clients, far beyond any real list).
MAX_OFFSET: Final = 10_000_000

Querying = Annotated[ApiKeyRecord, Depends(allow(QUERY, "run queries"))]
Anyone = Annotated[ApiKeyRecord, Depends(allow(frozenset(Role), "call the API"))]
Stores = Annotated[StoreGate, Depends(gate)]
Paging = Annotated[Pager, Depends(pager)]

# --------------------------------------------------------------------------- the page

#: The page's files: nothing else under /static is served.
STATIC: Final = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
#: The page loads nothing from elsewhere and runs no inline script.
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _static(name: str) -> bytes:
    # (this package is `api` in a checkout, `tracegraph.api` in an installed wheel)
    return (resources.files(__package__ or "api") / "static" / name).read_bytes()


@router.get("/", include_in_schema=False)
def index() -> Response:
    return Response(_static("index.html"), media_type="text/html; charset=utf-8",
                    headers=SECURITY_HEADERS)  # fmt: skip


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    if name not in STATIC:
        return Response("not found", 404, media_type="text/plain")
    return Response(_static(name), media_type=STATIC[name], headers=SECURITY_HEADERS)


# --------------------------------------------------------------------------- page endpoints


@router.get(
    "/v1/whoami",
    tags=["web page"],
    summary="The caller's key: name and role",
    responses=problems(),
)
def whoami(caller: Anyone) -> Response:
    return json_response({"id": caller.id, "name": caller.name, "role": caller.role})


@router.get(
    "/v1/search",
    tags=["web page"],
    summary="Find nodes by key, id, device serial, UDI or name",
    description="Matches best first: the key, an id of any type, a device's UDI, a serial "
    "(UDI `(21)` or `source_ref`), then serials, ids and names that contain the text. An exact "
    "match ends the search. With `type` and no `q`: that type's nodes, by key. `counts` says "
    "how many match in all; `offset` pages through them.",
    responses=problems(),
)
def get_search(
    caller: Querying,
    stores: Stores,
    q: Annotated[str, Query(max_length=MAX_QUERY, description="What to look for.")] = "",
    type: Annotated[EntityType | None, Query(description="Only nodes of this type.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many.")] = (
        DEFAULT_LIMIT
    ),
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Leave out this many better matches first.")
    ] = 0,
    as_of: AsOf = None,
) -> Response:
    asked = when(as_of, "as_of")
    with stores.use(asked) as store:
        answer = search(store, q, type_=type, limit=limit, offset=offset).as_json()
    return json_response(answer)


@router.get(
    "/v1/layout/{type}/{id:path}",
    tags=["web page"],
    summary="A trace laid out as a layered graph (left to right in flow order)",
    description="The genealogy up and/or down from a node, in columns suppliers → lots → "
    "batches → devices → shipments → customers, at most `cap` nodes per level (each level "
    "says how many it shows of how many), with the neighbours of the `expand` nodes pinned. "
    "Coordinates are SVG user units.",
    responses=problems(404),
)
def get_layout(
    type: EntityType,
    id: str,
    caller: Querying,
    stores: Stores,
    direction: Annotated[
        str, Query(pattern="^(both|up|down)$", description="both, up or down.")
    ] = "both",
    depth: Annotated[
        int | None, Query(ge=1, le=MAX_HOPS, description="At most this many hops.")
    ] = None,
    expand: Annotated[
        list[str] | None,
        Query(max_length=MAX_EXPAND, description="Keys whose neighbours to show (repeatable)."),
    ] = None,
    cap: Annotated[int, Query(ge=1, le=MAX_CAP, description="Nodes per level.")] = DEFAULT_CAP,
    as_of: AsOf = None,
) -> Response:
    asked = when(as_of, "as_of")
    with stores.use(asked) as store:
        answer = layout(
            store, f"{type}:{id}", direction, depth=depth, expand=expand or [], cap=cap
        ).as_json()
    return json_response(answer)


@router.get(
    "/v1/dashboard",
    tags=["web page"],
    summary="Risk hotspots: ranking, lapsed certificates, failed calibrations, complaints",
    description="The common-cause ranking over the complaints matching the filters (its first "
    "`top`, with each entity's figures among the units, the devices not installed in another "
    "device; those that reached nearly every unit, and so separate nothing, last), suppliers "
    "with lapsed certificates whose lots are in use, failed calibrations with the batches "
    "processed since the last pass, and the newest `recent` complaints. The page asks for "
    "every entry and reads them a page at a time (`limit`, `cursor`).",
    responses=problems(404, 409),
)
def get_dashboard(
    caller: Querying,
    stores: Stores,
    page: Paging,
    severity: Severity | None = None,
    product: Annotated[str | None, Query(max_length=1000, description="Product id or key.")] = (
        None
    ),
    start: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=64,
            description="Complaints from (ISO 8601).",
            json_schema_extra=TIME,
        ),
    ] = None,
    to: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Complaints up to (a date: that whole day).",
            json_schema_extra=TIME,
        ),
    ] = None,
    top: Annotated[
        int,
        Query(ge=1, le=MAX_ROWS, description="Hotspots in the answer (the page asks for all)."),
    ] = DEFAULT_TOP,
    recent: Annotated[
        int,
        Query(ge=1, le=MAX_ROWS, description="Complaints in the answer (the page asks for all)."),
    ] = DEFAULT_RECENT,
    as_of: AsOf = None,
) -> Response:
    begin, end = when(start, "from"), when(to, "to", bound_end)
    asked = when(as_of, "as_of")
    moment = page.as_of(asked)
    with stores.use(moment) as store:
        answer = dashboard_json(
            store,
            severity=str(severity) if severity is not None else None,
            product=product.strip() if product and product.strip() else None,
            start=begin,
            end=end,
            today=moment.date() if moment is not None else None,
            top=top,
            recent=recent,
        )
    return page.render(answer, asked)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@router.post(
    "/v1/recall/csv",
    tags=["web page"],
    summary="Recall scope as CSV: one row per affected device",
    description="The rows of `tracegraph recall --format csv`: device, udi, product, batch, "
    "customer, shipped_at, reason.",
    responses={200: {"description": "the CSV", "content": {"text/csv": {}}}, **problems(404)},
)
def post_recall_csv(
    body: Annotated[RecallRequest, Body()], caller: Querying, stores: Stores
) -> Response:
    start, end = when(body.from_, "from"), when(body.to, "to", bound_end)
    asked = when(body.as_of, "as_of")
    with stores.use(asked) as store:
        answer: dict[str, Any] = recall(store, body.suspects, start, end).as_json()
    name = _UNSAFE.sub("_", "recall-" + "-".join(k.partition(":")[2] for k in answer["suspects"]))
    return Response(
        recall_csv(answer),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name[:120]}.csv"'},
    )
