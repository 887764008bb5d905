"""The risk-hotspot dashboard: what a recall analyst looks at first each morning.

Four panels, each an answer with its counts (an empty panel says zero, never nothing):

- **hotspots** — the common-cause ranking over the complaints matching the filters (severity,
  product, window): `tracegraph.commoncause.common_cause`, its first ``top`` entries;
- **certificates** — suppliers whose qualification lapsed while their lots are in use: a lot
  received on a day no certificate of its supplier was valid (the evidence chain's
  ``lot-outside-certificate`` finding), and suppliers holding no valid certificate ``today``
  whose lots went into batches;
- **calibrations** — every failed calibration with its equipment, the last passing calibration
  before it and the next one after, and the batches the equipment processed in between: before
  the failure (the window `recall` takes for that calibration) and after it (the equipment was
  known to be out of tolerance);
- **complaints** — the most recent complaints matching the filters, newest first.

Cost: a fixed number of batched store calls (the ranking's, plus one ``keys_of_type``/``nodes``
per record type read and one ``edges`` per relationship followed), never one call per node.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from tracegraph.commoncause import CommonCauseResult, common_cause
from tracegraph.errors import BadInput
from tracegraph.model import GENEALOGY, Direction, EntityType, RelType, iso
from tracegraph.store.base import GraphStore, StoredEdge, StoredNode

E = EntityType
R = RelType
UP = Direction.up
DOWN = Direction.down

#: Why a lot is listed (``finding``), and the sentence the page shows for it.
OUTSIDE: Final = "received-outside-certificate"
UNCERTIFIED: Final = "supplier-without-certificate"
LAPSED: Final = "in-use-while-lapsed"
REASONS: Final = {
    OUTSIDE: "received on a day no certificate of its supplier was valid",
    UNCERTIFIED: "received from a supplier with no certificate on record",
    LAPSED: "in use while its supplier holds no valid certificate",
}

DEFAULT_TOP: Final = 10
DEFAULT_RECENT: Final = 10
MAX_ROWS: Final = 1000


def _plain(node: StoredNode, *fields: str) -> dict[str, Any]:
    return {"key": node.key, "id": node.id, **{f: iso(node.props.get(f)) for f in fields}}


def _closed(complaint: StoredNode) -> bool:
    attributes = complaint.props.get("attributes")
    status = attributes.get("status") if isinstance(attributes, dict) else None
    return isinstance(status, str) and status.strip().lower() == "closed"


def _by(edges: Iterable[StoredEdge], *, key_end: str) -> dict[str, list[str]]:
    """For each node at ``key_end`` ("src" or "dst"), the nodes at the other end, sorted."""
    out: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        k, other = (e.src, e.dst) if key_end == "src" else (e.dst, e.src)
        out[k].append(other)
    return {k: sorted(v) for k, v in out.items()}


@dataclass(frozen=True)
class Dashboard:
    filters: dict[str, Any]
    today: dt.date
    top: int
    hotspots: CommonCauseResult
    certificates: list[dict[str, Any]]
    calibrations: list[dict[str, Any]]
    complaints: list[dict[str, Any]]
    complaints_total: int

    def as_json(self) -> dict[str, Any]:
        ranking = self.hotspots.as_json()
        return {
            "filters": self.filters,
            "today": self.today.isoformat(),
            "hotspots": {
                "population": ranking["population"],
                "population_scope": ranking["population_scope"],
                "ranking": ranking["ranking"][: self.top],
                "counts": {**ranking["counts"], "shown": min(self.top, len(ranking["ranking"]))},
            },
            "certificates": self.certificates,
            "calibrations": self.calibrations,
            "complaints": self.complaints,
            "counts": {
                "hotspots": len(ranking["ranking"]),
                "suppliers": len(self.certificates),
                "lots": sum(len(s["lots"]) for s in self.certificates),
                "calibrations": len(self.calibrations),
                "batches": sum(
                    len(c["batches_before_failure"]) + len(c["batches_after_failure"])
                    for c in self.calibrations
                ),
                "complaints": self.complaints_total,
                "complaints_shown": len(self.complaints),
            },
        }


# --------------------------------------------------------------------------- certificates


def _valid(cert: StoredNode, day: dt.date) -> bool:
    return bool(cert.props["valid_from"] <= day <= cert.props["valid_to"])


def certificate_lapses(store: GraphStore, today: dt.date) -> list[dict[str, Any]]:
    """Suppliers with lots received outside their certificates' validity, or with no valid
    certificate today and lots in use: those with uncovered receipts first, then by key."""
    suppliers = store.nodes(store.keys_of_type(E.Supplier))
    certs_of = _by(store.edges(list(suppliers), [R.CERTIFIES], UP), key_end="dst")
    lots_of = _by(store.edges(list(suppliers), [R.SUPPLIED], DOWN), key_end="src")
    certs = store.nodes(k for ks in certs_of.values() for k in ks)
    lots = store.nodes(k for ks in lots_of.values() for k in ks)
    batches_of = _by(store.edges(list(lots), [R.CONSUMED_IN], DOWN), key_end="src")

    flagged: dict[str, list[tuple[str, str]]] = {}
    for supplier in sorted(suppliers):
        held = [certs[c] for c in certs_of.get(supplier, []) if c in certs]
        lapsed_now = not any(_valid(c, today) for c in held)
        rows: list[tuple[str, str]] = []
        for lot in lots_of.get(supplier, []):
            received: dt.datetime = lots[lot].props["received_at"]
            day = received.astimezone(dt.UTC).date()
            if not any(_valid(c, day) for c in held):
                rows.append((lot, OUTSIDE if held else UNCERTIFIED))
            elif lapsed_now and batches_of.get(lot):
                rows.append((lot, LAPSED))
        if rows:
            flagged[supplier] = rows
    devices = store.reach(
        [lot for rows in flagged.values() for lot, _ in rows],
        GENEALOGY,
        DOWN,
        target=E.Device,
        each=True,
        count=True,
    )

    out = []
    # Lots that arrived uncovered first: those are findings; a lapse today is a warning.
    order = sorted(flagged, key=lambda k: (all(w == LAPSED for _, w in flagged[k]), k))
    for supplier in order:
        rows = flagged[supplier]
        node = suppliers[supplier]
        held = sorted(
            (certs[c] for c in certs_of.get(supplier, []) if c in certs), key=lambda c: c.key
        )
        ends = [c.props["valid_to"] for c in held if c.props["valid_to"] < today]
        lapsed_now = not any(_valid(c, today) for c in held)
        out.append(
            {
                **_plain(node, "name", "country", "status"),
                "lapsed_now": lapsed_now,
                "lapsed_since": iso(max(ends) + dt.timedelta(days=1))
                if lapsed_now and ends
                else None,
                "certificates": [
                    {**_plain(c, "kind", "valid_from", "valid_to"), "valid_today": _valid(c, today)}
                    for c in held
                ],
                "lots": [
                    {
                        **_plain(lots[lot], "received_at"),
                        "finding": why,
                        "reason": REASONS[why],
                        "batches": batches_of.get(lot, []),
                        "devices": devices.get(lot, 0),
                    }
                    for lot, why in rows
                ],
            }
        )
    return out


# --------------------------------------------------------------------------- calibrations


def failed_calibrations(store: GraphStore) -> list[dict[str, Any]]:
    """Every failed calibration with the batches its equipment processed since the last pass;
    sorted by time, then key."""
    events = store.nodes(store.keys_of_type(E.MaintenanceEvent))
    failed = sorted(
        (n for n in events.values()
         if n.props.get("kind") == "calibration" and n.props.get("result") == "fail"),
        key=lambda n: (n.props["performed_at"], n.key),
    )  # fmt: skip
    if not failed:
        return []
    equipment_of = _by(store.edges([n.key for n in failed], [R.MAINTAINS], DOWN), key_end="src")
    machines = sorted({k for ks in equipment_of.values() for k in ks})
    history = _by(store.edges(machines, [R.MAINTAINS], UP), key_end="dst")
    processed: dict[str, list[StoredEdge]] = defaultdict(list)
    for e in store.edges(machines, [R.PROCESSED], DOWN):
        processed[e.src].append(e)
    names = store.nodes(machines)
    batches = store.nodes(e.dst for es in processed.values() for e in es)

    out = []
    for event in failed:
        at: dt.datetime = event.props["performed_at"]
        for machine in equipment_of.get(event.key, []):
            passes = sorted(
                (events[k] for k in history.get(machine, []) if k in events
                 and events[k].props.get("kind") == "calibration"
                 and events[k].props.get("result") == "pass"),
                key=lambda n: (n.props["performed_at"], n.key),
            )  # fmt: skip
            before = [p for p in passes if p.props["performed_at"] < at]
            after = [p for p in passes if p.props["performed_at"] > at]
            since = before[-1].props["performed_at"] if before else None
            until = after[0].props["performed_at"] if after else None

            def row(edge: StoredEdge) -> dict[str, Any]:
                node = batches[edge.dst]
                return {**_plain(node, "status", "kind"), "at": iso(edge.props.get("at"))}

            uses = sorted(processed.get(machine, []), key=lambda e: (e.props.get("at"), e.dst))
            early = [
                row(e) for e in uses
                if e.dst in batches and isinstance(e.props.get("at"), dt.datetime)
                and (since is None or e.props["at"] > since) and e.props["at"] <= at
            ]  # fmt: skip
            late = [
                row(e) for e in uses
                if e.dst in batches and isinstance(e.props.get("at"), dt.datetime)
                and e.props["at"] > at and (until is None or e.props["at"] < until)
            ]  # fmt: skip
            attributes = event.props.get("attributes")
            finding = attributes.get("finding") if isinstance(attributes, dict) else None
            machine_node = names.get(machine)
            out.append(
                {
                    **_plain(event, "performed_at"),
                    "finding": finding,
                    "equipment": machine,
                    "equipment_name": machine_node.props.get("name") if machine_node else None,
                    "last_pass": _plain(before[-1], "performed_at") if before else None,
                    "next_pass": _plain(after[0], "performed_at") if after else None,
                    "batches_before_failure": early,
                    "batches_after_failure": late,
                }
            )
    return out


# --------------------------------------------------------------------------- complaints


def _product_devices(store: GraphStore, product: str) -> set[str]:
    batches = [e.dst for e in store.edges([product], [R.HAS_BATCH], DOWN)]
    return {e.dst for e in store.edges(batches, [R.PRODUCED], DOWN)}


def recent_complaints(
    store: GraphStore,
    *,
    severity: str | None,
    product: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """The newest ``limit`` complaints matching the filters, and how many match in all."""
    complaints = store.nodes(store.keys_of_type(E.Complaint))
    device_of = _by(store.edges(list(complaints), [R.HAS_COMPLAINT], UP), key_end="dst")
    members = _product_devices(store, product) if product is not None else None
    matching = [
        c for c in complaints.values()
        if (severity is None or c.props.get("severity") == severity)
        and (start is None or c.props["reported_at"] >= start)
        and (end is None or c.props["reported_at"] <= end)
        and (members is None or any(d in members for d in device_of.get(c.key, [])))
    ]  # fmt: skip
    matching.sort(key=lambda c: (c.props["reported_at"], c.key), reverse=True)
    shown = matching[:limit]
    devices = sorted({d for c in shown for d in device_of.get(c.key, [])[:1]})
    batch_of = {e.dst: e.src for e in store.edges(devices, [R.PRODUCED], UP)}
    product_of = {e.dst: e.src for e in store.edges(set(batch_of.values()), [R.HAS_BATCH], UP)}
    rows = []
    for c in shown:
        device = next(iter(device_of.get(c.key, [])), None)
        batch = batch_of.get(device) if device else None
        rows.append(
            {
                **_plain(c, "reported_at", "severity", "description"),
                "device": device,
                "batch": batch,
                "product": product_of.get(batch) if batch else None,
                "closed": _closed(c),
            }
        )
    return rows, len(matching)


# --------------------------------------------------------------------------- the dashboard


def dashboard(
    store: GraphStore,
    *,
    severity: str | None = None,
    product: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    today: dt.date | None = None,
    top: int = DEFAULT_TOP,
    recent: int = DEFAULT_RECENT,
) -> Dashboard:
    """Every panel of the dashboard; ``today`` decides which certificates have lapsed (default:
    the current UTC date)."""
    for name, value in (("top", top), ("recent", recent)):
        if not 1 <= value <= MAX_ROWS:
            raise BadInput(f"{name} {value}: must be between 1 and {MAX_ROWS}")
    ranking = common_cause(store, severity=severity, product=product, start=start, end=end)
    filters = {k: v for k, v in ranking.as_json()["filters"].items() if k != "devices"}
    complaints, total = recent_complaints(
        store,
        severity=filters["severity"],
        product=filters["product"],
        start=start,
        end=end,
        limit=recent,
    )
    day = today if today is not None else dt.datetime.now(dt.UTC).date()
    return Dashboard(
        filters=filters,
        today=day,
        top=top,
        hotspots=ranking,
        certificates=certificate_lapses(store, day),
        calibrations=failed_calibrations(store),
        complaints=complaints,
        complaints_total=total,
    )
