"""Recall cases: a recall scope frozen at opening, and the action that follows it until it is
effective (docs/cases.md, contract §8).

A case keeps the recall answer's JSON as it was when the case was opened (`CaseRecord.scope`),
so a later import changes nothing in it; `show` with ``refresh`` says what a recall run now
would add or drop. Each consignee's notification and response are entries of the case's log
(`CaseAction`), and every command is one audit entry written in the same transaction as the
case (its ``source`` is the case id), so `tracegraph audit verify` covers them.

The effectiveness check follows 21 CFR 7.42(b)(3): level A checks 100 % of the consignees,
B a share between A and C (we take 50 %), C 10 %, D 2 %, E none. A consignee counts as checked
once its response is recorded.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from tracegraph.errors import BadInput, NotFound
from tracegraph.model import EntityType, iso, key_type
from tracegraph.recall import recall
from tracegraph.store.base import CaseAction, CaseRecord, GraphStore, WriteRequest

#: Share of consignees each 21 CFR 7.42(b)(3) level checks, in percent. The rule says of B
#: only "some percentage ... greater than 10 percent and less than 100 percent": 50 is ours.
LEVELS: Final[Mapping[str, float]] = {"A": 100.0, "B": 50.0, "C": 10.0, "D": 2.0, "E": 0.0}
DEFAULT_LEVEL: Final = "A"
VIA: Final = ("letter", "email", "phone", "visit")
MAX_TEXT: Final = 2000


def _text(name: str, value: str | None, *, required: bool = False) -> str | None:
    if value is None or not value.strip():
        if required:
            raise BadInput(f"{name}: empty; a case needs one")
        return None
    if len(value) > MAX_TEXT:
        raise BadInput(f"{name}: longer than {MAX_TEXT} characters")
    return value.strip()


def _level(level: str | None) -> str:
    chosen = (level or DEFAULT_LEVEL).strip().upper()
    if chosen not in LEVELS:
        raise BadInput(f"level {level!r}: one of {', '.join(LEVELS)} (21 CFR 7.42(b)(3))")
    return chosen


def frozen_scope(store: GraphStore, answer: dict[str, Any]) -> dict[str, Any]:
    """The recall answer as a case keeps it: whole, plus the products its devices are of (the
    reports need their name and GTIN, which the answer names only by key)."""
    wanted = sorted({d["product"] for d in answer["devices"] if d.get("product")})
    nodes = store.nodes(wanted)
    answer["products"] = [
        {"key": k, "id": nodes[k].id, **{f: nodes[k].props.get(f) for f in ("name", "gtin")}}
        for k in wanted
        if k in nodes
    ]
    return answer


def scope_now(
    store: GraphStore,
    suspects: Sequence[str],
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> dict[str, Any]:
    return frozen_scope(store, recall(store, suspects, start, end).as_json())


def draft_case(
    store: GraphStore,
    suspects: Sequence[str],
    *,
    title: str,
    actor: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    level: str | None = None,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> CaseRecord:
    """A case with its scope worked out now, not yet kept (what `open_case` keeps, and what a
    drill reports on without keeping it)."""
    named = _text("title", title, required=True)
    assert named is not None
    chosen = _level(level)
    why = _text("reason", reason)
    as_of = now or dt.datetime.now(dt.UTC)
    scope = scope_now(store, suspects, start, end)
    if not scope["devices"]:
        raise BadInput(
            f"{', '.join(scope['suspects'])}: no device in scope; nothing to open a case on"
        )
    return CaseRecord(
        id="",
        title=named,
        level=chosen,
        reason=why,
        suspects=tuple(scope["suspects"]),
        window=scope["window"],
        as_of=as_of,
        status="open",
        opened_at=as_of,
        opened_by=actor,
        scope=scope,
    )


def _emit(store: GraphStore, step: str, case: CaseRecord, **more: Any) -> None:
    """A ``cases`` outbound event for hooks and pollers (docs/hooks.md), appended right after
    the case write committed: ``step`` is open, notify, respond or close."""
    data = {"step": step, "case": case.as_json(), **more}
    store.outbox.append([("cases", data)], dt.datetime.now(dt.UTC))


def open_case(store: GraphStore, draft: CaseRecord, actor: str) -> CaseRecord:
    """Keep a drafted case: the store gives it its id, and the audit entry ``case open``."""
    case = store.cases.open(
        draft, WriteRequest(actor, "case open", reason=f"{draft.title} (level {draft.level})")
    )
    counts = (case.scope or {}).get("counts", {})
    _emit(store, "open", case, counts=counts)
    return case


def _case(store: GraphStore, case_id: str) -> CaseRecord:
    found = store.cases.get(case_id.strip())
    if found is None:
        raise NotFound(f"case {case_id}: no such case; `tracegraph case list` names them")
    return found


def _consignee(case: CaseRecord, customer: str) -> str:
    """The key of one of the case's consignees, given as a key or an id."""
    scope = case.scope or {}
    keys = {c["key"] for c in scope.get("customers", [])}
    given = customer.strip()
    key = given if given in keys else f"{EntityType.Customer}:{given}"
    if key not in keys:
        raise NotFound(f"{given}: not a consignee of case {case.id}")
    return key


def _writable(case: CaseRecord) -> None:
    if case.status != "open":
        raise BadInput(f"case {case.id}: closed; a closed case takes no more actions")


def notify(
    store: GraphStore,
    case_id: str,
    customer: str,
    *,
    at: dt.datetime,
    actor: str,
    via: str = "letter",
) -> CaseAction:
    case = _case(store, case_id)
    _writable(case)
    if via not in VIA:
        raise BadInput(f"via {via!r}: one of {', '.join(VIA)}")
    key = _consignee(case, customer)
    action = CaseAction(
        case=case.id,
        kind="notify",
        customer=key,
        at=at,
        recorded_at=dt.datetime.now(dt.UTC),
        recorded_by=actor,
        data={"via": via},
    )
    request = WriteRequest(actor, "case notify", reason=f"{key} notified by {via} at {iso(at)}")
    done = store.cases.record(action, request)
    _emit(store, "notify", case, recorded=done.as_json())
    return done


def respond(
    store: GraphStore,
    case_id: str,
    customer: str,
    *,
    at: dt.datetime,
    actor: str,
    returned: int = 0,
    corrected: int = 0,
    note: str | None = None,
) -> CaseAction:
    """Record a consignee's response. ``returned`` and ``corrected`` count devices this
    response accounts for; a consignee's responses add up, never past its devices in scope."""
    case = _case(store, case_id)
    _writable(case)
    if returned < 0 or corrected < 0:
        raise BadInput("returned and corrected: counts of devices, 0 or more")
    key = _consignee(case, customer)
    view = CaseView(case, store.cases.actions(case.id))
    row = view.consignee_rows()[key]
    total = row["returned"] + row["corrected"] + returned + corrected
    if total > row["devices"]:
        raise BadInput(
            f"{key}: {total} devices returned or corrected in all, but only "
            f"{row['devices']} of its devices are in case {case.id}"
        )
    data: dict[str, Any] = {"returned": returned, "corrected": corrected}
    if (text := _text("note", note)) is not None:
        data["note"] = text
    action = CaseAction(
        case=case.id,
        kind="respond",
        customer=key,
        at=at,
        recorded_at=dt.datetime.now(dt.UTC),
        recorded_by=actor,
        data=data,
    )
    request = WriteRequest(
        actor,
        "case respond",
        reason=f"{key} responded at {iso(at)}: {returned} returned, {corrected} corrected",
    )
    done = store.cases.record(action, request)
    _emit(store, "respond", case, recorded=done.as_json())
    return done


def close(store: GraphStore, case_id: str, actor: str) -> CaseRecord:
    """Close a case. Closing a closed one changes nothing (and writes no audit entry)."""
    case = _case(store, case_id)
    if case.status == "closed":
        return case
    view = CaseView(case, store.cases.actions(case.id))
    effect = view.effectiveness()
    request = WriteRequest(
        actor,
        "case close",
        reason=f"{effect['checked']} of {effect['consignees']} consignees checked "
        f"(level {case.level} target {effect['target_consignees']})",
    )
    closed = store.cases.close(case.id, dt.datetime.now(dt.UTC), actor, request)
    _emit(store, "close", closed, effectiveness=effect)
    return closed


def list_cases(store: GraphStore) -> list[CaseRecord]:
    return store.cases.cases()


@dataclass
class CaseView:
    """One case as `case show` tells it: per consignee, the effectiveness check, and (with a
    refresh) what a recall run now would change."""

    case: CaseRecord
    actions: list[CaseAction]
    refresh: dict[str, Any] | None = field(default=None)

    @property
    def scope(self) -> Mapping[str, Any]:
        return self.case.scope or {}

    def consignee_rows(self) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for c in self.scope.get("customers", []):
            rows[c["key"]] = {
                "key": c["key"],
                "id": c["id"],
                "name": c.get("name"),
                "country": c.get("country"),
                "address": c.get("address"),
                "phone": c.get("phone"),
                "contact": c.get("contact"),
                "devices": c.get("devices", 0),
                "notified_at": None,
                "notified_via": None,
                "responded_at": None,
                "returned": 0,
                "corrected": 0,
                "notes": [],
                "actions": [],
            }
        for a in self.actions:
            row = rows.get(a.customer)
            if row is None:
                continue
            row["actions"].append(a.n)
            if a.kind == "notify":
                if row["notified_at"] is None or iso(a.at) < row["notified_at"]:
                    row["notified_at"] = iso(a.at)
                    row["notified_via"] = a.data.get("via")
            elif a.kind == "respond":
                if row["responded_at"] is None or iso(a.at) > row["responded_at"]:
                    row["responded_at"] = iso(a.at)
                row["returned"] += int(a.data.get("returned", 0))
                row["corrected"] += int(a.data.get("corrected", 0))
                if a.data.get("note"):
                    row["notes"].append(a.data["note"])
        return rows

    def effectiveness(self) -> dict[str, Any]:
        rows = self.consignee_rows().values()
        total = len(rows)
        percent = LEVELS[self.case.level]
        target = math.ceil(total * percent / 100)
        checked = sum(1 for r in rows if r["responded_at"] is not None)
        notified = sum(1 for r in rows if r["notified_at"] is not None)
        devices = sum(r["devices"] for r in rows)
        done = sum(r["returned"] + r["corrected"] for r in rows)
        return {
            "level": self.case.level,
            "target_percent": percent,
            "consignees": total,
            "target_consignees": target,
            "notified": notified,
            "checked": checked,
            "checked_percent": round(100 * checked / total, 1) if total else 0.0,
            "met": checked >= target,
            "devices": devices,
            "devices_returned_or_corrected": done,
        }

    def missing(self) -> list[str]:
        """What a notice cannot be sent without, per consignee."""
        out = []
        for row in self.consignee_rows().values():
            lacks = [f for f in ("address", "phone") if not row[f]]
            if lacks:
                out.append(f"{row['key']}: no {' and no '.join(lacks)}")
        return out

    def as_json(self) -> dict[str, Any]:
        counts = dict(self.scope.get("counts", {}))
        out: dict[str, Any] = {
            "case": self.case.as_json(),
            "scope": {"counts": counts, "counts_by_product": self.scope.get("counts_by_product")},
            "consignees": sorted(self.consignee_rows().values(), key=lambda r: r["id"]),
            "effectiveness": self.effectiveness(),
            "missing": self.missing(),
            "actions": [a.as_json() for a in self.actions],
        }
        if self.refresh is not None:
            out["refresh"] = self.refresh
        return out


def _diff(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    old = {d["key"] for d in before}
    new = {d["key"] for d in after}
    return {"added": sorted(new - old), "removed": sorted(old - new)}


def refresh(store: GraphStore, case: CaseRecord) -> dict[str, Any]:
    """What a recall run now, on the case's suspects and window, would change in its scope."""
    window = case.window
    start = dt.datetime.fromisoformat(window["from"]) if window.get("from") else None
    end = dt.datetime.fromisoformat(window["to"]) if window.get("to") else None
    now = recall(store, list(case.suspects), start, end).as_json()
    scope = case.scope or {}
    devices = _diff(scope.get("devices", []), now["devices"])
    customers = _diff(scope.get("customers", []), now["customers"])
    return {
        "as_of": iso(dt.datetime.now(dt.UTC)),
        "devices_added": devices["added"],
        "devices_removed": devices["removed"],
        "consignees_added": customers["added"],
        "consignees_removed": customers["removed"],
        "changed": bool(devices["added"] or devices["removed"] or customers["added"]
                        or customers["removed"]),
    }  # fmt: skip


def show(store: GraphStore, case_id: str, *, with_refresh: bool = False) -> CaseView:
    case = _case(store, case_id)
    view = CaseView(case, store.cases.actions(case.id))
    if with_refresh:
        view.refresh = refresh(store, case)
    return view


def scope_devices(case: CaseRecord) -> list[Mapping[str, Any]]:
    return list((case.scope or {}).get("devices", []))


def consignee_keys(case: CaseRecord) -> list[str]:
    return sorted(c["key"] for c in (case.scope or {}).get("customers", []))


def devices_by_consignee(case: CaseRecord) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for d in scope_devices(case):
        if d.get("customer") and key_type(d["customer"]) is EntityType.Customer:
            out[d["customer"]].append(d["key"])
    return dict(out)


# --------------------------------------------------------------------------- drill


@dataclass
class DrillResult:
    """A mock recall: what each step took, and what it wrote. No case is kept."""

    suspects: list[str]
    out: str
    steps: list[tuple[str, float, str]] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(seconds for _, seconds, _ in self.steps)

    def as_json(self) -> dict[str, Any]:
        return {
            "suspects": self.suspects,
            "out": self.out,
            "steps": [
                {"step": name, "seconds": round(seconds, 3), "result": what}
                for name, seconds, what in self.steps
            ],
            "total_seconds": round(self.total, 3),
        }


def drill(
    store: GraphStore,
    suspects: Sequence[str],
    out: Path,
    firm: Mapping[str, str | None],
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    actor: str = "drill",
) -> DrillResult:
    """Scope, the three reports and the evidence of the affected batches, each step timed, as
    a real case would need them; the case is drafted, never kept (no case is left open)."""
    from tracegraph import casereports
    from tracegraph.evidence import evidence, write_package

    result = DrillResult(list(suspects), str(out))

    def timed(name: str, work: Any) -> Any:
        began = time.perf_counter()
        answer, what = work()
        result.steps.append((name, time.perf_counter() - began, what))
        return answer

    def scope() -> tuple[CaseRecord, str]:
        case = draft_case(
            store, suspects, title="mock recall (drill)", actor=actor, start=start, end=end
        )
        counts = (case.scope or {}).get("counts", {})
        return case, f"{counts.get('devices', 0)} devices, {counts.get('customers', 0)} consignees"

    case = replace(timed("scope", scope), id="DRILL")
    timed("fda-806", lambda: (casereports.write_fda806(case, firm, out / "fda-806"), "fda-806/"))
    timed("fsca", lambda: (casereports.write_fsca(case, firm, out / "fsca"), "fsca/"))
    timed(
        "spreadsheet",
        lambda: (casereports.write_spreadsheet(case, out / "devices.xlsx"), "devices.xlsx"),
    )

    def packages() -> tuple[None, str]:
        batches = sorted(b["key"] for b in (case.scope or {}).get("batches", []))
        folder = out / "evidence"
        folder.mkdir(parents=True, exist_ok=True)
        for key in batches:
            write_package(evidence(store, key), folder / f"{key.replace(':', '_')}.zip")
        return None, f"evidence/ ({len(batches)} packages)"

    timed("evidence", packages)
    return result
