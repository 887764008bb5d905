"""``/v1/cases``: recall cases (analysts open and work them, auditors read them) and
``/v1/cases/{case_id}/reports/{kind}``, the reports they feed (docs/cases.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi import Path as InPath
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import allow
from api.paging import JSON, json_response
from api.routes import KEY, NOT_BLANK, TIME, Stores, problems, when
from tracegraph import casereports, cases
from tracegraph.keys import CASE_READ, CASE_WRITE
from tracegraph.model import bound_end
from tracegraph.settings import Settings
from tracegraph.store.base import ApiKeyRecord

router = APIRouter()

Reading = Annotated[ApiKeyRecord, Depends(allow(CASE_READ, "read recall cases"))]
Working = Annotated[ApiKeyRecord, Depends(allow(CASE_WRITE, "open or work recall cases"))]
CaseId = Annotated[
    str, InPath(max_length=100, description="The case id, e.g. RC-2026-0001.", **NOT_BLANK)
]
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV: Final = "text/csv"

_OPTIONAL_TIME: Final[dict[str, Any]] = {"anyOf": [*TIME["anyOf"], {"type": "null"}]}
_CASE: Final[dict[int | str, dict[str, Any]]] = {
    200: {"description": "the case", "content": {JSON: {}}}
}


class Level(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


class Via(StrEnum):
    letter = "letter"
    email = "email"
    phone = "phone"
    visit = "visit"


class ReportKind(StrEnum):
    fda_806 = "fda-806"
    fsca = "fsca"
    spreadsheet = "spreadsheet"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OpenCase(_Body):
    suspects: list[Annotated[str, Field(max_length=1000, json_schema_extra={"pattern": KEY})]] = (
        Field(min_length=1, max_length=1000, description="Suspect keys, Type:id.")
    )
    from_: str | None = Field(
        None, alias="from", max_length=64, description="Window start.",
        json_schema_extra=_OPTIONAL_TIME,
    )  # fmt: skip
    to: str | None = Field(
        None, max_length=64, description="Window end (a date covers that whole day).",
        json_schema_extra=_OPTIONAL_TIME,
    )  # fmt: skip
    title: str = Field(max_length=cases.MAX_TEXT, json_schema_extra=NOT_BLANK)
    level: Level = Field(Level.A, description="21 CFR 7.42(b)(3) effectiveness check level.")
    reason: str | None = Field(None, max_length=cases.MAX_TEXT)


class Notify(_Body):
    customer: str = Field(
        max_length=1000, description="A consignee: Customer:id or id.", json_schema_extra=NOT_BLANK
    )
    at: str = Field(max_length=64, description="When it was notified.", json_schema_extra=TIME)
    via: Via = Via.letter


class Respond(_Body):
    customer: str = Field(
        max_length=1000, description="A consignee: Customer:id or id.", json_schema_extra=NOT_BLANK
    )
    at: str = Field(max_length=64, description="When it responded.", json_schema_extra=TIME)
    returned: int = Field(0, ge=0, le=10**9, description="Devices returned.")
    corrected: int = Field(0, ge=0, le=10**9, description="Devices corrected.")
    note: str | None = Field(None, max_length=cases.MAX_TEXT)


@router.get(
    "/v1/cases",
    tags=["cases"],
    summary="Every recall case (analyst, auditor)",
    description="`tracegraph case list --format json`.",
    responses={200: {"description": "the cases", "content": {JSON: {}}}, **problems()},
)
def list_cases(caller: Reading, stores: Stores) -> Response:
    with stores.use() as store:
        return json_response({"cases": [c.as_json() for c in cases.list_cases(store)]})


@router.post(
    "/v1/cases",
    tags=["cases"],
    summary="Open a recall case (analyst)",
    description="Runs the recall now and freezes its scope; answers the case (its `id`). "
    "An audit entry `case open`.",
    responses={**_CASE, **problems(404)},
)
def open_case(caller: Working, stores: Stores, body: Annotated[OpenCase, Body()]) -> Response:
    start, end = when(body.from_, "from"), when(body.to, "to", bound_end)
    with stores.use() as store:
        draft = cases.draft_case(
            store, body.suspects, title=body.title, actor=caller.name, start=start, end=end,
            level=str(body.level), reason=body.reason,
        )  # fmt: skip
        made = cases.open_case(store, draft, caller.name)
    return json_response(made.as_json())


@router.get(
    "/v1/cases/{case_id}",
    tags=["cases"],
    summary="One recall case (analyst, auditor)",
    description="`tracegraph case show CASE --format json`: per consignee, the effectiveness "
    "check, the action log; with `refresh`, what a recall now would change.",
    responses={**_CASE, **problems(404)},
)
def show_case(
    case_id: CaseId,
    caller: Reading,
    stores: Stores,
    refresh: Annotated[bool, Query(description="Also run the recall now and compare.")] = False,
) -> Response:
    with stores.use() as store:
        return json_response(cases.show(store, case_id, with_refresh=refresh).as_json())


@router.post(
    "/v1/cases/{case_id}/notify",
    tags=["cases"],
    summary="Record a consignee notified (analyst)",
    responses={200: {"description": "the log entry", "content": {JSON: {}}}, **problems(404)},
)
def notify(
    case_id: CaseId, caller: Working, stores: Stores, body: Annotated[Notify, Body()]
) -> Response:
    at = when(body.at, "at")
    assert at is not None
    with stores.use() as store:
        done = cases.notify(
            store, case_id, body.customer, at=at, actor=caller.name, via=str(body.via)
        )
    return json_response(done.as_json())


@router.post(
    "/v1/cases/{case_id}/respond",
    tags=["cases"],
    summary="Record a consignee's response (analyst)",
    responses={200: {"description": "the log entry", "content": {JSON: {}}}, **problems(404)},
)
def respond(
    case_id: CaseId, caller: Working, stores: Stores, body: Annotated[Respond, Body()]
) -> Response:
    at = when(body.at, "at")
    assert at is not None
    with stores.use() as store:
        done = cases.respond(
            store, case_id, body.customer, at=at, actor=caller.name, returned=body.returned,
            corrected=body.corrected, note=body.note,
        )  # fmt: skip
    return json_response(done.as_json())


@router.post(
    "/v1/cases/{case_id}/close",
    tags=["cases"],
    summary="Close a recall case (analyst)",
    description="A closed case takes no more actions; closing it again changes nothing.",
    responses={**_CASE, **problems(404)},
)
def close(case_id: CaseId, caller: Working, stores: Stores) -> Response:
    with stores.use() as store:
        return json_response(cases.close(store, case_id, caller.name).as_json())


@router.get(
    "/v1/cases/{case_id}/reports/{kind}",
    tags=["cases"],
    summary="A report of a recall case (analyst, auditor)",
    description="`fda-806` and `fsca`: the report.json of `tracegraph report fda-806|fsca`; "
    "`spreadsheet`: one row per device, .xlsx (default) or .csv (`format=csv`).",
    responses={
        200: {"description": "the report", "content": {JSON: {}, XLSX: {}, CSV: {}}},
        **problems(404),
    },
)
def report(
    request: Request,
    case_id: CaseId,
    kind: ReportKind,
    caller: Reading,
    stores: Stores,
    format: Annotated[
        Literal["xlsx", "csv"], Query(description="The spreadsheet's format.")
    ] = "xlsx",
) -> Response:
    settings: Settings = request.app.state.settings
    firm = casereports.firm_from(settings)
    with stores.use() as store:
        case = cases.show(store, case_id).case
    if kind is ReportKind.fda_806:
        return json_response(casereports.fda806(case, firm))
    if kind is ReportKind.fsca:
        return json_response(casereports.fsca(case, firm))
    name = f"{case.id}-devices.{format}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "csv":
        return Response(casereports.spreadsheet_csv(case), media_type=CSV, headers=disposition)
    return Response(casereports.spreadsheet_xlsx(case), media_type=XLSX, headers=disposition)
