"""Recall scope: from suspects to every affected batch, device, shipment and customer, each
device with the reason it is in scope (one shortest chain of keys from a suspect).

How a suspect seeds the search (§4 of the contract):

- Batch, Device, MaterialLot: itself.
- Material, Supplier: the lots it reaches (HAS_LOT / SUPPLIED), ``received_at`` within the window.
- Process, ChangeOrder: the batches it reaches (FOLLOWED / IMPLEMENTED_IN).
- Equipment: the batches it PROCESSED with ``at`` within the window.
- MaintenanceEvent (a failed calibration): the batches its equipment processed after the last
  passing calibration before it, up to the failure.
- Certificate: the lots its supplier delivered with ``received_at`` outside its validity.
- Inspection (failed): its subject.

Everything downstream of the seeds over genealogy edges is affected: one closure query. The
reasons are then found by one breadth-first search over the edges among the affected nodes, so
no path is ever enumerated.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

from tracegraph.errors import BadInput
from tracegraph.gcpause import cycles_collected_after
from tracegraph.model import GENEALOGY, Direction, EntityType, RelType, iso, key_type
from tracegraph.store.base import (
    GraphStore,
    Links,
    Scope,
    StoredEdge,
    StoredNode,
    read_scope,
    smallest_neighbour,
)
from tracegraph.trace import require

E = EntityType
R = RelType

SUSPECT_TYPES = (
    E.MaterialLot,
    E.Material,
    E.Supplier,
    E.Certificate,
    E.Batch,
    E.Device,
    E.Equipment,
    E.MaintenanceEvent,
    E.Process,
    E.ChangeOrder,
    E.Inspection,
)

#: The answer's lists, by the type of node each holds.
SECTIONS: Mapping[EntityType, str] = {
    E.MaterialLot: "lots",
    E.Batch: "batches",
    E.Device: "devices",
    E.Shipment: "shipments",
    E.Customer: "customers",
    E.ServiceEvent: "service_events",
    E.Complaint: "complaints",
}


_SECTION_TYPES: Final = frozenset(str(t) for t in SECTIONS)
_OTHER_TYPES: Final = tuple(t for t in EntityType if t not in SECTIONS)


@dataclass(frozen=True)
class Window:
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def __contains__(self, when: object) -> bool:
        if not isinstance(when, dt.datetime):
            return False
        return (self.start is None or when >= self.start) and (self.end is None or when <= self.end)

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None

    def as_json(self) -> dict[str, Any]:
        return {"from": iso(self.start), "to": iso(self.end)}


#: The suspects a window bounds (lots received, batches processed, lots outside a
#: certificate); for any other suspect the window changes nothing, and the answer says so.
WINDOWED: Final = frozenset(
    {E.Material, E.Supplier, E.Equipment, E.MaintenanceEvent, E.Certificate}
)


@dataclass(frozen=True)
class Seed:
    """A node the search starts from, and the chain of keys from its suspect to it."""

    key: str
    chain: tuple[str, ...]


@dataclass
class Seeding:
    seeds: list[Seed] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _first_edge(edges: Iterable[StoredEdge], src: str) -> StoredEdge | None:
    return next((e for e in edges if e.src == src), None)


def _seed_lots(store: GraphStore, suspect: str, rel: RelType, window: Window, out: Seeding) -> None:
    lots = [e.dst for e in store.edges([suspect], [rel], Direction.down)]
    found = store.nodes(lots)
    before = len(out.seeds)
    for lot in sorted(found):
        if found[lot].props["received_at"] in window:
            out.seeds.append(Seed(lot, (suspect, lot)))
    if window.bounded and found and len(out.seeds) == before:
        days = sorted(lot.props["received_at"].date().isoformat() for lot in found.values())
        span = days[0] if days[0] == days[-1] else f"from {days[0]} to {days[-1]}"
        out.notes.append(
            f"{suspect}: none of its {len(found)} lot{'s' if len(found) != 1 else ''} was "
            f"received in the window (received {span})"
        )


def _seed_processed(
    store: GraphStore, equipment: str, window: Window, prefix: tuple[str, ...], out: Seeding
) -> None:
    for edge in store.edges([equipment], [R.PROCESSED], Direction.down):
        if edge.props.get("at") in window:
            out.seeds.append(Seed(edge.dst, (*prefix, equipment, edge.dst)))


def _seed_calibration(store: GraphStore, event: StoredNode, window: Window, out: Seeding) -> None:
    props = event.props
    if props.get("kind") != "calibration" or props.get("result") != "fail":
        out.notes.append(
            f"{event.key}: a {props.get('kind')} with result {props.get('result')} implicates "
            "nothing; only a failed calibration seeds a recall"
        )
        return
    target = _first_edge(store.edges([event.key], [R.MAINTAINS], Direction.down), event.key)
    if target is None:
        out.notes.append(f"{event.key}: maintains no equipment")
        return
    failed_at = props["performed_at"]
    history = store.nodes(e.src for e in store.edges([target.dst], [R.MAINTAINS], Direction.up))
    passes = [
        n.props["performed_at"]
        for n in history.values()
        if n.props.get("kind") == "calibration"
        and n.props.get("result") == "pass"
        and n.props["performed_at"] < failed_at
    ]
    # After the last passing calibration (exclusive), up to the failure (inclusive).
    start = max(passes) + dt.timedelta(microseconds=1) if passes else None
    if not passes:
        out.notes.append(f"{target.dst}: no passing calibration before {event.key}")
    bounds = Window(
        max((t for t in (start, window.start) if t is not None), default=None),
        min(t for t in (failed_at, window.end) if t is not None),
    )
    _seed_processed(store, target.dst, bounds, (event.key,), out)


def _seed_certificate(store: GraphStore, cert: StoredNode, window: Window, out: Seeding) -> None:
    valid_from: dt.date = cert.props["valid_from"]
    valid_to: dt.date = cert.props["valid_to"]
    suppliers = [e.dst for e in store.edges([cert.key], [R.CERTIFIES], Direction.down)]
    for supplier in suppliers:
        lots = store.nodes(e.dst for e in store.edges([supplier], [R.SUPPLIED], Direction.down))
        for lot in sorted(lots):
            received: dt.datetime = lots[lot].props["received_at"]
            day = received.astimezone(dt.UTC).date()
            if not valid_from <= day <= valid_to and received in window:
                out.seeds.append(Seed(lot, (cert.key, supplier, lot)))


#: The suspects whose seeds depend on their own fields (a calibration's time and result, a
#: certificate's validity, an inspection's result).
_SEEDED_BY_FIELDS: Final = frozenset({E.MaintenanceEvent, E.Certificate, E.Inspection})


def seed(
    store: GraphStore, suspects: Sequence[str], window: Window = Window()
) -> tuple[list[str], Seeding]:
    """Check the suspects and find where each one enters the genealogy."""
    if not suspects:
        raise BadInput("give at least one suspect key")
    keys = require(store, suspects)
    wrong = [k for k in keys if key_type(k) not in SUSPECT_TYPES]
    if wrong:
        raise BadInput(
            f"{wrong[0]}: a {key_type(wrong[0])} cannot be a recall suspect; "
            f"use one of {', '.join(SUSPECT_TYPES)}"
        )
    # Only these suspects seed by their own fields (a round trip less for the others).
    nodes = store.nodes([k for k in keys if key_type(k) in _SEEDED_BY_FIELDS])
    out = Seeding()
    for key in dict.fromkeys(keys):
        kind = key_type(key)
        if window.bounded and kind not in WINDOWED:
            out.notes.append(
                f"{key}: the window (from / to) does not apply to a {kind} suspect; it bounds "
                "the lots a Material or Supplier delivered, the batches an Equipment processed "
                "and the lots outside a Certificate"
            )
        if kind in (E.Batch, E.Device, E.MaterialLot):
            out.seeds.append(Seed(key, (key,)))
        elif kind is E.Material:
            _seed_lots(store, key, R.HAS_LOT, window, out)
        elif kind is E.Supplier:
            _seed_lots(store, key, R.SUPPLIED, window, out)
        elif kind in (E.Process, E.ChangeOrder):
            rel = R.FOLLOWED if kind is E.Process else R.IMPLEMENTED_IN
            out.seeds += [
                Seed(e.dst, (key, e.dst)) for e in store.edges([key], [rel], Direction.down)
            ]
        elif kind is E.Equipment:
            _seed_processed(store, key, window, (), out)
        elif kind is E.MaintenanceEvent:
            _seed_calibration(store, nodes[key], window, out)
        elif kind is E.Certificate:
            _seed_certificate(store, nodes[key], window, out)
        elif kind is E.Inspection:
            if nodes[key].props.get("result") != "fail":
                out.notes.append(f"{key}: passed; only a failed inspection seeds a recall")
                continue
            out.seeds += [
                Seed(e.dst, (key, e.dst)) for e in store.edges([key], [R.INSPECTED], Direction.down)
            ]
    return keys, out


def reasons(seeds: Sequence[Seed], links: Links, target: EntityType) -> dict[str, tuple[str, ...]]:
    """One shortest chain of keys from a suspect to each node of the target type that the
    seeds reach over the links.

    A breadth-first search from all seeds at once (a seed starts at the length of its own chain
    from its suspect); ties go to the smaller key, so both stores give the same chains. It runs
    over the links' positions, in which comparing is comparing keys, and the nodes of one
    type are one run of them. A chain is its parent's chain and one key, each made once.
    Seeds are looked for among the links' names (`Links.of` takes the keys of the scope).
    """
    names = links.names
    step: list[list[int]] = [[] for _ in names]
    for src, dst in zip(links.src, links.dst, strict=True):
        step[src].append(dst)
    unreached = len(names) + max((len(s.chain) for s in seeds), default=0) + 1
    dist = [unreached] * len(names)
    start: dict[int, tuple[str, ...]] = {}
    for s in seeds:
        i = bisect_left(names, s.key)
        if i == len(names) or names[i] != s.key:
            continue
        d = len(s.chain) - 1
        if i not in start or (d, s.chain) < (dist[i], start[i]):
            dist[i], start[i] = d, s.chain
    parent = [-1] * len(names)
    levels: dict[int, list[int]] = defaultdict(list)
    for i in start:
        levels[dist[i]].append(i)
    while levels:
        d = min(levels)
        # In rank order within a level: the first node to reach another at the least distance
        # is its parent, as a queue ordered by (distance, key) would pick.
        for node in sorted(set(levels.pop(d))):
            if dist[node] != d:
                continue
            for nxt in step[node]:
                if d + 1 < dist[nxt]:
                    dist[nxt], parent[nxt] = d + 1, node
                    levels[d + 1].append(nxt)

    made: dict[int, tuple[str, ...]] = {}

    def chain(i: int) -> tuple[str, ...]:
        trail = []
        while i not in made and parent[i] >= 0:
            trail.append(i)
            i = parent[i]
        done = made[i] if i in made else made.setdefault(i, start[i])
        for j in reversed(trail):
            done = made[j] = (*done, names[j])
        return done

    lo = bisect_left(names, f"{target}:")
    hi = bisect_left(names, f"{target};", lo)  # ";" follows ":": past every "{target}:…"
    return {names[i]: chain(i) for i in range(lo, hi) if dist[i] < unreached}


@dataclass
class RecallResult:
    suspects: list[str]
    window: Window
    seeds: list[Seed]
    notes: list[str]
    #: Each record in scope as the answer lists it (`tracegraph.store.base.plain_fields`).
    fields: dict[str, dict[str, Any]]
    paths: dict[str, tuple[str, ...]]
    device_batch: dict[str, str]
    batch_product: dict[str, str]
    device_shipment: dict[str, str]
    shipment_customer: dict[str, str]

    @cached_property
    def _by_type(self) -> dict[EntityType, list[str]]:
        """The answer's keys by type, sorted: grouped once for the answer's seven sections."""
        by_name: dict[str, list[str]] = defaultdict(list)
        for k in self.fields:
            by_name[k.partition(":")[0]].append(k)
        return {key_type(keys[0]): sorted(keys) for keys in by_name.values()}

    def _keys(self, type_: EntityType) -> list[str]:
        return self._by_type.get(type_, [])

    def device_rows(self) -> list[dict[str, Any]]:
        rows = []
        fields, paths = self.fields, self.paths
        device_shipment, shipment_customer = self.device_shipment, self.shipment_customer
        device_batch, batch_product = self.device_batch, self.batch_product
        # A shipment carries many devices: its time and customer looked up once.
        shipped: dict[str | None, tuple[Any, str | None]] = {None: (None, None)}
        for carrier in set(device_shipment.values()):
            when = fields[carrier].get("shipped_at") if carrier in fields else None
            shipped[carrier] = (when, shipment_customer.get(carrier))
        for key in self._keys(E.Device):
            batch = device_batch.get(key)
            shipment = device_shipment.get(key)
            shipped_at, customer = shipped[shipment]
            row = dict(fields[key])
            row["product"] = batch_product.get(batch) if batch else None
            row["batch"] = batch
            row["shipment"] = shipment
            row["shipped_at"] = shipped_at
            row["customer"] = customer
            row["path"] = list(paths.get(key, ()))
            rows.append(row)
        return rows

    def customer_rows(self) -> list[dict[str, Any]]:
        received: dict[str, int] = defaultdict(int)
        for device in self._keys(E.Device):
            shipment = self.device_shipment.get(device)
            customer = self.shipment_customer.get(shipment) if shipment else None
            if customer:
                received[customer] += 1
        return [{**self.fields[k], "devices": received.get(k, 0)} for k in self._keys(E.Customer)]

    def as_json(self) -> dict[str, Any]:
        # A row per device and none forms a cycle: the collector would only walk them (and
        # everything else the process holds) again and again as they pile up.
        with cycles_collected_after():
            return self._as_json()

    def _as_json(self) -> dict[str, Any]:
        devices = self.device_rows()
        per_product: dict[str, int] = defaultdict(int)
        for d in devices:
            per_product[d["product"] or "(unknown)"] += 1
        out: dict[str, Any] = {
            "suspects": self.suspects,
            "window": self.window.as_json(),
            "seeds": sorted({s.key for s in self.seeds}),
            "notes": self.notes,
        }
        for type_, name in SECTIONS.items():
            if type_ is E.Device:
                out[name] = devices
            elif type_ is E.Customer:
                out[name] = self.customer_rows()
            else:
                out[name] = [self.fields[k] for k in self._keys(type_)]
        out["counts"] = {name: len(out[name]) for name in SECTIONS.values()}
        out["counts_by_product"] = dict(sorted(per_product.items()))
        return out


CSV_HEADER = ["device", "udi", "product", "batch", "customer", "shipped_at", "reason"]


def csv_rows(answer: dict[str, Any]) -> list[list[Any]]:
    """One row per affected device, from the JSON answer: what a recall coordinator opens in a
    spreadsheet (the CLI's and the web page's CSV)."""
    return [
        [
            d["key"],
            d.get("udi"),
            d.get("product"),
            d.get("batch"),
            d.get("customer"),
            d.get("shipped_at"),
            " → ".join(d["path"]),
        ]
        for d in answer["devices"]
    ]


def csv_text(answer: dict[str, Any]) -> str:
    """The CSV file of an answer: a header and one row per device."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(["" if v is None else v for v in row] for row in csv_rows(answer))
    return buffer.getvalue()


def recall(
    store: GraphStore,
    suspects: Sequence[str],
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> RecallResult:
    if start is not None and end is not None and start > end:
        raise BadInput(f"the window is empty: from {iso(start)} is after to {iso(end)}")
    window = Window(start, end)
    with cycles_collected_after():
        return _recall(store, suspects, window)


def _in_sections(scope: Scope) -> dict[str, dict[str, Any]]:
    """The scope's fields of the types the answer lists. A downstream closure holds no others,
    so first the links' sorted names are asked whether any other type is there at all."""
    names = scope.links.names
    if not any(bisect_left(names, f"{t}:") < bisect_left(names, f"{t};") for t in _OTHER_TYPES):
        return scope.fields
    return {k: v for k, v in scope.fields.items() if k.partition(":")[0] in _SECTION_TYPES}


def _recall(store: GraphStore, suspects: Sequence[str], window: Window) -> RecallResult:
    keys, seeding = seed(store, suspects, window)
    seed_keys = {s.key for s in seeding.seeds}
    affected = store.reach(seed_keys, GENEALOGY, Direction.down)  # a set of its own
    affected |= seed_keys
    # The closure is closed downstream, so the edges leaving it are the edges among it: read
    # with the nodes' fields and the devices' batches, without the edges' properties, which
    # no part of the answer shows.
    scope = read_scope(store, affected)
    batch_product = smallest_neighbour(
        store.edges(set(scope.device_batch.values()), [R.HAS_BATCH], Direction.up, props=False),
        by_dst=True,
    )
    return RecallResult(
        suspects=keys,
        window=window,
        seeds=seeding.seeds,
        notes=seeding.notes,
        fields=_in_sections(scope),
        paths=reasons(seeding.seeds, scope.links, E.Device),
        device_batch=scope.device_batch,
        batch_product=batch_product,
        device_shipment=scope.links.smallest(R.SHIPPED_IN),
        shipment_customer=scope.links.smallest(R.DELIVERED_TO),
    )
