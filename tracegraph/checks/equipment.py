"""Equipment: batches processed while a machine was out of calibration, calibrations overdue."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from tracegraph.checks.core import Facts, Found, Level, day, instant, listing, plural, rule
from tracegraph.model import EntityType, RelType

E = EntityType
R = RelType


def _calibrations(f: Facts) -> dict[str, list[tuple[dt.datetime, str, str]]]:
    """Each equipment's calibrations: (performed at, result, key), oldest first."""
    events = f.nodes(E.MaintenanceEvent)
    out: dict[str, list[tuple[dt.datetime, str, str]]] = defaultdict(list)
    for src, dst in f.links(R.MAINTAINS):
        event = events.get(src)
        if event is None or event.props.get("kind") != "calibration":
            continue
        when = instant(event.props.get("performed_at"))
        if when is not None:
            out[dst].append((when, str(event.props.get("result")), src))
    for calibrations in out.values():
        calibrations.sort()
    return out


@rule(
    "equipment.processed-after-failed-calibration",
    Level.error,
    "equipment processed batches after a failed calibration and before the next passing one",
)
def processed_after_failure(f: Facts) -> Found:
    processed: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    edges = f.edges(R.PROCESSED)
    for src, dst, value in zip(edges.src, edges.dst, edges.column("at"), strict=True):
        if (at := instant(value)) is not None:
            processed[src].append((at, dst))
    for equipment, calibrations in sorted(_calibrations(f).items()):
        for n, (failed_at, result, event) in enumerate(calibrations):
            if result != "fail":
                continue
            passed = next((c for c in calibrations[n + 1 :] if c[1] == "pass"), None)
            until = passed[0] if passed is not None else None
            batches = sorted(
                batch
                for at, batch in processed.get(equipment, [])
                if at > failed_at and (until is None or at < until)
            )
            if not batches:
                continue
            window = (
                f"before it passed again on {day(until)} ({passed[2]})"
                if passed is not None
                else "with no passing calibration since"
            )
            yield (
                (equipment, event, *batches),
                f"{equipment} processed {plural(len(batches), 'batch', 'batches')} after it "
                f"failed calibration on {day(failed_at)} ({event}), {window}: " + listing(batches),
            )


@rule(
    "equipment.calibration-overdue",
    Level.warning,
    "equipment's last passing calibration is older than its calibration_interval_days",
)
def calibration_overdue(f: Facts) -> Found:
    calibrations = _calibrations(f)
    for key, equipment in sorted(f.nodes(E.Equipment).items()):
        interval = equipment.props.get("calibration_interval_days")
        if not isinstance(interval, int):
            continue
        passes = [c for c in calibrations.get(key, []) if c[1] == "pass" and c[0] <= f.now]
        if not passes:
            yield (
                (key,),
                f"{key} must be calibrated every {plural(interval, 'day')}, and has no "
                "passing calibration on record",
            )
            continue
        last, _, event = passes[-1]
        due = last + dt.timedelta(days=interval)
        if due < f.now:
            yield (
                (key, event),
                f"{key} was due for calibration on {day(due)} "
                f"({plural(interval, 'day')} after it passed on {day(last)}, {event}); "
                f"{plural((f.now - due).days, 'day')} overdue",
            )
