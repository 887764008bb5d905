"""The public surface of `tracegraph` is deliberate: a change to it must change this list."""

from __future__ import annotations

import tracegraph

EXPECTED = {
    "audit",
    "CommonCauseResult",
    "common_cause",
    "EvidenceChain",
    "evidence",
    "verify_package",
    "write_package",
    "ImpactResult",
    "impact",
    "RecallResult",
    "recall",
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
}


def test_exported_members_are_exactly_the_documented_surface() -> None:
    assert set(tracegraph.__all__) == EXPECTED
    for name in tracegraph.__all__:
        assert hasattr(tracegraph, name), name


def test_core_imports_no_front_end() -> None:
    # tracegraph/ is the core: FastAPI and Typer belong to api/ and cli/ only.
    from pathlib import Path

    core = Path(tracegraph.__file__).parent
    for source in core.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        for banned in ("import fastapi", "from fastapi", "import typer", "from typer"):
            assert banned not in text, f"{source.name} imports a front end ({banned})"
    for source in core.rglob("*.py"):
        if source.name != "neo4j.py":
            text = source.read_text(encoding="utf-8")
            assert "import neo4j" not in text, source.name
            assert "from neo4j" not in text, source.name
