"""Change impact: what a change order touches, by category (§4 of the contract).

From the items a ChangeOrder CHANGES, the design graph gives the affected products (where-used
over COMPONENT_OF, products governed by changed processes and documents, products made of
materials a changed supplier delivered), the processes and documents that govern them, and the
suppliers of changed materials; the genealogy then gives the batches and devices: built under
the change, built before it took effect (field-action candidates), still in process, and the
open complaints on them. docs/impact.md says exactly what each category holds and why.

Cost: a fixed number of batched store calls (one-hop lookups over whole sets, two closures),
whatever the size of the change, plus in-memory work linear in what they return; the reasons
are one breadth-first search per changed item over the design edges that were fetched, never an
enumeration of paths.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from tracegraph.errors import BadInput, NotFound
from tracegraph.model import (
    GENEALOGY,
    BatchStatus,
    ChangeStatus,
    Direction,
    EntityType,
    RelType,
    iso,
    key_type,
)
from tracegraph.store.base import GraphStore, Link, StoredEdge, StoredNode

E = EntityType
R = RelType
DOWN = Direction.down
UP = Direction.up

#: The answer's item lists, in the order the table shows them.
CATEGORIES: Final = (
    "changes",
    "products",
    "processes",
    "documents",
    "suppliers",
    "batches_under_change",
    "batches_in_process",
    "devices_before",
    "devices_under_change",
    "devices_after_without_change",
    "complaints",
)


@dataclass(frozen=True)
class ImpactResult:
    change: dict[str, Any]
    what_if: bool
    lists: dict[str, list[dict[str, Any]]]
    closed_complaints: int = 0
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "what_if": self.what_if,
            **{name: self.lists[name] for name in CATEGORIES},
            "counts": {name: len(self.lists[name]) for name in CATEGORIES},
            "closed_complaints": self.closed_complaints,
            "notes": self.notes,
        }


def change_key(text: str) -> str:
    """``CO-118`` or ``ChangeOrder:CO-118`` → ``ChangeOrder:CO-118``; a key of another type is
    bad input. An id that merely contains a colon (``ECO:118``) is read as an id."""
    raw = str(text).strip()
    if not raw:
        raise BadInput("change order: empty; give an id (CO-118) or a key (ChangeOrder:CO-118)")
    kind, sep, ident = raw.partition(":")
    if sep and kind in EntityType.__members__:
        if kind != E.ChangeOrder:
            raise BadInput(f"{raw}: a {kind}, not a ChangeOrder; impact takes a change order")
        if not ident.strip():
            raise BadInput(f"{raw!r}: no id after 'ChangeOrder:'")
        return raw
    return f"{E.ChangeOrder}:{raw}"


# --------------------------------------------------------------------------- helpers


def _of(keys: Iterable[str], type_: EntityType) -> set[str]:
    prefix = f"{type_}:"
    return {k for k in keys if k.startswith(prefix)}


def _first_by(edges: Iterable[Link | StoredEdge], *, key_end: str) -> dict[str, str]:
    """For each node at ``key_end`` ("src" or "dst") of the edges, the first node at the other
    end (edges come sorted, so "first" is the same in every store)."""
    out: dict[str, str] = {}
    for e in sorted(edges, key=lambda e: (e.src, e.dst)):
        k, other = (e.src, e.dst) if key_end == "src" else (e.dst, e.src)
        out.setdefault(k, other)
    return out


def _reach_from_each(
    sources: Sequence[str], step: Mapping[str, Sequence[str]]
) -> dict[str, set[str]]:
    """Which sources reach each node (a source reaches itself)."""
    reached_by: dict[str, set[str]] = defaultdict(set)
    for source in sources:
        seen = {source}
        queue = deque([source])
        while queue:
            node = queue.popleft()
            reached_by[node].add(source)
            for nxt in step.get(node, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
    return reached_by


def _shortest_chains(
    sources: Sequence[str], step: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """One shortest chain of keys from any source to each node it reaches (multi-source BFS:
    sources in sorted order, neighbours in sorted order, so every store gives the same chain)."""
    parent: dict[str, str | None] = {s: None for s in sources}
    queue = deque(sources)
    while queue:
        node = queue.popleft()
        for nxt in step.get(node, ()):
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    chains: dict[str, list[str]] = {}
    for node in parent:
        chain: list[str] = []
        cursor: str | None = node
        while cursor is not None:
            chain.append(cursor)
            cursor = parent[cursor]
        chains[node] = chain[::-1]
    return chains


def _is_closed(complaint: StoredNode) -> bool:
    attributes = complaint.props.get("attributes")
    if not isinstance(attributes, dict):
        return False
    status = attributes.get("status")
    return isinstance(status, str) and status.strip().lower() == "closed"


def _label(node: StoredNode) -> Any:
    return node.props.get("name", node.props.get("title"))


# --------------------------------------------------------------------------- the analysis


def impact(store: GraphStore, change: str) -> ImpactResult:
    """The impact of one change order (id or ``ChangeOrder:id``), by category."""
    co = change_key(change)
    if not store.existing([co]):
        raise NotFound(f"{co}: no such change order in the store")

    # 1. What the change touches directly.
    changed = sorted({e.dst for e in store.edges([co], [R.CHANGES], DOWN)})
    materials = _of(changed, E.Material)
    products = _of(changed, E.Product)
    processes = _of(changed, E.Process)
    documents = _of(changed, E.Document)
    suppliers = _of(changed, E.Supplier)

    # 2. Lots of changed materials and of changed suppliers; processes of changed documents.
    #    A Material only has HAS_LOT, a Supplier SUPPLIED and a Document GOVERNS going out.
    first = store.edges(materials | suppliers | documents, [R.HAS_LOT, R.SUPPLIED, R.GOVERNS], DOWN)
    material_lots = {e.dst for e in first if e.type is R.HAS_LOT}
    supplier_lots = {e.dst for e in first if e.type is R.SUPPLIED}
    doc_governs = [e for e in first if e.type is R.GOVERNS]
    lot_sources = store.edges(material_lots | supplier_lots, [R.HAS_LOT, R.SUPPLIED], UP)
    # Materials a changed supplier delivered lots of, and suppliers of changed materials' lots.
    supplier_lot_material = [
        e for e in lot_sources if e.type is R.HAS_LOT and e.dst in supplier_lots
    ]
    delivered = {e.src for e in supplier_lot_material}
    lot_supplier = [e for e in lot_sources if e.type is R.SUPPLIED and e.dst in material_lots]

    # 3. Products governed by changed processes and by processes of changed documents.
    governing = processes | {e.dst for e in doc_governs}
    process_governs = store.edges(governing, [R.GOVERNS], DOWN)

    # 4. Where-used: everything those products and materials are part of, transitively.
    seeds = products | materials | delivered | {e.dst for e in process_governs}
    closure = store.reach(seeds, [R.COMPONENT_OF], DOWN)
    affected = sorted(_of(seeds | closure, E.Product))
    component_of = store.edges(seeds | closure, [R.COMPONENT_OF], None)

    # The reasons: which changed items reach each product, and one shortest chain from one.
    step: dict[str, list[str]] = defaultdict(list)
    for e in [*doc_governs, *process_governs, *component_of]:
        step[e.src].append(e.dst)
    for e in first:
        if e.type is R.SUPPLIED:
            step[e.src].append(e.dst)
    for e in supplier_lot_material:  # lot → its material: the supplier delivered that material
        step[e.dst].append(e.src)
    for nexts in step.values():
        nexts.sort()
    reached_by = _reach_from_each(changed, step)
    chains = _shortest_chains(changed, step)

    # 5. Processes and documents that govern the affected products.
    product_governors = [
        e for e in store.edges(affected, [R.GOVERNS], UP) if key_type(e.src) is E.Process
    ]
    process_keys = sorted(governing | {e.src for e in product_governors})
    process_docs = [
        e for e in store.edges(process_keys, [R.GOVERNS], UP) if key_type(e.src) is E.Document
    ]
    document_keys = sorted(documents | {e.src for e in process_docs})

    # 6. Suppliers of changed materials (and the changed suppliers).
    supplier_keys = sorted(suppliers | {e.src for e in lot_supplier})
    lot_materials: dict[str, set[str]] = defaultdict(set)
    for e in lot_sources:
        if e.type is R.HAS_LOT:
            lot_materials[e.dst].add(e.src)

    # 7. Batches: built under the change; of affected products (for those still in process).
    under_change = sorted({e.dst for e in store.edges([co], [R.IMPLEMENTED_IN], DOWN)})
    product_batches = sorted({e.dst for e in store.edges(affected, [R.HAS_BATCH], DOWN)})

    # 8. Devices: everything a batch of an affected product (or a batch under the change) went
    #    into, sub-assemblies and installed components included: one closure each.
    of_affected = _of(store.reach(product_batches, GENEALOGY, DOWN), E.Device)
    built_under = _of(store.reach(under_change, GENEALOGY, DOWN), E.Device)
    devices = sorted(of_affected | built_under)
    device_batch = _first_by(store.edges(devices, [R.PRODUCED], UP, props=False), key_end="dst")
    complaint_edges = store.edges(devices, [R.HAS_COMPLAINT], DOWN, props=False)
    complaint_device = _first_by(complaint_edges, key_end="dst")
    batch_product = _first_by(
        store.edges(
            set(under_change) | set(product_batches) | set(device_batch.values()),
            [R.HAS_BATCH],
            UP,
            props=False,
        ),
        key_end="dst",
    )

    nodes = store.nodes(
        [
            co,
            *changed,
            *affected,
            *process_keys,
            *document_keys,
            *supplier_keys,
            *under_change,
            *product_batches,
            *devices,
            *complaint_device,
        ]
    )
    order = nodes[co]
    status = order.props.get("status")
    effective: dt.datetime | None = order.props.get("effective_at")
    notes: list[str] = []
    if status == ChangeStatus.proposed:
        notes.append("proposed change: a what-if (what it would touch if it were made)")
        if under_change:
            notes.append(
                f"proposed, yet implemented in {len(under_change)} batch(es): "
                "check the change order's status"
            )
    elif status == ChangeStatus.cancelled:
        notes.append("cancelled change: shown for the record; it takes no effect")
    if effective is None:
        notes.append(
            "no effective_at: every device of an affected product not built under the change "
            "is a field-action candidate (devices_before)"
        )

    def base(key: str) -> dict[str, Any]:
        return {"id": key.partition(":")[2], "key": key}

    def batch_item(key: str) -> dict[str, Any]:
        p = nodes[key].props
        return {
            **base(key),
            "product": batch_product.get(key),
            "status": p.get("status"),
            "kind": p.get("kind"),
            "started_at": iso(p.get("started_at")),
            "completed_at": iso(p.get("completed_at")),
        }

    def device_item(key: str) -> dict[str, Any]:
        p = nodes[key].props
        batch = device_batch.get(key)
        return {
            **base(key),
            "udi": p.get("udi"),
            "manufactured_at": iso(p.get("manufactured_at")),
            "status": p.get("status"),
            "batch": batch,
            "product": batch_product.get(batch) if batch else None,
        }

    changes = [
        {
            **base(k),
            "type": str(key_type(k)),
            "name": _label(nodes[k]),
            "revision": nodes[k].props.get("revision"),
        }
        for k in changed
        if k in nodes
    ]
    product_items = [
        {
            **base(k),
            "name": nodes[k].props.get("name"),
            "gtin": nodes[k].props.get("gtin"),
            "changed": k in products,
            "reasons": sorted(reached_by.get(k, ())),
            "path": chains.get(k, [k]),
        }
        for k in affected
    ]
    governs: dict[str, set[str]] = defaultdict(set)
    for e in [*product_governors, *process_docs]:
        governs[e.src].add(e.dst)
    process_items = [
        {
            **base(k),
            "name": nodes[k].props.get("name"),
            "revision": nodes[k].props.get("revision"),
            "changed": k in processes,
            "governs": sorted(governs[k]),
        }
        for k in process_keys
    ]
    document_items = [
        {
            **base(k),
            "title": nodes[k].props.get("title"),
            "revision": nodes[k].props.get("revision"),
            "changed": k in documents,
            "governs": sorted(governs[k]),
        }
        for k in document_keys
    ]
    # A supplier's lots: those of changed materials, and all lots of a changed supplier.
    supplied: dict[str, set[str]] = defaultdict(set)
    for e in [*lot_supplier, *(e for e in first if e.type is R.SUPPLIED)]:
        supplied[e.src].add(e.dst)
    supplier_items = [
        {
            **base(k),
            "name": nodes[k].props.get("name"),
            "status": nodes[k].props.get("status"),
            "country": nodes[k].props.get("country"),
            "changed": k in suppliers,
            "materials": sorted({m for lot in supplied[k] for m in lot_materials[lot]}),
            "lots": len(supplied[k]),
        }
        for k in supplier_keys
    ]

    in_process = [
        k for k in product_batches if nodes[k].props.get("status") == BatchStatus.in_process
    ]
    before: list[str] = []
    after: list[str] = []
    for k in sorted(of_affected - built_under):
        made: dt.datetime = nodes[k].props["manufactured_at"]
        (before if effective is None or made < effective else after).append(k)

    open_complaints: list[dict[str, Any]] = []
    closed = 0
    for k in sorted(complaint_device):
        if _is_closed(nodes[k]):
            closed += 1
            continue
        p = nodes[k].props
        device = complaint_device[k]
        batch = device_batch.get(device)
        open_complaints.append(
            {
                **base(k),
                "reported_at": iso(p.get("reported_at")),
                "severity": p.get("severity"),
                "description": p.get("description"),
                "device": device,
                "product": batch_product.get(batch) if batch else None,
            }
        )
    if closed:
        notes.append(f"{closed} closed complaint(s) left out (attributes.status is 'closed')")

    return ImpactResult(
        change={
            **base(co),
            "kind": order.props.get("kind"),
            "status": status,
            "effective_at": iso(effective),
            "title": order.props.get("title"),
        },
        what_if=status == ChangeStatus.proposed,
        lists={
            "changes": changes,
            "products": product_items,
            "processes": process_items,
            "documents": document_items,
            "suppliers": supplier_items,
            "batches_under_change": [batch_item(k) for k in under_change],
            "batches_in_process": [batch_item(k) for k in in_process],
            "devices_before": [device_item(k) for k in before],
            "devices_under_change": [device_item(k) for k in sorted(built_under)],
            "devices_after_without_change": [device_item(k) for k in after],
            "complaints": open_complaints,
        },
        closed_complaints=closed,
        notes=notes,
    )
