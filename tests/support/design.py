"""Hypothesis strategies: random genealogies (tests/support/genealogy.py) with a design layer on
top — products (sub-assemblies, cycles included), processes, documents and change orders with
their COMPONENT_OF, HAS_BATCH, GOVERNS, CHANGES and IMPLEMENTED_IN edges — for change impact."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.support.genealogy import genealogies

BATCH_STATUSES = [None, "in_process", "released", "quarantined"]
CHANGE_STATUSES = ["proposed", "approved", "implemented", "cancelled"]
CHANGE_TARGETS = ("Material", "Product", "Process", "Document", "Supplier")


def _keys(records: list[dict[str, Any]], type_: str) -> list[str]:
    return [f"{type_}:{r['id']}" for r in records if r.get("type") == type_ and "id" in r]


@st.composite
def designs(draw: st.DrawFn, max_per_type: int = 4) -> list[dict[str, Any]]:
    """A random genealogy plus a random design layer; ChangeOrder ids are CO0, CO1, ..."""
    records = [dict(r) for r in draw(genealogies())]
    for drawn in records:
        if drawn["type"] == "Batch":
            status = draw(st.sampled_from(BATCH_STATUSES))
            if status is not None:
                drawn["status"] = status
        elif drawn["type"] == "Complaint":
            closed = draw(st.sampled_from([None, "open", "closed", "Closed"]))
            if closed is not None:
                drawn["attributes"] = {"status": closed}

    def make(type_: str, prefix: str, low: int, **fields: Any) -> list[str]:
        count = draw(st.integers(min_value=low, max_value=max_per_type))
        for i in range(count):
            records.append({"type": type_, "id": f"{prefix}{i}", **fields})
        return [f"{type_}:{prefix}{i}" for i in range(count)]

    products = make("Product", "PD", 1, name="Model")
    processes = make("Process", "PR", 0, name="Process", revision="A")
    documents = make("Document", "DOC", 0, title="Instruction", revision="1")
    changes: list[str] = []
    for i in range(draw(st.integers(min_value=1, max_value=3))):
        record: dict[str, Any] = {
            "type": "ChangeOrder",
            "id": f"CO{i}",
            "kind": "design",
            "status": draw(st.sampled_from(CHANGE_STATUSES)),
        }
        day = draw(st.none() | st.integers(min_value=1, max_value=28))
        if day is not None:
            record["effective_at"] = f"2026-03-{day:02d}"
        records.append(record)
        changes.append(f"ChangeOrder:CO{i}")

    materials = _keys(records, "Material")
    suppliers = _keys(records, "Supplier")
    batches = _keys(records, "Batch")
    targets = {
        "Material": materials,
        "Product": products,
        "Process": processes,
        "Document": documents,
        "Supplier": suppliers,
    }
    pairs: list[tuple[str, list[str], list[str]]] = [
        ("COMPONENT_OF", materials, products),
        ("COMPONENT_OF", products, products),
        ("HAS_BATCH", products, batches),
        ("GOVERNS", documents, processes),
        ("GOVERNS", processes, products),
        ("IMPLEMENTED_IN", changes, batches),
        *(("CHANGES", changes, targets[t]) for t in CHANGE_TARGETS),
    ]
    for rel, sources, dests in pairs:
        candidates = [(a, b) for a in sources for b in dests if a != b]
        if not candidates:
            continue
        for a, b in draw(st.lists(st.sampled_from(candidates), unique=True, max_size=6)):
            records.append({"type": rel, "from": a, "to": b})
    return records


def change_orders(records: list[dict[str, Any]]) -> list[str]:
    return _keys(records, "ChangeOrder")
