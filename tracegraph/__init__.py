"""TraceGraph: a traceability graph for medical-device makers.

The public surface: the model, the store factory, and the services the front ends call.
"""

from __future__ import annotations

from tracegraph.errors import (
    BadInput,
    InvalidImport,
    NotFound,
    StoreError,
    StoreUnavailable,
    TraceGraphError,
)
from tracegraph.importer import ImportReport, import_paths, import_records, read_jsonl, read_paths
from tracegraph.model import Direction, Edge, EntityType, Family, Key, Node, RelType, parse_record
from tracegraph.settings import Settings, get_settings
from tracegraph.store import GraphStore, WriteRequest, WriteSummary, open_store
from tracegraph.trace import TraceResult, trace

__version__ = "0.1.0"

__all__ = [
    "BadInput",
    "Direction",
    "Edge",
    "EntityType",
    "Family",
    "GraphStore",
    "ImportReport",
    "InvalidImport",
    "Key",
    "Node",
    "NotFound",
    "RelType",
    "Settings",
    "StoreError",
    "StoreUnavailable",
    "TraceGraphError",
    "TraceResult",
    "WriteRequest",
    "WriteSummary",
    "__version__",
    "get_settings",
    "import_paths",
    "import_records",
    "open_store",
    "parse_record",
    "read_jsonl",
    "read_paths",
    "trace",
]
