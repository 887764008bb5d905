"""The risk-hotspot dashboard: what a recall analyst looks at first each morning.

Four panels, each an answer with its counts (an empty panel says zero, never nothing):

- **hotspots** — the common-cause ranking over the complaints matching the filters (severity,
  product, window): `tracegraph.commoncause.common_cause` with its figures among the units
  (devices not installed in another device), its first ``top`` entries in the order that
  separates cases from non-cases: an entity that reached (nearly) every unit cannot, and comes
  after those that do; the rest by their p-value among the units (`separating_first`);
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
At 20,000 devices the ranking takes most of it (about a second); the certificates read every
lot's receipt time alone (`ReadsFields`) and whole only the lots that can be listed, and count
their devices the way the ranking counts exposure; the calibrations read only the batches in
a window.
The certificates and calibrations do not depend on the filters: they are made once per state
of the store and day (`StandingPanels`), and the ranking remembers its exposures, so a change
of filters costs the ranking's walk from the new cases.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, cast

from tracegraph.commoncause import CommonCauseResult, Hotspot, common_cause, exposures
from tracegraph.errors import BadInput
from tracegraph.model import Direction, EntityType, RelType, iso
from tracegraph.store.base import (
    GraphStore,
    Link,
    ReadsAuditHead,
    ReadsFields,
    StoredEdge,
    StoredNode,
    live_store,
)

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
#: ``top`` and ``recent`` at most: enough for every entry, which the page asks for and reads
#: a page at a time (the API's ``limit`` and ``cursor``).
MAX_ROWS: Final = 1_000_000

#: An entity that reached this share of the units or more does not separate cases from
#: non-cases: nearly every unit, case or not, came from it.
NEARLY_ALL: Final = 0.95


def _plain(node: StoredNode, *fields: str) -> dict[str, Any]:
    return {"key": node.key, "id": node.id, **{f: iso(node.props.get(f)) for f in fields}}


def _closed(complaint: StoredNode) -> bool:
    attributes = complaint.props.get("attributes")
    status = attributes.get("status") if isinstance(attributes, dict) else None
    return isinstance(status, str) and status.strip().lower() == "closed"


def _by(edges: Iterable[StoredEdge | Link], *, key_end: str) -> dict[str, list[str]]:
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
        hot = self.hotspots
        ordered = separating_first(hot)
        units = hot.units if hot.units is not None else hot.population
        ranking = [{**h.as_json(), "separates": separates(h, units)} for h in ordered[: self.top]]
        counts = {
            "cases": len(hot.cases),
            "population": hot.population,
            "units": units,
            "complaints": hot.complaints,
            "upstream": hot.upstream,
            "ranked": len(hot.ranking),
            "separating": sum(separates(h, units) for h in hot.ranking),
            "shown": min(self.top, len(hot.ranking)),
        }
        return {
            "filters": self.filters,
            "today": self.today.isoformat(),
            "hotspots": {
                "population": hot.population,
                "population_scope": hot.population_scope,
                "units": units,
                "ranking": ranking,
                "counts": counts,
            },
            "certificates": self.certificates,
            "calibrations": self.calibrations,
            "complaints": self.complaints,
            "counts": {
                "hotspots": len(hot.ranking),
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


# --------------------------------------------------------------------------- the ranking


def separates(hotspot: Hotspot, units: int) -> bool:
    """Whether the entity can separate cases from non-cases: it reached fewer than
    `NEARLY_ALL` of the units (every device, without units)."""
    reached = hotspot.unit_exposure if hotspot.unit_exposure is not None else hotspot.exposure
    return reached < NEARLY_ALL * units


def separating_first(result: CommonCauseResult) -> list[Hotspot]:
    """The ranking in the order that separates cases from non-cases: the entities that can
    (`separates`) first, then by the p-value of their cases among the units (among all
    devices without units), then as `common_cause` ranks them (p, more cases, higher rate,
    key). At 20,000 generated devices the first 17 entries of `common_cause` are stations,
    processes and suppliers that made every monitor (p = 1.6e-31 among all devices, p = 1
    among the units): here they come last, and first come lots whose units complained two and
    a half times as often as the rest."""
    units = result.units if result.units is not None else result.population

    def order(h: Hotspot) -> tuple[bool, float, float, int, float, str]:
        p_unit = h.unit_p_value if h.unit_p_value is not None else h.p_value
        return (not separates(h, units), p_unit, h.p_value, -h.cases, -h.rate, h.key)

    return sorted(result.ranking, key=order)


# --------------------------------------------------------------------------- certificates


def _valid(cert: StoredNode, day: dt.date) -> bool:
    return bool(cert.props["valid_from"] <= day <= cert.props["valid_to"])


def certificate_lapses(
    store: GraphStore, today: dt.date, known: Mapping[str, int] | None = None
) -> list[dict[str, Any]]:
    """Suppliers with lots received outside their certificates' validity, or with no valid
    certificate today and lots in use: those with uncovered receipts first, then by key.
    ``known``: devices of lots counted already (the ranking's exposures over every device),
    not counted again."""
    suppliers = store.nodes(store.keys_of_type(E.Supplier))
    certs_of = _by(store.edges(list(suppliers), [R.CERTIFIES], UP, props=False), key_end="dst")
    lots_of = _by(store.edges(list(suppliers), [R.SUPPLIED], DOWN, props=False), key_end="src")
    certs = store.nodes(k for ks in certs_of.values() for k in ks)
    received = _received(store, [k for ks in lots_of.values() for k in ks])

    # Which lots can be listed: those received uncovered, and every lot of a supplier without
    # a valid certificate today (listed if it went into a batch). Only their batches are read:
    # at 20,000 devices the lots of every supplier went into 116,000 batches.
    maybe: dict[str, list[tuple[str, str]]] = {}
    for supplier in sorted(suppliers):
        held = [certs[c] for c in certs_of.get(supplier, []) if c in certs]
        lapsed_now = not any(_valid(c, today) for c in held)
        rows: list[tuple[str, str]] = []
        for lot in lots_of.get(supplier, []):
            if lot not in received:
                continue
            day = received[lot].astimezone(dt.UTC).date()
            if not any(_valid(c, day) for c in held):
                rows.append((lot, OUTSIDE if held else UNCERTIFIED))
            elif lapsed_now:
                rows.append((lot, LAPSED))
        if rows:
            maybe[supplier] = rows
    batches_of = _by(
        store.edges(
            [lot for rows in maybe.values() for lot, _ in rows], [R.CONSUMED_IN], DOWN, props=False
        ),
        key_end="src",
    )
    flagged: dict[str, list[tuple[str, str]]] = {}
    for supplier, rows in maybe.items():
        kept = [(lot, why) for lot, why in rows if why != LAPSED or batches_of.get(lot)]
        if kept:
            flagged[supplier] = kept
    # The devices of each lot, as the ranking counts exposure: the same numbers as one
    # closure per lot, for two store calls (the ranking's own, where it has them).
    counted = dict(known or {})
    listed = [lot for rows in flagged.values() for lot, _ in rows]
    lots = store.nodes(listed)
    devices = {
        **exposures(store, [lot for lot in listed if lot not in counted]),
        **{lot: counted[lot] for lot in listed if lot in counted},
    }

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


def _received(store: GraphStore, lots: list[str]) -> dict[str, dt.datetime]:
    """Each lot's receipt time: the one field read where the store can (`ReadsFields`; the
    lots of every supplier are 336k at 1M devices), else the whole records."""
    if isinstance(store, ReadsFields):
        return {k: v for k, (v,) in store.fields(lots, ["received_at"]).items()}
    return {k: n.props["received_at"] for k, n in store.nodes(lots).items()}


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

    # Per failure and machine: the passes around it, and the uses in each window.
    found: list[
        tuple[
            StoredNode, str, list[StoredNode], list[StoredNode], list[StoredEdge], list[StoredEdge]
        ]
    ] = []
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

            uses = sorted(processed.get(machine, []), key=lambda e: (e.props.get("at"), e.dst))
            early = [
                e for e in uses
                if isinstance(e.props.get("at"), dt.datetime)
                and (since is None or e.props["at"] > since) and e.props["at"] <= at
            ]  # fmt: skip
            late = [
                e for e in uses
                if isinstance(e.props.get("at"), dt.datetime)
                and e.props["at"] > at and (until is None or e.props["at"] < until)
            ]  # fmt: skip
            found.append((event, machine, before, after, early, late))
    # Only the batches in a window are read (a station processes thousands).
    batches = store.nodes(e.dst for *_, early, late in found for e in (*early, *late))

    def rows(edges: list[StoredEdge]) -> list[dict[str, Any]]:
        return [
            {**_plain(batches[e.dst], "status", "kind"), "at": iso(e.props.get("at"))}
            for e in edges
            if e.dst in batches
        ]

    out = []
    for event, machine, before, after, early, late in found:
        attributes = event.props.get("attributes")
        machine_node = names.get(machine)
        out.append(
            {
                **_plain(event, "performed_at"),
                "finding": attributes.get("finding") if isinstance(attributes, dict) else None,
                "equipment": machine,
                "equipment_name": machine_node.props.get("name") if machine_node else None,
                "last_pass": _plain(before[-1], "performed_at") if before else None,
                "next_pass": _plain(after[0], "performed_at") if after else None,
                "batches_before_failure": rows(early),
                "batches_after_failure": rows(late),
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
    ranking = common_cause(
        store, severity=severity, product=product, start=start, end=end, units=True
    )
    filters = {k: v for k, v in ranking.filters.items() if k != "devices"}
    complaints, total = recent_complaints(
        store,
        severity=filters["severity"],
        product=filters["product"],
        start=start,
        end=end,
        limit=recent,
    )
    day = today if today is not None else dt.datetime.now(dt.UTC).date()
    # Without a product the ranking counted its lots' devices among every device, as here.
    known = {h.key: h.exposure for h in ranking.ranking} if filters["product"] is None else {}
    certificates, calibrations = STANDING.get(store, day, known)
    return Dashboard(
        filters=filters,
        today=day,
        top=top,
        hotspots=ranking,
        certificates=certificates,
        calibrations=calibrations,
        complaints=complaints,
        complaints_total=total,
    )


T = TypeVar("T")

#: The certificate and calibration panels of one store and day.
Panels = tuple[list[dict[str, Any]], list[dict[str, Any]]]


class _LastPerStore(Generic[T]):
    """The last value made for each live store (a weak reference) under a key that holds the
    head of its audit chain (every write of records appends an entry, from any process). A
    value made while a write moved the head is kept under the head read before: no later
    request reads that head again, so it is never served. Values are shared between the
    answers: not changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: weakref.WeakKeyDictionary[object, tuple[Hashable, T]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, owner: object | None, key: Hashable, make: Callable[[], T]) -> T:
        """The value kept for ``owner`` under ``key``, else ``make()``'s, kept (none is kept
        without an owner)."""
        if owner is None:
            return make()
        with self._lock:
            last = self._last.get(owner)
        if last is not None and last[0] == key:
            return last[1]
        value = make()
        with self._lock:
            self._last[owner] = (key, value)
        return value


class StandingPanels:
    """The certificate and calibration panels, made once per state of the store and day.

    Neither depends on the filters (severity, product, window), and at 1M devices they are
    most of a load (6.2 s and 2.5 s of 9.8 s on the embedded store): each change of a filter
    on the page made them again. They are kept per live store under the head of its audit
    chain and the day (certificates lapse); a view as of a time, and a store that cannot read
    its head alone, make them every time."""

    def __init__(self) -> None:
        self._kept: _LastPerStore[Panels] = _LastPerStore()

    def get(self, store: GraphStore, day: dt.date, known: Mapping[str, int]) -> Panels:
        """`certificate_lapses` and `failed_calibrations` of the store on ``day``."""
        live = isinstance(store, ReadsAuditHead) and getattr(store, "as_of", None) is None
        return self._kept.get(
            store if live else None,
            (cast(ReadsAuditHead, store).audit_head(), day) if live else None,
            lambda: (certificate_lapses(store, day, known), failed_calibrations(store)),
        )


#: The standing panels of the stores of this process (`StandingPanels`).
STANDING: Final = StandingPanels()


class Answers:
    """The last dashboard answer of each live store, as JSON, for the pages after the first.

    The web page asks for every entry of every list and reads them a page at a time: each
    "Show more" is the same query again, on a view as of the first page's time. At 1M
    devices, with every complaint, the answer ranks 329k entities (7.8 s again on the live
    store, 15.5 s on such a view, 2.3 s more to JSON), so each page cost as much as the first.
    The last answer is kept per live store under the query and the head of its audit chain; a
    view after the last write shares its store's (`live_store`), an older view and a store
    that cannot read its head alone make it every time. One answer a store: a new query
    replaces it (pages are sliced copies of it)."""

    def __init__(self) -> None:
        self._kept: _LastPerStore[dict[str, Any]] = _LastPerStore()

    def get(
        self, store: GraphStore, query: tuple[Any, ...], make: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """The answer to ``query`` (hashable), kept or made by ``make()``."""
        live = live_store(store)
        key = (*query, live.audit_head()) if live is not None else None
        return self._kept.get(live, key, make)


#: The last dashboard answers of the stores of this process (`Answers`).
ANSWERS: Final = Answers()


def dashboard_json(
    store: GraphStore,
    *,
    severity: str | None = None,
    product: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    today: dt.date | None = None,
    top: int = DEFAULT_TOP,
    recent: int = DEFAULT_RECENT,
) -> dict[str, Any]:
    """`dashboard(...).as_json()`, the last answer of the store kept (`Answers`): what
    `GET /v1/dashboard` answers, a page at a time."""
    day = today if today is not None else dt.datetime.now(dt.UTC).date()
    query = (severity, product, start, end, day, top, recent)
    return ANSWERS.get(
        store,
        query,
        lambda: dashboard(
            store,
            severity=severity,
            product=product,
            start=start,
            end=end,
            today=day,
            top=top,
            recent=recent,
        ).as_json(),
    )
