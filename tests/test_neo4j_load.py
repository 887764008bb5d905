"""The initial load of an empty Neo4j database (`tracegraph import --initial-load`).

A Neo4j of its own (a LocalNeo4j, stopped for the load) is loaded with neo4j-admin, run from
the same Maven jars the server runs from, and compared with an online import of the same
files into the session's server: nodes, labels, edges, every property with its type, the
record versions, the audit entry, and the schema once TraceGraph has opened each.
"""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from tests.support.neo4j_server import LocalNeo4j, ensure_jars, find_java
from tracegraph.audit import verify
from tracegraph.errors import InvalidImport, StoreError, StoreUnavailable
from tracegraph.generate import generate, write_jsonl
from tracegraph.importer import import_paths
from tracegraph.store import WriteRequest
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore
from tracegraph.store.neo4j_load import initial_load

pytestmark = pytest.mark.neo4j

REQUEST = WriteRequest(actor="loader", operation="import", source="PLM", reason="first load")

# Every kind of value a record holds: text with a newline, quotes, a comma and non-ASCII, an
# empty text, a list (and an empty one), a flag, a number, a date, instants, free-form
# attributes; a node given twice (its fields merged) and an edge given twice.
EXTRA: list[dict[str, Any]] = [
    {
        "type": "Supplier",
        "id": "S-X1",
        "name": 'Quote "Q", Comma, \u00c5ngstr\u00f6m',
        "status": "approved",
        "attributes": {"z": 1, "a": [1, "two"], "n": {"k": None}},
    },
    {"type": "Supplier", "id": "S-X1", "name": "Q", "status": "approved", "country": "SE"},
    {
        "type": "Material",
        "id": "M-X1",
        "name": "Line one\nline two",
        "required_certificates": "ISO 13485;RoHS",
    },
    {"type": "Material", "id": "M-X2", "name": "none", "required_certificates": ""},
    {
        "type": "Certificate",
        "id": "C-X1",
        "kind": "ISO 13485",
        "valid_from": "2025-01-01",
        "valid_to": "2027-12-31",
    },
    {"type": "CERTIFIES", "from": "Certificate:C-X1", "to": "Supplier:S-X1"},
    {
        "type": "MaterialLot",
        "id": "L-X1",
        "received_at": "2026-01-05T10:11:12.345678+02:00",
        "quantity": 12.5,
    },
    {"type": "SUPPLIED", "from": "Supplier:S-X1", "to": "MaterialLot:L-X1"},
    {"type": "HAS_LOT", "from": "Material:M-X1", "to": "MaterialLot:L-X1"},
    {"type": "HAS_LOT", "from": "Material:M-X1", "to": "MaterialLot:L-X1", "source": "ERP"},
    {
        "type": "Device",
        "id": "D-X1",
        "manufactured_at": "2026-02-01T00:00:00Z",
        "udi": "(01)09501101530010(11)260201(21)SNX1",
    },
    {
        "type": "Complaint",
        "id": "CP-X1",
        "reported_at": "2026-03-01T08:00:00Z",
        "severity": "malfunction",
        "reportable": True,
        "description": "",
    },
    {"type": "HAS_COMPLAINT", "from": "Device:D-X1", "to": "Complaint:CP-X1"},
]


def _dump(store: Neo4jStore) -> dict[str, Any]:
    """Everything in the database, the load's time replaced by T (it differs between runs)."""

    def rows(text: str) -> list[Any]:
        records, _, _ = store.driver.execute_query(text, database_=store.database)
        return sorted((r.values() for r in records), key=repr)

    at = rows("MATCH (a:AuditEntry) RETURN toString(a.at)")[0][0]

    def timeless(props: list[list[Any]]) -> list[list[Any]]:
        return sorted(([k, "T" if v == at else v, t] for k, v, t in props), key=repr)

    props = (
        "[k IN keys(x) | [k, CASE WHEN x[k] IS :: LIST<ANY> THEN x[k] ELSE toString(x[k]) END, "
        "valueType(x[k])]]"
    )
    nodes = rows(f"MATCH (x) WHERE NOT x:AuditEntry RETURN labels(x), {props}")
    edges = rows(f"MATCH (s)-[x]->(d) RETURN type(x), s.key, d.key, {props}")
    [[entry]] = rows(f"MATCH (x:AuditEntry) RETURN {props}")
    return {
        "nodes": sorted(([sorted(labels), timeless(p)] for labels, p in nodes), key=repr),
        "edges": [[t, a, b, timeless(p)] for t, a, b, p in edges],
        # the entry's hash covers its time: everything else must be the same
        "audit": sorted(p for p in entry if p[0] not in ("at", "hash")),
        "constraints": rows("SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties"),
        "indexes": rows("SHOW INDEXES YIELD name, type, labelsOrTypes, properties, state"),
    }


def _versions(store: Neo4jStore) -> list[Any]:
    """Every record's versions, with the time of the write left out."""
    return sorted(
        (r.ident, [(v.audit_seq, sorted(v.props.items())) for v in r.versions])
        for r in store.versions()
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("load")
    generated = folder / "generated.jsonl"
    with open(generated, "wb") as handle:
        write_jsonl(generate(60, 3), handle)
    extra = folder / "extra.jsonl"
    extra.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in EXTRA))
    return [generated, extra]


@pytest.fixture(scope="module")
def target() -> Iterator[LocalNeo4j]:
    """A Neo4j of its own whose home has a bin/neo4j-admin, as an installed Neo4j has."""
    with LocalNeo4j() as local:
        admin = local.home / "bin" / "neo4j-admin"
        admin.parent.mkdir(exist_ok=True)
        admin.write_text(
            f"#!/bin/sh\nexec '{find_java()}' -cp '{ensure_jars()}/*' "
            'org.neo4j.cli.AdminTool "$@"\n'
        )
        admin.chmod(admin.stat().st_mode | stat.S_IXUSR)
        yield local


def _open(local: LocalNeo4j) -> Neo4jStore:
    return Neo4jStore(local.uri, local.user, local.password)


def test_refuses_a_running_server(target: LocalNeo4j, data: list[Path]) -> None:
    assert target.running
    with pytest.raises(StoreUnavailable, match="Neo4j is running on this home; stop it first"):
        initial_load(data, target.home, REQUEST)


def test_bad_records_are_refused_as_import_refuses_them_and_nothing_is_written(
    tmp_path: Path, data: list[Path]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"type": "Supplier", "id": "S-1", "name": "A", "status": "approved"}\n'
        '{"type": "Supplier", "id": "S-2", "status": "nonsense"}\n'
        '{"type": "SUPPLIED", "from": "Supplier:S-1", "to": "MaterialLot:L-404"}\n'
    )
    with pytest.raises(InvalidImport) as online:
        import_paths(EmbeddedStore(tmp_path / "e.tgdb"), [*data, bad], REQUEST)
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(InvalidImport) as offline:
        initial_load([*data, bad], home, REQUEST, admin=["/nonexistent/neo4j-admin"])
    assert str(offline.value) == str(online.value)
    assert offline.value.details == online.value.details
    assert list(home.iterdir()) == []


def test_the_load_makes_the_graph_an_online_import_makes(
    target: LocalNeo4j, data: list[Path], neo4j_store: Neo4jStore
) -> None:
    online = import_paths(neo4j_store, data, REQUEST)

    target.stop()
    runner = CliRunner()
    from cli.main import app

    result = runner.invoke(
        app,
        [
            "import",
            *map(str, data),
            "--initial-load",
            "--neo4j-home",
            str(target.home),
            "--source",
            "PLM",
            "--reason",
            "first load",
            "--format",
            "json",
        ],
        env={"TRACEGRAPH_ACTOR": "loader"},
    )
    assert result.exit_code == 0, result.output
    target.start()

    loaded = _open(target)
    try:
        assert verify(loaded).intact
        assert verify(neo4j_store).intact
        assert _versions(loaded) == _versions(neo4j_store)
        # (the versions' and entries' times are the load's own)
        [entry] = loaded.audit_entries()
        assert entry.at <= dt.datetime.now(dt.UTC)
        assert entry.changes_sha256 == neo4j_store.audit_entries()[0].changes_sha256
        got, want = _dump(loaded), _dump(neo4j_store)
        for part in want:
            assert got[part] == want[part], part
        assert online.summary.created == online.records - 2  # the two records given twice

        # an online import continues the chain the load began
        more = data[0].parent / "more.jsonl"
        record = {"type": "Supplier", "id": "S-X1", "name": "Q", "status": "approved"}
        more.write_bytes(orjson.dumps({**record, "country": "NO"}) + b"\n")
        report = import_paths(loaded, [more], REQUEST)
        assert (report.summary.updated, report.summary.audit_seq) == (1, 2)
        assert verify(loaded).intact
    finally:
        loaded.close()

    target.stop()
    try:
        with pytest.raises(Exception, match="is not empty"):
            initial_load(data, target.home, REQUEST)
    finally:
        target.start()


def test_a_failed_load_leaves_nothing(tmp_path: Path, data: list[Path]) -> None:
    home = tmp_path / "home"
    folder = home / "data" / "databases" / "neo4j"
    logs = home / "data" / "transactions" / "neo4j"
    home.mkdir()
    admin = tmp_path / "neo4j-admin"
    # what a failing neo4j-admin does: leaves half-written store files, says why, exits non-zero
    admin.write_text(
        f"#!/bin/sh\nmkdir -p '{folder}' '{logs}'\ntouch '{folder}/neostore.nodestore.db'\n"
        "echo 'IMPORT FAILED: out of disk space' >&2\nexit 1\n"
    )
    admin.chmod(admin.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(StoreError, match=r"nothing was loaded .* out of disk space"):
        initial_load(data, home, REQUEST, admin=[str(admin)])
    assert not folder.exists()
    assert not logs.exists()
