"""A trace laid out for the web page: layered, left to right in flow order, with per-level caps.

The page draws what this module computes (SVG boxes at the given coordinates); nothing is laid
out in the browser, so the picture is the same for every user and is tested here.

**Columns** follow the flow of material: suppliers and materials → lots → batches → devices →
shipments → customers. Batches take as many columns as the longest Batch → Batch chain among
them (CONSUMED_IN: a sub-assembly sits left of the batch it went into, the finished batches in
the last batch column, next to their devices); devices likewise by INSTALLED_IN. Nodes that act
on a stage without being part of the flow sit in a *side band* below the main one: equipment,
processes and change orders (they act on batches) under the lots; service events and
complaints (about devices) under the shipments; evidence records and design nodes (only there
when the trace starts at one) near the stage they are about.

**Levels** are the (column, band) groups. A level holds at most ``cap`` nodes and says
"N of M shown"; which ones is decided outward from the start's column, preferring (1) the start
and the nodes pinned by expanding a node, (2) nodes linked to one already shown (so the picture
stays connected), (3) the smaller key. **Expanding** a node pins it and its one-hop genealogy
neighbours in both directions, even ones outside the closure (the equipment of a batch when the
trace started at a lot); every shown node says how many of its neighbours are hidden.

Rows within a column are ordered by the barycentre of their neighbours (three sweeps),
ties by key: deterministic, and with few crossings for tree-like genealogies.

Cost: one closure per direction and one ``edges`` among what they reach (as `trace`), one
``edges`` each way for the neighbours of the expanded and of the shown nodes, one ``nodes`` for
the shown ones; the rest is in memory, linear in the closure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from tracegraph.errors import BadInput
from tracegraph.model import GENEALOGY, MAX_HOPS, Direction, EntityType, RelType, iso, key_type
from tracegraph.store.base import GraphStore, StoredEdge, StoredNode
from tracegraph.trace import require

E = EntityType


class Band(StrEnum):
    main = "main"
    side = "side"


class Stage(StrEnum):
    source = "source"
    lot = "lot"
    batch = "batch"
    device = "device"
    shipment = "shipment"
    customer = "customer"


#: Where each type goes: the stage (column group) and the band within it.
PLACE: Final[Mapping[EntityType, tuple[Stage, Band]]] = {
    E.Supplier: (Stage.source, Band.main),
    E.Material: (Stage.source, Band.main),
    E.Certificate: (Stage.source, Band.side),
    E.MaterialLot: (Stage.lot, Band.main),
    E.Equipment: (Stage.lot, Band.side),
    E.Process: (Stage.lot, Band.side),
    E.ChangeOrder: (Stage.lot, Band.side),
    E.MaintenanceEvent: (Stage.lot, Band.side),
    E.Document: (Stage.lot, Band.side),
    E.Batch: (Stage.batch, Band.main),
    E.Product: (Stage.batch, Band.side),
    E.Inspection: (Stage.batch, Band.side),
    E.Device: (Stage.device, Band.main),
    E.Shipment: (Stage.shipment, Band.main),
    E.ServiceEvent: (Stage.shipment, Band.side),
    E.Complaint: (Stage.shipment, Band.side),
    E.Customer: (Stage.customer, Band.main),
}

PLURAL: Final[Mapping[EntityType, str]] = {
    E.Supplier: "Suppliers",
    E.Certificate: "Certificates",
    E.Material: "Materials",
    E.MaterialLot: "Lots",
    E.Product: "Products",
    E.Batch: "Batches",
    E.Device: "Devices",
    E.Process: "Processes",
    E.Equipment: "Equipment",
    E.MaintenanceEvent: "Maintenance",
    E.Inspection: "Inspections",
    E.ChangeOrder: "Change orders",
    E.Document: "Documents",
    E.Shipment: "Shipments",
    E.Customer: "Customers",
    E.ServiceEvent: "Service events",
    E.Complaint: "Complaints",
}

DEFAULT_CAP: Final = 12
MAX_CAP: Final = 200
#: Pinned nodes are shown beyond the cap, up to this many in one level.
LEVEL_LIMIT: Final = 200
MAX_EXPAND: Final = 100

# Geometry, in SVG user units (CSS pixels at 100 %).
NODE_W: Final = 184
NODE_H: Final = 54
COL_W: Final = 248
ROW_H: Final = 66
MARGIN: Final = 24
HEADER: Final = 34
BAND_GAP: Final = 40

#: Where the Batch → Batch and Device → Device chains are.
_CHAIN: Final[Mapping[EntityType, RelType]] = {
    E.Batch: RelType.CONSUMED_IN,
    E.Device: RelType.INSTALLED_IN,
}


@dataclass(frozen=True)
class Level:
    column: int
    band: Band
    types: tuple[EntityType, ...]
    shown: int
    total: int
    x: int
    y: int

    #: For a Batch or Device column followed by another of its kind: the chain goes on.
    upstream_of_same: bool = False

    @property
    def label(self) -> str:
        if self.upstream_of_same and self.types == (E.Batch,):
            return "Sub-assembly batches"
        if self.upstream_of_same and self.types == (E.Device,):
            return "Component devices"
        return " · ".join(PLURAL[t] for t in self.types)

    def as_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "band": str(self.band),
            "label": self.label,
            "types": [str(t) for t in self.types],
            "shown": self.shown,
            "total": self.total,
            "x": self.x,
            "y": self.y,
        }


@dataclass(frozen=True)
class Placed:
    key: str
    column: int
    band: Band
    row: int
    x: int
    y: int
    hidden: int
    start: bool
    expanded: bool

    @property
    def type(self) -> EntityType:
        return key_type(self.key)


@dataclass(frozen=True)
class Layout:
    start: str
    direction: str
    depth: int | None
    cap: int
    expand: tuple[str, ...]
    levels: list[Level]
    placed: list[Placed]
    edges: list[StoredEdge]
    nodes: dict[str, StoredNode]
    total: int
    width: int
    height: int

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "direction": self.direction,
            "depth": self.depth,
            "cap": self.cap,
            "expand": list(self.expand),
            "width": self.width,
            "height": self.height,
            "node_size": {"width": NODE_W, "height": NODE_H},
            "levels": [lv.as_json() for lv in self.levels],
            "nodes": [
                {
                    "key": p.key,
                    "type": str(p.type),
                    "id": p.key.partition(":")[2],
                    "label": describe(self.nodes[p.key]) if p.key in self.nodes else None,
                    "column": p.column,
                    "band": str(p.band),
                    "row": p.row,
                    "x": p.x,
                    "y": p.y,
                    "start": p.start,
                    "expanded": p.expanded,
                    "hidden": p.hidden,
                }
                for p in sorted(self.placed, key=lambda p: p.key)
            ],
            "edges": [{"type": str(e.type), "from": e.src, "to": e.dst} for e in self.edges],
            "counts": {
                "shown": len(self.placed),
                "total": self.total,
                "edges": len(self.edges),
                "levels": len(self.levels),
            },
        }


def _day(value: Any) -> str:
    return str(iso(value))[:10] if value is not None else ""


def describe(node: StoredNode) -> str:
    """A short second line for a node's box: what a reader needs to tell it from its peers."""
    p = node.props
    kind = node.type
    if kind in (E.Supplier, E.Customer):
        country = f" ({p['country']})" if p.get("country") else ""
        return f"{p.get('name', '')}{country}"
    if kind is E.MaterialLot:
        return f"received {_day(p.get('received_at'))}"
    if kind is E.Batch:
        return " · ".join(str(p[f]) for f in ("kind", "status") if p.get(f))
    if kind is E.Device:
        return str(p.get("status") or f"made {_day(p.get('manufactured_at'))}")
    if kind is E.Shipment:
        return f"shipped {_day(p.get('shipped_at'))}"
    if kind is E.Process:
        return f"{p.get('name', '')} rev {p.get('revision', '')}"
    if kind is E.ChangeOrder:
        return str(p.get("title") or f"{p.get('kind')} · {p.get('status')}")
    if kind is E.Complaint:
        return f"{p.get('severity')} · {_day(p.get('reported_at'))}"
    if kind in (E.Inspection, E.MaintenanceEvent):
        return f"{p.get('kind')} {p.get('result')} · {_day(p.get('performed_at'))}"
    if kind is E.ServiceEvent:
        return f"{p.get('kind')} · {_day(p.get('performed_at'))}"
    if kind is E.Certificate:
        return f"{p.get('kind')} to {_day(p.get('valid_to'))}"
    return str(p.get("name") or p.get("title") or "")


def _heights(keys: Iterable[str], edges: Iterable[StoredEdge], rel: RelType) -> dict[str, int]:
    """Longest chain of ``rel`` edges from each node to a node with none leaving it (0 for the
    last); a cycle (bad data) is cut instead of looping."""
    members = set(keys)
    succ: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if e.type is rel and e.src in members and e.dst in members and e.src != e.dst:
            succ[e.src].append(e.dst)
    height: dict[str, int] = {}
    on_path: set[str] = set()
    for root in sorted(members):
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, state = stack.pop()
            if state == 0:
                if node in height or node in on_path:
                    continue
                on_path.add(node)
                stack.append((node, 1))
                stack.extend((n, 0) for n in succ[node] if n not in height and n not in on_path)
            else:
                on_path.discard(node)
                height[node] = max((height[n] + 1 for n in succ[node] if n in height), default=0)
    return height


def _columns(known: set[str], edges: Sequence[StoredEdge]) -> dict[str, int]:
    """Each node's column, before empty columns are dropped."""
    heights = {t: _heights((k for k in known if key_type(k) is t), edges, r)
               for t, r in _CHAIN.items()}  # fmt: skip
    span = {t: max(h.values(), default=0) + 1 for t, h in heights.items()}
    first = {
        Stage.source: 0,
        Stage.lot: 1,
        Stage.batch: 2,
        Stage.device: 2 + span[E.Batch],
        Stage.shipment: 2 + span[E.Batch] + span[E.Device],
        Stage.customer: 3 + span[E.Batch] + span[E.Device],
    }
    out = {}
    for key in known:
        kind = key_type(key)
        stage, _ = PLACE[kind]
        col = first[stage]
        if kind in heights:
            col += span[kind] - 1 - heights[kind].get(key, 0)
        out[key] = col
    return out


def _choose(
    levels: Mapping[tuple[int, Band], list[str]],
    start_col: int,
    pinned: set[str],
    adjacent: Mapping[str, set[str]],
    cap: int,
) -> dict[tuple[int, Band], list[str]]:
    """The nodes each level shows (see the module docstring for the preference)."""
    shown: set[str] = set()
    chosen: dict[tuple[int, Band], list[str]] = {}
    order = sorted(levels, key=lambda lv: (abs(lv[0] - start_col), lv[1] is Band.side, lv[0]))
    for level in order:
        members = levels[level]

        def rank(key: str) -> tuple[int, str]:
            if key in pinned:
                return (0, key)
            return (1 if adjacent.get(key, set()) & shown else 2, key)

        ranked = sorted(members, key=rank)
        pins = sum(1 for k in members if k in pinned)
        take = min(len(members), max(cap, min(pins, LEVEL_LIMIT)))
        chosen[level] = ranked[:take]
        shown.update(chosen[level])
    return chosen


def _positions(rows: Mapping[int, list[list[str]]]) -> dict[str, float]:
    """Each node's place in its column (the side band after the main one, past a gap)."""
    out: dict[str, float] = {}
    for bands in rows.values():
        at = 0
        for band in bands:
            for key in band:
                out[key] = at
                at += 1
            at += 1
    return out


def _barycentre(key: str, pos: Mapping[str, float], neighbours: Iterable[str]) -> tuple[float, str]:
    """Mean place of the neighbours on one side (the node's own place if it has none there)."""
    places = [pos[n] for n in neighbours if n in pos]
    return (sum(places) / len(places) if places else pos[key], key)


def _order_rows(
    columns: Mapping[int, list[list[str]]],
    adjacent: Mapping[str, set[str]],
    column_of: Mapping[str, int],
) -> dict[int, list[list[str]]]:
    """Barycentre ordering within each band of each column: forward, backward, forward (the
    last sweep follows the flow, so children sit next to their parents)."""
    rows = {c: [sorted(band) for band in bands] for c, bands in columns.items()}
    ordered = sorted(rows)
    for sweep in range(3):
        forward = sweep % 2 == 0
        for col in ordered if forward else reversed(ordered):
            pos = _positions(rows)
            for i, band in enumerate(rows[col]):
                side = {
                    k: [n for n in adjacent.get(k, ()) if (column_of[n] < col) == forward
                        and column_of[n] != col]
                    for k in band
                }  # fmt: skip
                rows[col][i] = sorted(band, key=lambda k: _barycentre(k, pos, side[k]))
    return rows


def layout(
    store: GraphStore,
    key: str,
    direction: str = "both",
    *,
    depth: int | None = None,
    expand: Sequence[str] = (),
    cap: int = DEFAULT_CAP,
) -> Layout:
    """Lay out the genealogy around ``key``: its upstream closure, its downstream closure or
    both (``direction``), within ``depth`` hops, plus the neighbours of the ``expand`` nodes."""
    if direction not in ("both", "up", "down"):
        raise BadInput(f"direction {direction!r}: one of both, up, down")
    if not 1 <= cap <= MAX_CAP:
        raise BadInput(f"cap {cap}: must be between 1 and {MAX_CAP}")
    if depth is not None and not 1 <= depth <= MAX_HOPS:
        raise BadInput(f"depth {depth}: must be between 1 and {MAX_HOPS}")
    if len(expand) > MAX_EXPAND:
        raise BadInput(f"expand: at most {MAX_EXPAND} nodes at once")
    (start,) = require(store, [key])
    opened = tuple(dict.fromkeys(require(store, expand))) if expand else ()

    closure = {start}
    for way in (Direction.up, Direction.down):
        if direction in ("both", str(way)):
            closure |= store.reach([start], GENEALOGY, way, depth=depth)
    around = [
        *store.edges(opened, GENEALOGY, Direction.up),
        *store.edges(opened, GENEALOGY, Direction.down),
    ]
    pinned = {start, *opened} | {k for e in around for k in (e.src, e.dst)}
    known = closure | pinned
    edges = store.edges(known, GENEALOGY, None)
    adjacent: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        adjacent[e.src].add(e.dst)
        adjacent[e.dst].add(e.src)

    raw_column = _columns(known, edges)
    used = sorted(set(raw_column.values()))
    compact = {c: i for i, c in enumerate(used)}
    column_of = {k: compact[c] for k, c in raw_column.items()}
    levels: dict[tuple[int, Band], list[str]] = defaultdict(list)
    for k in known:
        levels[(column_of[k], PLACE[key_type(k)][1])].append(k)

    chosen = _choose(levels, column_of[start], pinned, adjacent, cap)
    shown = {k for keys in chosen.values() for k in keys}

    neighbours: dict[str, set[str]] = defaultdict(set)
    for way in (Direction.up, Direction.down):
        for e in store.edges(sorted(shown), GENEALOGY, way):
            neighbours[e.src].add(e.dst)
            neighbours[e.dst].add(e.src)

    width_cols = max(column_of.values()) + 1
    by_column: dict[int, list[list[str]]] = {
        c: [chosen.get((c, Band.main), []), chosen.get((c, Band.side), [])]
        for c in range(width_cols)
    }
    shown_adjacent = {k: adjacent[k] & shown for k in shown}
    rows = _order_rows(by_column, shown_adjacent, column_of)

    main_rows = max((len(bands[0]) for bands in rows.values()), default=0)
    has_side = any(bands[1] for bands in rows.values())
    main_top = MARGIN + HEADER
    side_top = main_top + main_rows * ROW_H + BAND_GAP + HEADER
    placed: list[Placed] = []
    level_list: list[Level] = []
    for col in range(width_cols):
        x = MARGIN + col * COL_W
        for band, members, top in ((Band.main, rows[col][0], main_top),
                                   (Band.side, rows[col][1], side_top)):  # fmt: skip
            everyone = levels.get((col, band), [])
            if not everyone:
                continue
            types = tuple(sorted({key_type(k) for k in everyone}, key=list(EntityType).index))
            chain = len(types) == 1 and types[0] in _CHAIN and band is Band.main
            goes_on = (
                chain
                and (col + 1, Band.main) in levels
                and all(key_type(k) is types[0] for k in levels[(col + 1, Band.main)])
            )
            level_list.append(
                Level(col, band, types, len(members), len(everyone), x, top - 10, goes_on)
            )
            for row, k in enumerate(members):
                placed.append(
                    Placed(
                        key=k,
                        column=col,
                        band=band,
                        row=row,
                        x=x,
                        y=top + row * ROW_H,
                        hidden=len(neighbours[k] - shown),
                        start=k == start,
                        expanded=k in opened,
                    )
                )
    side_rows = max((len(bands[1]) for bands in rows.values()), default=0)
    bottom = side_top + side_rows * ROW_H if has_side else main_top + main_rows * ROW_H
    return Layout(
        start=start,
        direction=direction,
        depth=depth,
        cap=cap,
        expand=opened,
        levels=level_list,
        placed=placed,
        edges=[e for e in edges if e.src in shown and e.dst in shown],
        nodes=store.nodes(shown),
        total=len(known),
        width=MARGIN * 2 + (width_cols - 1) * COL_W + NODE_W,
        height=bottom + MARGIN - (ROW_H - NODE_H),
    )
