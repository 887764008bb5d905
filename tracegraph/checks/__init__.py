"""Data-quality and supplier-compliance rules: `tracegraph check`.

Each rule has a stable id (``family.name``), a severity and a one-line description, and finds
records that contradict each other, miss a link that makes them traceable, or show a supplier,
machine or change out of compliance. One module per family registers its rules; `run` reads
the store once per type through `Facts` (a fixed number of set reads on either store) and
gives every finding with the keys it is about and a sentence saying what is wrong.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from tracegraph.checks import (  # noqa: F401  (each registers its rules)
    changes,
    complaints,
    dates,
    equipment,
    quantities,
    structure,
    suppliers,
    udi,
)
from tracegraph.checks.core import LEVELS, RANK, REGISTRY, Facts, Finding, Level, Rule
from tracegraph.errors import BadInput
from tracegraph.gcpause import cycles_collected_after
from tracegraph.model import EntityType, RelType, iso
from tracegraph.store.base import GraphStore, WriteSummary, as_utc

__all__ = [
    "FAMILIES",
    "LEVELS",
    "RANK",
    "REGISTRY",
    "CheckReport",
    "Finding",
    "Level",
    "Rule",
    "rules",
    "run",
]

DEFAULT_WITHIN_DAYS: Final = 30

#: The families in the order reports list them: the data's shape first, compliance after.
FAMILIES: Final = (
    "structure",
    "date",
    "quantity",
    "udi",
    "supplier",
    "equipment",
    "change",
    "complaint",
)
_ordered = sorted(REGISTRY.values(), key=lambda r: FAMILIES.index(r.family))
REGISTRY.clear()
REGISTRY.update((r.id, r) for r in _ordered)


def rules(selected: Sequence[str] = ()) -> list[Rule]:
    """The rules to run: all, or those named (by id, or a whole family by its name)."""
    if not selected:
        return list(REGISTRY.values())
    chosen: dict[str, Rule] = {}
    for name in selected:
        matched = [r for r in REGISTRY.values() if name in (r.id, r.family)]
        if not matched:
            families = sorted({r.family for r in REGISTRY.values()})
            raise BadInput(
                f"--rule {name!r}: no such rule or family (families: {', '.join(families)}; "
                "`tracegraph check --list` lists the rules)"
            )
        chosen.update((r.id, r) for r in matched)
    return [r for r in REGISTRY.values() if r.id in chosen]


@dataclass(frozen=True)
class CheckReport:
    as_of: dt.datetime
    within_days: int
    rules: list[Rule]
    findings: list[Finding]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((r.id for r in self.rules), 0)
        for finding in self.findings:
            counts[finding.rule] += 1
        return counts

    def worst(self) -> Level | None:
        """The severity of the most severe finding (None: nothing found)."""
        return min((f.severity for f in self.findings), key=RANK.__getitem__, default=None)

    def reaches(self, level: Level) -> bool:
        """Whether a finding is at least as severe as ``level`` (what ``--fail-on`` asks)."""
        worst = self.worst()
        return worst is not None and RANK[worst] <= RANK[level]

    def as_json(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "as_of": iso(self.as_of),
            "within_days": self.within_days,
            "rules": [
                {
                    "id": r.id,
                    "severity": str(r.severity),
                    "description": r.description,
                    "findings": counts[r.id],
                }
                for r in self.rules
            ],
            "findings": [f.as_json() for f in self.findings],
        }


def run(
    store: GraphStore,
    *,
    selected: Sequence[str] = (),
    within_days: int = DEFAULT_WITHIN_DAYS,
    as_of: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> CheckReport:
    """Run the rules over the store (as it was at ``as_of``, if given): findings most severe
    first, then by rule and keys. The rules that measure time (expiries, overdue items, dates
    in the future) measure it from ``as_of``, else ``now``, else the clock's time."""
    if within_days < 0:
        raise BadInput(f"--within-days {within_days}: must be 0 or more")
    chosen = rules(selected)
    moment = as_of if as_of is not None else now
    now = as_utc(moment) if moment is not None else dt.datetime.now(dt.UTC)
    return _check(Facts(store.at(now) if as_of is not None else store, now, within_days), chosen)


def _check(facts: Facts, chosen: list[Rule]) -> CheckReport:
    # What a check reads lives until it ends and forms no cycles: the collector's walks over
    # the millions of rows read (a million devices) would cost as much as the rules.
    with cycles_collected_after():
        findings = [finding for r in chosen for finding in r.run(facts)]
    order = {r.id: n for n, r in enumerate(chosen)}
    findings.sort(key=lambda f: (RANK[f.severity], order[f.rule], f.keys))
    return CheckReport(facts.now, facts.within_days, chosen, findings)


def brought_by(store: GraphStore, summary: WriteSummary) -> list[Finding]:
    """The findings a write brought: those about a record it created or changed (a finding
    about records it left as they were was there before it). One whole check, run only when
    the write changed something."""
    if summary.all_new:  # it filled an empty store: every finding is about what it made
        return run(store).findings if summary.created else []
    changed = summary.changed_keys()
    if not changed:
        return []
    return [f for f in run(store).findings if changed.intersection(f.keys)]


#: The expiry horizons the dashboard shows (days ahead).
HORIZONS: Final = (30, 60, 90)


def quality_panel(store: GraphStore, *, shown: int = 100) -> dict[str, Any]:
    """The dashboard's data-quality panel: every rule's count (those with findings, most
    severe first), the first ``shown`` findings, certificates expiring within each horizon,
    and suppliers by status. One check (with the longest horizon for expiries)."""
    now = dt.datetime.now(dt.UTC)
    facts = Facts(store, now, max(HORIZONS))
    report = _check(facts, rules())
    today = now.date()
    holders = facts.targets(RelType.CERTIFIES)
    expiring: list[tuple[int, str, dict[str, Any]]] = []
    for key, cert in sorted(facts.nodes(EntityType.Certificate).items()):
        end = cert.props.get("valid_to")
        if isinstance(end, dt.date) and today <= end <= today + dt.timedelta(max(HORIZONS)):
            days = (end - today).days
            row = {
                "key": key,
                "kind": cert.props.get("kind"),
                "valid_to": end.isoformat(),
                "days": days,
                "suppliers": holders.get(key, []),
            }
            expiring.append((days, key, row))
    expiring.sort(key=lambda c: (c[0], c[1]))
    statuses: dict[str, int] = {}
    for supplier in facts.nodes(EntityType.Supplier).values():
        status = str(supplier.props.get("status") or "unknown")
        statuses[status] = statuses.get(status, 0) + 1
    counts = report.counts()
    with_findings = sorted(
        (r for r in report.rules if counts[r.id]), key=lambda r: RANK[r.severity]
    )
    return {
        "as_of": iso(report.as_of),
        "counts": {
            "findings": len(report.findings),
            "shown": min(shown, len(report.findings)),
            **{str(lv): sum(1 for f in report.findings if f.severity is lv) for lv in LEVELS},
        },
        "rules": [
            {
                "id": r.id,
                "severity": str(r.severity),
                "description": r.description,
                "findings": counts[r.id],
            }
            for r in with_findings
        ],
        "findings": [f.as_json() for f in report.findings[:shown]],
        "expiring": [row for _, _, row in expiring],
        "expiring_within": {str(h): sum(1 for d, _, _ in expiring if d <= h) for h in HORIZONS},
        "suppliers": dict(sorted(statuses.items())),
    }
