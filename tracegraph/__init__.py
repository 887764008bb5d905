"""TraceGraph: a traceability graph for medical-device makers.

The public surface: the model, the store factory, and the services the front ends call.
"""

from __future__ import annotations

from tracegraph import audit
from tracegraph.commoncause import CommonCauseResult, common_cause
from tracegraph.errors import (
    BadInput,
    InvalidImport,
    NotFound,
    StoreError,
    StoreUnavailable,
    TraceGraphError,
)
from tracegraph.evidence import EvidenceChain, evidence, verify_package, write_package
from tracegraph.impact import ImpactResult, impact
from tracegraph.importer import ImportReport, import_paths, import_records, read_jsonl, read_paths
from tracegraph.model import Direction, Edge, EntityType, Family, Key, Node, RelType, parse_record
from tracegraph.recall import RecallResult, recall
from tracegraph.settings import Settings, get_settings
from tracegraph.store import GraphStore, WriteRequest, WriteSummary, open_store
from tracegraph.trace import TraceResult, trace

__version__ = "0.1.0"

__all__ = [
    "BadInput",
    "CommonCauseResult",
    "Direction",
    "Edge",
    "EntityType",
    "EvidenceChain",
    "Family",
    "GraphStore",
    "ImpactResult",
    "ImportReport",
    "InvalidImport",
    "Key",
    "Node",
    "NotFound",
    "RecallResult",
    "RelType",
    "Settings",
    "StoreError",
    "StoreUnavailable",
    "TraceGraphError",
    "TraceResult",
    "WriteRequest",
    "WriteSummary",
    "__version__",
    "audit",
    "common_cause",
    "evidence",
    "get_settings",
    "impact",
    "import_paths",
    "import_records",
    "open_store",
    "parse_record",
    "read_jsonl",
    "read_paths",
    "recall",
    "trace",
    "verify_package",
    "write_package",
]
