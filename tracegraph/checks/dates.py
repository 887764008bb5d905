"""Dates out of order: records whose times contradict each other or the calendar."""

from __future__ import annotations

import datetime as dt
from typing import Final

from tracegraph.checks.core import Facts, Found, Level, day, gap, plural, rule
from tracegraph.model import EntityType, RelType

E = EntityType
R = RelType

#: How far past the check's moment an event time may lie (clocks and time zones) before it is
#: "in the future".
SLACK: Final = dt.timedelta(days=1)

#: The event times of each type: when something happened, so never after now. (Planned times —
#: a certificate's validity, a change's effective date — may lie ahead.)
EVENT_TIMES: Final = {
    E.MaterialLot: ("received_at",),
    E.Batch: ("started_at", "completed_at"),
    E.Device: ("manufactured_at",),
    E.MaintenanceEvent: ("performed_at",),
    E.Inspection: ("performed_at",),
    E.Shipment: ("shipped_at",),
    E.ServiceEvent: ("performed_at",),
    E.Complaint: ("reported_at",),
    E.ChangeOrder: ("approved_at",),
}
EDGE_TIMES: Final = {R.CONSUMED_IN: "at", R.INSTALLED_IN: "at", R.PROCESSED: "at"}


@rule(
    "date.certificate-ends-before-it-starts",
    Level.error,
    "a certificate's valid_to is before its valid_from",
)
def certificate_range(f: Facts) -> Found:
    for key, cert in f.nodes(E.Certificate).items():
        start, end = cert.props.get("valid_from"), cert.props.get("valid_to")
        if start is not None and end is not None and end < start:
            yield (
                (key,),
                f"{key} ends on {day(end)}, {plural((start - end).days, 'day')} before it "
                f"starts ({day(start)})",
            )


@rule(
    "date.batch-completed-before-started",
    Level.error,
    "a batch's completed_at is before its started_at",
)
def batch_range(f: Facts) -> Found:
    for key, batch in f.nodes(E.Batch).items():
        start, end = batch.props.get("started_at"), batch.props.get("completed_at")
        if start is not None and end is not None and end < start:
            yield (
                (key,),
                f"{key} was completed on {day(end)}, {gap(end, start)} "
                f"before it started ({day(start)})",
            )


@rule(
    "date.lot-consumed-before-received",
    Level.error,
    "a lot was consumed in a batch (CONSUMED_IN.at) before it was received",
)
def consumed_before_received(f: Facts) -> Found:
    lots, edges = f.nodes(E.MaterialLot), f.edges(R.CONSUMED_IN)
    for src, dst, at in zip(edges.src, edges.dst, edges.column("at"), strict=True):
        received = lots.value(src, "received_at")
        if at is not None and received is not None and at < received:
            yield (
                (src, dst),
                f"{src} was consumed in {dst} on {day(at)}, "
                f"{gap(at, received)} before it was received "
                f"({day(received)})",
            )


@rule(
    "date.device-made-before-batch-started",
    Level.error,
    "a device's manufactured_at is before its batch started",
)
def device_before_batch(f: Facts) -> Found:
    devices, batches = f.nodes(E.Device), f.nodes(E.Batch)
    for src, dst in f.links(R.PRODUCED):
        made, started = devices.value(dst, "manufactured_at"), batches.value(src, "started_at")
        if made is not None and started is not None and made < started:
            yield (
                (dst, src),
                f"{dst} was made on {day(made)}, {gap(made, started)} "
                f"before its batch {src} started ({day(started)})",
            )


@rule(
    "date.shipped-before-made",
    Level.error,
    "a shipment left before a device in it was made",
)
def shipped_before_made(f: Facts) -> Found:
    devices, shipments = f.nodes(E.Device), f.nodes(E.Shipment)
    for src, dst in f.links(R.SHIPPED_IN):
        made, shipped = devices.value(src, "manufactured_at"), shipments.value(dst, "shipped_at")
        if made is not None and shipped is not None and shipped < made:
            yield (
                (dst, src),
                f"{dst} left on {day(shipped)}, {gap(shipped, made)} "
                f"before {src} in it was made ({day(made)})",
            )


def _after_market(f: Facts, rtype: RelType, etype: EntityType, field: str, what: str) -> Found:
    devices, records = f.nodes(E.Device), f.nodes(etype)
    for src, dst in f.links(rtype):
        made, when = devices.value(src, "manufactured_at"), records.value(dst, field)
        if made is not None and when is not None and when < made:
            yield (
                (dst, src),
                f"{dst} is dated {day(when)}, {gap(when, made)} "
                f"before {src} it {what} was made ({day(made)})",
            )


@rule(
    "date.complaint-before-manufacture",
    Level.error,
    "a complaint is dated before the device it is about was made",
)
def complaint_before_made(f: Facts) -> Found:
    return _after_market(f, R.HAS_COMPLAINT, E.Complaint, "reported_at", "is about")


@rule(
    "date.service-before-manufacture",
    Level.error,
    "a field-service event is dated before the device it serviced was made",
)
def service_before_made(f: Facts) -> Found:
    return _after_market(f, R.HAS_SERVICE, E.ServiceEvent, "performed_at", "serviced")


@rule(
    "date.event-in-the-future",
    Level.warning,
    "a record says something happened after the moment of the check (e.g. a date in 2099)",
)
def in_the_future(f: Facts) -> Found:
    limit = f.now + SLACK
    for etype, fields in EVENT_TIMES.items():
        nodes = f.nodes(etype)
        for key, *times in zip(nodes, *(nodes.column(n) for n in fields), strict=True):
            for name, when in zip(fields, times, strict=True):
                # (event times are instants: the model reads a date as 00:00 UTC)
                if isinstance(when, dt.datetime) and when > limit:
                    yield ((key,), f"{key}: {name} is {day(when)}, after {day(f.now)}")
    for rtype, name in EDGE_TIMES.items():
        edges = f.edges(rtype)
        for src, dst, when in zip(edges.src, edges.dst, edges.column(name), strict=True):
            if isinstance(when, dt.datetime) and when > limit:
                yield (
                    (src, dst),
                    f"{rtype} {src} -> {dst}: {name} is {day(when)}, after {day(f.now)}",
                )
