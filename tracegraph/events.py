"""Outbound events: what a write appends to the store's event log, for hooks and pollers.

Every import that changes the store appends, right after it commits, one ``imports`` event
(what it did, and its audit entry's seq) and, when it brought data-quality findings, one
``findings`` event with them. The log is append-only and numbered by ``seq``; hooks are sent
its events in that order (`tracegraph.hooks`) and ``GET /v1/findings?since=SEQ`` reads it.
The format of each kind: docs/hooks.md.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, Final

import orjson

from tracegraph import checks
from tracegraph.checks.core import LEVELS, Finding
from tracegraph.errors import BadInput
from tracegraph.importer import ImportReport
from tracegraph.model import iso
from tracegraph.store.base import GraphStore, OutboundEvent, WriteRequest


class EventKind(StrEnum):
    findings = "findings"
    #: A recall case opened, a consignee notified or responding, a case closed (PRODUCT §8).
    cases = "cases"
    imports = "imports"


KINDS: Final = tuple(EventKind)


def parse_kinds(given: Iterable[str]) -> tuple[EventKind, ...]:
    """Event kinds from a list whose items may each be a comma-separated list; in the order
    of `KINDS`, each once. None given, or an unknown one: `BadInput`."""
    named = [part.strip() for item in given for part in item.split(",") if part.strip()]
    unknown = [n for n in named if n not in EventKind.__members__]
    if unknown:
        raise BadInput(
            f"events {', '.join(repr(u) for u in unknown)}: each one of {', '.join(KINDS)}"
        )
    if not named:
        raise BadInput(f"events: name at least one of {', '.join(KINDS)}")
    return tuple(k for k in KINDS if k in named)


def record_write(
    store: GraphStore,
    report: ImportReport,
    request: WriteRequest,
    findings: Sequence[Finding] | None = None,
    *,
    check: bool = True,
    now: dt.datetime | None = None,
) -> list[OutboundEvent]:
    """Append the events of one import that has just written: ``imports`` and, when it
    brought findings, ``findings``. ``findings`` are those `checks.brought_by` gave, when the
    caller already has them; else they are found here, unless ``check`` is False (then no
    ``findings`` event, and the ``imports`` event says ``"checked": false``). An import that
    changed nothing appends nothing."""
    summary = report.summary
    if summary.audit_seq is None:
        return []
    if findings is None and check:
        findings = checks.brought_by(store, summary)
    done = {k: v for k, v in report.as_json().items() if k != "audit_seq"}
    imported: dict[str, Any] = {
        "audit_seq": summary.audit_seq,
        "actor": request.actor,
        "operation": request.operation,
        "source": request.source,
        "reason": request.reason,
        **done,
        "checked": findings is not None,
    }
    events: list[tuple[str, dict[str, Any]]] = [(EventKind.imports, imported)]
    if findings:
        levels = Counter(str(f.severity) for f in findings)
        events.append(
            (
                EventKind.findings,
                {
                    "audit_seq": summary.audit_seq,
                    "counts": {
                        "findings": len(findings),
                        **{str(lv): levels[str(lv)] for lv in LEVELS},
                    },
                    "findings": [f.as_json() for f in findings],
                },
            )
        )
    return store.outbox.append(events, now or dt.datetime.now(dt.UTC))


def encode(event: OutboundEvent) -> bytes:
    """An event's JSON as a hook receives it (its body, which the signature covers) and as one
    line of ``/v1/findings``: compact, keys sorted."""
    return orjson.dumps(event.as_json(), option=orjson.OPT_SORT_KEYS, default=iso)


def read_since(
    store: GraphStore,
    since: int = 0,
    kinds: Iterable[str] = (EventKind.findings,),
    limit: int = 1000,
) -> list[OutboundEvent]:
    """The events after ``since`` (0: from the first), of these kinds, oldest first; at most
    ``limit``. A poller passes the seq of the last event it read as the next ``since``."""
    if since < 0:
        raise BadInput(f"since {since}: must be 0 or more")
    if limit < 1:
        raise BadInput(f"limit {limit}: must be 1 or more")
    return store.outbox.events(since, parse_kinds(kinds), limit)
