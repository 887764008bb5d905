"""Hypothesis strategies: small random genealogies in the import format, cycles included."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# (relationship, from type, to type) pairs the random graphs draw their edges from.
PAIRS = [
    ("SUPPLIED", "Supplier", "MaterialLot"),
    ("HAS_LOT", "Material", "MaterialLot"),
    ("CONSUMED_IN", "MaterialLot", "Batch"),
    ("CONSUMED_IN", "Batch", "Batch"),
    ("PROCESSED", "Equipment", "Batch"),
    ("PRODUCED", "Batch", "Device"),
    ("INSTALLED_IN", "Device", "Device"),
    ("SHIPPED_IN", "Device", "Shipment"),
    ("DELIVERED_TO", "Shipment", "Customer"),
    ("HAS_COMPLAINT", "Device", "Complaint"),
]

FIELDS: dict[str, dict[str, Any]] = {
    "Supplier": {"name": "Supplier"},
    "Material": {"name": "Material"},
    "MaterialLot": {"received_at": "2026-01-{day:02d}"},
    "Equipment": {"name": "Station"},
    "Batch": {"started_at": "2026-02-{day:02d}T08:00:00Z"},
    "Device": {"manufactured_at": "2026-03-{day:02d}"},
    "Shipment": {"shipped_at": "2026-04-{day:02d}"},
    "Customer": {"name": "Hospital"},
    "Complaint": {"reported_at": "2026-05-{day:02d}", "severity": "malfunction"},
}


@st.composite
def genealogies(draw: st.DrawFn, max_per_type: int = 5) -> list[dict[str, Any]]:
    nodes: dict[str, list[str]] = {}
    records: list[dict[str, Any]] = []
    for type_, fields in FIELDS.items():
        count = draw(st.integers(min_value=1 if type_ == "Batch" else 0, max_value=max_per_type))
        nodes[type_] = [f"{type_}:{type_[0]}{i}" for i in range(count)]
        for i in range(count):
            day = draw(st.integers(min_value=1, max_value=28))
            record = {"type": type_, "id": f"{type_[0]}{i}"}
            record.update({k: v.format(day=day) for k, v in fields.items()})
            records.append(record)
    for rel, src_type, dst_type in PAIRS:
        candidates = [(a, b) for a in nodes[src_type] for b in nodes[dst_type] if a != b]
        if not candidates:
            continue
        chosen = draw(st.lists(st.sampled_from(candidates), unique=True, max_size=8))
        for a, b in chosen:
            edge: dict[str, Any] = {"type": rel, "from": a, "to": b}
            if rel == "PROCESSED":
                edge["at"] = f"2026-02-{draw(st.integers(min_value=1, max_value=28)):02d}"
            records.append(edge)
    return records


def keys_of(records: list[dict[str, Any]]) -> list[str]:
    return [f"{r['type']}:{r['id']}" for r in records if "id" in r]
