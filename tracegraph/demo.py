"""The ECG-monitor scenario shipped with the package, and how to load it."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from tracegraph.importer import ImportReport, import_records, read_jsonl
from tracegraph.store.base import GraphStore, WriteRequest

DEMO_OPERATION = "demo"
#: Who the demo's writes are by (its load, and the recall case it opens).
DEMO_ACTOR = "tracegraph demo"

#: The story's cast (see tracegraph/data/README.md).
SUSPECT_LOT = "MaterialLot:L-2026-0042"
SUPPLIER = "Supplier:S-7"
SOLDER_STATION = "Equipment:EQ-SOLDER-3"
FAILED_CALIBRATION = "MaintenanceEvent:M-3303"
DESIGN_CHANGE = "ChangeOrder:CO-118"
PROPOSED_CHANGE = "ChangeOrder:CO-121"


def dataset() -> Traversable:
    return resources.files("tracegraph.data") / "ecg_demo.jsonl"


def load_demo(store: GraphStore) -> ImportReport:
    request = WriteRequest(
        actor=DEMO_ACTOR,
        operation=DEMO_OPERATION,
        source="demo",
        reason="ECG-monitor demo scenario",
    )
    with dataset().open("rb") as handle:
        return import_records(store, read_jsonl("ecg_demo.jsonl", handle), request)
