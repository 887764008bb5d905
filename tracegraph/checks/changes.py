"""Change control: changes implemented without the record that they were approved, and
batches built under a change before it was approved."""

from __future__ import annotations

from tracegraph.checks.core import Facts, Found, Level, day, instant, rule
from tracegraph.model import EntityType, RelType

E = EntityType
R = RelType


@rule(
    "change.implemented-without-effective-date",
    Level.error,
    "a change order with status implemented has no effective_at",
)
def without_effective_date(f: Facts) -> Found:
    for key, change in sorted(f.nodes(E.ChangeOrder).items()):
        if change.props.get("status") == "implemented" and change.props.get("effective_at") is None:
            yield ((key,), f"{key} is implemented but has no effective date (effective_at)")


@rule(
    "change.implemented-without-approval",
    Level.error,
    "a change order with status implemented lacks approved_by or approved_at",
)
def without_approval(f: Facts) -> Found:
    for key, change in sorted(f.nodes(E.ChangeOrder).items()):
        if change.props.get("status") != "implemented":
            continue
        missing = [n for n in ("approved_by", "approved_at") if change.props.get(n) is None]
        if missing:
            yield ((key,), f"{key} is implemented but has no {' and no '.join(missing)}")


@rule(
    "change.batch-before-approval",
    Level.error,
    "a batch was built under a change (IMPLEMENTED_IN) before the change was approved",
)
def batch_before_approval(f: Facts) -> Found:
    changes, batches = f.nodes(E.ChangeOrder), f.nodes(E.Batch)
    for src, dst in f.links(R.IMPLEMENTED_IN):
        change, batch = changes.get(src), batches.get(dst)
        if change is None or batch is None:
            continue
        started = instant(batch.props.get("started_at"))
        approved = instant(change.props.get("approved_at"))
        if started is None:
            continue
        if approved is None:
            yield (
                (dst, src),
                f"{dst} started on {day(started)} under {src}, which has no approval on "
                "record (approved_at)",
            )
        elif started < approved:
            yield (
                (dst, src),
                f"{dst} started on {day(started)} under {src}, before the change was "
                f"approved ({day(approved)})",
            )
