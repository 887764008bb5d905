"""Complaints: reportable events not reported in time (21 CFR 803: 30 calendar days)."""

from __future__ import annotations

import datetime as dt
from typing import Final

from tracegraph.checks.core import Facts, Found, Level, day, instant, plural, rule
from tracegraph.model import EntityType

E = EntityType

#: 21 CFR 803.50: a manufacturer reports within 30 calendar days of becoming aware.
REPORT_DAYS: Final = 30


@rule(
    "complaint.report-overdue",
    Level.error,
    f"a reportable complaint has no report_number {REPORT_DAYS} days after it was reported "
    "(21 CFR 803.50)",
)
def report_overdue(f: Facts) -> Found:
    for key, complaint in sorted(f.nodes(E.Complaint).items()):
        if complaint.props.get("reportable") is not True or complaint.props.get("report_number"):
            continue
        reported = instant(complaint.props.get("reported_at"))
        if reported is None:
            continue
        due = reported + dt.timedelta(days=REPORT_DAYS)
        if due < f.now:
            yield (
                (key,),
                f"{key} is reportable and has no report number: reported on {day(reported)}, "
                f"due by {day(due)}, {plural((f.now - due).days, 'day')} overdue",
            )
