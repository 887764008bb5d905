"""``GET /v1/checks``: `tracegraph check` over HTTP (analyst, auditor), the same JSON."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from api.paging import json_response
from api.routes import AsOf, Paging, Querying, Stores, problems, when
from tracegraph import checks
from tracegraph.checks import Level
from tracegraph.checks.panel import PanelCache

router = APIRouter()

#: What `rule` may name: a rule's id or a family (the document lists them, so a client knows).
RuleName = StrEnum(  # type: ignore[misc]
    "RuleName", {name: name for name in [*checks.REGISTRY, *checks.FAMILIES]}
)


@router.get(
    "/v1/checks",
    tags=["queries"],
    summary="Data-quality and supplier-compliance findings (`tracegraph check`)",
    description="Runs the rules over the store (as of `as_of`, which is then also the "
    "moment the rules measure expiries and overdue items against) and answers each rule with "
    "its count, and every finding with the keys it is about and a sentence. `rule` picks "
    "rules by id or family (repeatable); `severity` keeps only findings at least that "
    "severe. The rules: docs/checks.md.",
    responses=problems(),
)
def get_checks(
    caller: Querying,
    stores: Stores,
    page: Paging,
    rule: Annotated[
        list[RuleName] | None,
        Query(max_length=100, description="A rule id or family; repeatable. None: every rule."),
    ] = None,
    severity: Annotated[
        Level, Query(description="Only findings at least this severe.")
    ] = Level.info,
    within_days: Annotated[
        int, Query(ge=0, le=3650, description="Warn of certificates expiring this soon.")
    ] = checks.DEFAULT_WITHIN_DAYS,
    as_of: AsOf = None,
) -> Response:
    asked = when(as_of, "as_of")
    with stores.use(None) as store:
        report = checks.run(
            store,
            selected=[str(r) for r in rule or ()],
            within_days=within_days,
            as_of=page.as_of(asked),
        )
    answer = report.as_json()
    floor = checks.RANK[severity]
    answer["findings"] = [
        f for f in answer["findings"] if checks.RANK[Level(f["severity"])] <= floor
    ]
    return page.render(answer, asked)


@router.get(
    "/v1/dashboard/quality",
    tags=["web page"],
    summary="The dashboard's data-quality panel",
    description="Findings by rule (most severe first), the first findings, certificates "
    "expiring within 30 / 60 / 90 days with their suppliers, and suppliers by status. Made "
    "once per state of the store and day (`as_of` says when) and shared by the requests "
    "that ask meanwhile.",
    responses=problems(),
)
def get_quality(caller: Querying, stores: Stores, request: Request) -> Response:
    panels: PanelCache = request.app.state.panels
    with stores.use(None) as store:
        answer = panels.get(store)
    return json_response(answer)
