"""The audit trail: the chain verifies, tampering is named, and `audit log` tells a history.

Every store test runs on the embedded store and on the real Neo4j. Tampering goes behind the
store's back the way an insider would: the embedded store's file is rewritten, Neo4j is edited
with Cypher through the driver.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import Result

from tests.support.cli import run
from tests.support.embedded import rewrite
from tests.test_store_contract import LINES
from tracegraph.audit import history, identity, required_reason, verify
from tracegraph.errors import BadInput, NotFound
from tracegraph.importer import import_records, read_jsonl
from tracegraph.store import base
from tracegraph.store.base import (
    AuditEntry,
    Change,
    GraphStore,
    WriteRequest,
    canonical,
    change_row,
    changes_digest,
    digest_rows,
    entry_hash,
)
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore

ALICE = WriteRequest(actor="alice", operation="import", source="ERP", reason="goods receipt")
BOB = WriteRequest(actor="bob", operation="import", source="QMS", reason="recount after NCR-7")
CAROL = WriteRequest(actor="carol", operation="import", source="MES", reason="new unit")

#: The second write: one node field and one edge field change.
UPDATE = [
    {"type": "MaterialLot", "id": "L-1", "received_at": "2026-01-05", "quantity": 80},
    {"type": "CONSUMED_IN", "from": "MaterialLot:L-1", "to": "Batch:SUB-1", "quantity": 25},
]
#: The third write: a node and an edge created.
ADDITION = [
    {"type": "Device", "id": "D-3", "manufactured_at": "2026-01-09"},
    {"type": "PRODUCED", "from": "Batch:B-1", "to": "Device:D-3"},
]


def load(store: GraphStore, records: list[dict[str, Any]], request: WriteRequest) -> None:
    import_records(store, read_jsonl("data.jsonl", [orjson.dumps(r) for r in records]), request)


def three_writes(store: GraphStore) -> list[AuditEntry]:
    load(store, LINES, ALICE)
    load(store, UPDATE, BOB)
    load(store, ADDITION, CAROL)
    entries = store.audit_entries()
    assert [e.seq for e in entries] == [1, 2, 3]
    return entries


# --------------------------------------------------------------------------- tampering helpers


def cypher(store: GraphStore, query: str, **params: Any) -> list[Any]:
    assert isinstance(store, Neo4jStore)
    records, _, _ = store.driver.execute_query(query, params, database_=store.database)
    return records


def entry_of(data: dict[str, Any], seq: int) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in data["audit"] if a["seq"] == seq)
    return found


def node_of(data: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in data["nodes"] if n["key"] == key)
    return found


def edge_of(data: dict[str, Any], t: str, src: str, dst: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        e for e in data["edges"] if (e["t"], e["s"], e["d"]) == (t, src, dst)
    )
    return found


def edit_entry(store: GraphStore, seq: int, field: str, value: Any) -> None:
    """Set one field of one audit entry in place (value None: remove the field)."""
    if isinstance(store, EmbeddedStore):

        def change(data: dict[str, Any]) -> None:
            entry = entry_of(data, seq)
            if value is None:
                del entry[field]
            else:
                entry[field] = value

        rewrite(store, change)
    elif value is None:
        cypher(store, f"MATCH (a:AuditEntry {{seq: $seq}}) REMOVE a.{field}", seq=seq)
    else:
        cypher(store, f"MATCH (a:AuditEntry {{seq: $seq}}) SET a.{field} = $v", seq=seq, v=value)


def delete_entry(store: GraphStore, seq: int) -> None:
    if isinstance(store, EmbeddedStore):
        rewrite(store, lambda d: d["audit"].remove(entry_of(d, seq)))
    else:
        cypher(store, "MATCH (a:AuditEntry {seq: $seq}) DELETE a", seq=seq)


# --------------------------------------------------------------------------- the chain


def test_the_chain_verifies_after_several_writes(store: GraphStore) -> None:
    entries = three_writes(store)
    result = verify(store)
    assert result.intact, result.message()
    assert result.broken is None
    assert result.entries == 3
    # LINES holds 11 nodes and 11 edges; the third write adds one of each.
    assert result.records == len(LINES) + 2
    # Two of those records were updated once: two versions more than records.
    assert result.versions == result.records + 2
    assert result.head == entries[-1].hash
    assert result.as_json()["intact"] is True
    assert result.message().startswith("audit trail intact: 3 entries")


def test_an_empty_store_verifies(store: GraphStore) -> None:
    result = verify(store)
    assert (result.intact, result.entries, result.records, result.head) == (True, 0, 0, None)


def test_the_digest_is_the_canonical_array_of_changes_sorted_by_identity() -> None:
    # seal encodes all changes in one call and audit verify rebuilds the digest one record at
    # a time (digest_rows): both must give these bytes, or every chain would fail verification.
    at = dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)
    changes: list[Change] = [
        ("MaterialLot:L-1", "update", {"quantity": 1.0}, {"quantity": 2.0, "received_at": at}),
        ("Certificate:C-1", "create", None, {"valid_from": dt.date(2026, 1, 1), "kind": "ISO"}),
        ("Device:D-1", "create", None, {"attributes": {"z": 1, "a": [1, 2.5, None]}}),
        ("CONSUMED_IN:MaterialLot:L-1->Batch:B-1", "create", None, {}),
    ]
    one_shot = canonical(sorted([[i, op, b, dict(a)] for i, op, b, a in changes]))
    assert changes_digest(changes) == hashlib.sha256(one_shot).hexdigest()
    assert changes_digest(list(reversed(changes))) == changes_digest(changes)
    rows = [(i, change_row(i, op, b, a)) for i, op, b, a in reversed(changes)]
    assert digest_rows(rows) == changes_digest(changes)


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_the_digest_encoded_in_chunks_is_that_of_the_whole_array(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    changes: list[Change] = [
        (
            f"Device:D-{i}",
            "create",
            None,
            {"manufactured_at": dt.datetime(2026, 1, i, tzinfo=dt.UTC)},
        )
        for i in range(1, 8)
    ]
    whole = changes_digest(changes)
    monkeypatch.setattr(base, "_DIGEST_CHUNK", chunk)
    assert changes_digest(changes) == whole
    assert whole == hashlib.sha256(canonical(sorted([list(c) for c in changes]))).hexdigest()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reason", "nothing to see here"),
        ("actor", "mallory"),
        ("source", "PLM"),
        ("created", 999),
        ("changes_sha256", "0" * 64),
        ("reason", None),  # a property removed
        ("injected", "x"),  # a property added
    ],
)
def test_an_audit_entry_edited_in_place_is_named(store: GraphStore, field: str, value: Any) -> None:
    three_writes(store)
    edit_entry(store, 2, field, value)
    result = verify(store)
    assert not result.intact
    assert result.broken is not None
    assert result.broken.seq == 2, result.message()
    assert "does not match its hash" in result.broken.problem
    assert result.message().startswith("audit entry 2 is broken:")


def test_an_entry_edited_in_place_on_neo4j_with_set_is_named(neo4j_store: Neo4jStore) -> None:
    three_writes(neo4j_store)
    neo4j_store.driver.execute_query(
        "MATCH (a:AuditEntry {seq: 1}) SET a.reason = 'approved by QA'",
        database_=neo4j_store.database,
    )
    result = verify(neo4j_store)
    assert result.broken is not None
    assert (result.broken.seq, result.intact) == (1, False)


def test_an_entry_whose_time_was_changed_is_named(store: GraphStore) -> None:
    entries = three_writes(store)
    earlier = entries[1].at - dt.timedelta(days=30)
    edit_entry(store, 2, "at", earlier.isoformat() if isinstance(store, EmbeddedStore) else earlier)
    result = verify(store)
    assert result.broken is not None
    assert result.broken.seq == 2, result.message()


def test_an_entry_deleted_in_the_middle_is_named(store: GraphStore) -> None:
    three_writes(store)
    delete_entry(store, 2)
    result = verify(store)
    assert result.broken is not None
    assert result.broken.seq == 2, result.message()
    assert "missing" in result.broken.problem
    assert result.entries == 2


def test_the_last_entry_deleted_is_named_from_the_versions_it_wrote(store: GraphStore) -> None:
    # No later entry points at it; the records it wrote still name it.
    three_writes(store)
    delete_entry(store, 3)
    result = verify(store)
    assert result.broken is not None
    assert result.broken.seq == 3, result.message()
    assert "missing" in result.broken.problem


def test_an_entry_rewritten_with_a_fresh_hash_breaks_the_next_link(store: GraphStore) -> None:
    entries = three_writes(store)
    forged = AuditEntry(**{**entries[1].__dict__, "reason": "forged"})
    forged_hash = entry_hash(forged.body())
    edit_entry(store, 2, "reason", "forged")
    edit_entry(store, 2, "hash", forged_hash)
    result = verify(store)
    assert result.broken is not None
    # Entry 2 is self-consistent now; the chain breaks where entry 3 points at the old hash.
    assert result.broken.seq == 3, result.message()
    assert "prev_hash" in result.broken.problem


def test_the_first_broken_entry_is_named_when_several_are(store: GraphStore) -> None:
    three_writes(store)
    edit_entry(store, 3, "actor", "mallory")
    edit_entry(store, 2, "actor", "mallory")
    result = verify(store)
    assert result.broken is not None
    assert result.broken.seq == 2


# --------------------------------------------------------------------------- record versions


def _edit_current_lot_quantity(store: GraphStore) -> None:
    if isinstance(store, EmbeddedStore):
        rewrite(store, lambda d: node_of(d, "MaterialLot:L-1")["p"].update(quantity=999.0))
    else:
        cypher(store, "MATCH (n:Node {key: 'MaterialLot:L-1'}) SET n.quantity = 999.0")


def _edit_kept_lot_version(store: GraphStore) -> None:
    """The version before the update (written by entry 1) is kept in the history."""
    if isinstance(store, EmbeddedStore):
        rewrite(store, lambda d: node_of(d, "MaterialLot:L-1")["h"][0]["p"].update(quantity=1.0))
        return
    (rec,) = cypher(store, "MATCH (n:Node {key: 'MaterialLot:L-1'}) RETURN n._h AS h")
    kept = [json.loads(v) for v in rec["h"]]
    kept[0]["p"]["quantity"] = 1.0
    cypher(
        store,
        "MATCH (n:Node {key: 'MaterialLot:L-1'}) SET n._h = $h",
        h=[json.dumps(v) for v in kept],
    )


def _edit_edge_field(store: GraphStore) -> None:
    if isinstance(store, EmbeddedStore):
        rewrite(
            store,
            lambda d: edge_of(d, "CONSUMED_IN", "MaterialLot:L-2", "Batch:SUB-1")["p"].update(
                quantity=5.0
            ),
        )
    else:
        cypher(
            store,
            "MATCH (:Node {key: 'MaterialLot:L-2'})-[r:CONSUMED_IN]->(:Node {key: 'Batch:SUB-1'}) "
            "SET r.quantity = 5.0",
        )


def _delete_record(store: GraphStore) -> None:
    """Device:D-3 and its PRODUCED edge, both written by entry 3."""
    if isinstance(store, EmbeddedStore):

        def change(d: dict[str, Any]) -> None:
            d["nodes"].remove(node_of(d, "Device:D-3"))
            d["edges"].remove(edge_of(d, "PRODUCED", "Batch:B-1", "Device:D-3"))

        rewrite(store, change)
    else:
        cypher(store, "MATCH (n:Node {key: 'Device:D-3'}) DETACH DELETE n")


def _add_record(store: GraphStore) -> None:
    """A node slipped in, claiming to have been written by entry 1."""
    at = store.audit_entries()[0].at
    if isinstance(store, EmbeddedStore):
        node = {"key": "Equipment:EQ-X", "p": {"name": "x"}, "c": at, "r": at, "a": 1, "h": []}
        rewrite(store, lambda d: d["nodes"].append(node))
    else:
        cypher(
            store,
            "CREATE (n:Node:Equipment {key: 'Equipment:EQ-X', id: 'EQ-X', name: 'x', "
            "_c: $at, _r: $at, _a: 1})",
            at=at,
        )


def _backdate_record(store: GraphStore) -> None:
    """Device:D-3 made to look as if it had been there since entry 1 (as-of would show it)."""
    at = store.audit_entries()[0].at
    if isinstance(store, EmbeddedStore):
        rewrite(store, lambda d: node_of(d, "Device:D-3").update(c=iso_text(at), r=iso_text(at)))
    else:
        cypher(store, "MATCH (n:Node {key: 'Device:D-3'}) SET n._c = $at, n._r = $at", at=at)


def _renumber_version(store: GraphStore) -> None:
    """Device:D-3's version moved from entry 3 to entry 2."""
    if isinstance(store, EmbeddedStore):
        rewrite(store, lambda d: node_of(d, "Device:D-3").update(a=2))
    else:
        cypher(store, "MATCH (n:Node {key: 'Device:D-3'}) SET n._a = 2")


def iso_text(moment: dt.datetime) -> str:
    return moment.isoformat()


@pytest.mark.parametrize(
    ("tamper", "seq"),
    [
        (_edit_current_lot_quantity, 2),
        (_edit_kept_lot_version, 1),
        (_edit_edge_field, 1),
        (_delete_record, 3),
        (_add_record, 1),
        (_backdate_record, 3),
        (_renumber_version, 2),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else str(v),
)
def test_a_record_version_edited_behind_the_chain_is_named(
    store: GraphStore, tamper: Callable[[GraphStore], None], seq: int
) -> None:
    three_writes(store)
    assert verify(store).intact
    tamper(store)
    result = verify(store)
    assert result.broken is not None, "tampering went unnoticed"
    assert result.broken.seq == seq, result.message()


def test_versions_lists_every_version_of_nodes_and_edges(store: GraphStore) -> None:
    three_writes(store)
    edge, lot = store.versions(["MaterialLot:L-1", "CONSUMED_IN:MaterialLot:L-1->Batch:SUB-1"])
    # Sorted by identity: the relationship type's capitals sort before the node's type.
    assert edge.ident == "CONSUMED_IN:MaterialLot:L-1->Batch:SUB-1"
    assert [(v.audit_seq, v.props.get("quantity")) for v in edge.versions] == [(1, 20), (2, 25)]
    assert [(v.audit_seq, v.props["quantity"]) for v in lot.versions] == [(1, 100), (2, 80)]
    entries = store.audit_entries()
    assert [v.recorded_at for v in lot.versions] == [entries[0].at, entries[1].at]
    assert lot.created_at == entries[0].at
    assert list(store.versions(["Device:nope", "PRODUCED:Batch:B-1->Device:nope"])) == []
    every = {r.ident: r for r in store.versions()}
    assert len(every) == len(LINES) + 2
    assert every["MaterialLot:L-1"] == lot


def test_neo4j_reads_every_version_page_by_page(neo4j_store: Neo4jStore) -> None:
    three_writes(neo4j_store)
    neo4j_store._PAGE = 4  # 12 nodes: three full pages and an empty one
    idents = [r.ident for r in neo4j_store.versions()]
    assert len(idents) == len(set(idents)) == len(LINES) + 2
    assert verify(neo4j_store).intact


def test_both_stores_keep_the_same_versions(
    store_pair: tuple[GraphStore, GraphStore],
) -> None:
    seen = []
    for s in store_pair:
        three_writes(s)
        seen.append(
            sorted((r.ident, [(v.audit_seq, v.props) for v in r.versions]) for r in s.versions())
        )
    assert seen[0] == seen[1]


# --------------------------------------------------------------------------- history


def test_history_shows_who_changed_a_lot_when_and_why(store: GraphStore) -> None:
    entries = three_writes(store)
    result = history(store, "MaterialLot:L-1")
    first, second = result.versions
    assert (result.key, result.kind, result.created_at) == (
        "MaterialLot:L-1",
        "node",
        entries[0].at,
    )
    assert (first.change, first.actor, first.reason, first.source, first.at) == (
        "create",
        "alice",
        "goods receipt",
        "ERP",
        entries[0].at,
    )
    assert [(f.field, f.before, f.after) for f in first.fields] == [
        ("quantity", None, 100.0),
        ("received_at", None, dt.datetime(2026, 1, 5, tzinfo=dt.UTC)),
    ]
    assert (second.change, second.actor, second.reason, second.source, second.at) == (
        "update",
        "bob",
        "recount after NCR-7",
        "QMS",
        entries[1].at,
    )
    assert (second.operation, second.audit_seq) == ("import", 2)
    # Only what changed: received_at was given again, unchanged.
    assert [(f.field, f.before, f.after) for f in second.fields] == [("quantity", 100.0, 80.0)]
    as_json = result.as_json()
    assert as_json["versions"][1]["fields"] == [
        {"field": "quantity", "before": 100.0, "after": 80.0}
    ]
    assert as_json["versions"][0]["at"] == entries[0].at.isoformat().replace("+00:00", "Z")
    assert as_json["counts"] == {"versions": 2, "field_changes": 3}


def test_history_of_an_edge(store: GraphStore) -> None:
    three_writes(store)
    result = history(store, "CONSUMED_IN:MaterialLot:L-1->Batch:SUB-1")
    assert result.kind == "edge"
    assert [
        (v.actor, [(f.field, f.before, f.after) for f in v.fields]) for v in result.versions
    ] == [
        ("alice", [("quantity", None, 20.0)]),
        ("bob", [("quantity", 20.0, 25.0)]),
    ]


def test_history_of_an_unknown_record_is_not_found(store: GraphStore) -> None:
    three_writes(store)
    with pytest.raises(NotFound, match="Device:nope: no such node"):
        history(store, "Device:nope")
    with pytest.raises(NotFound, match="no such edge"):
        history(store, "PRODUCED:Batch:B-1->Device:D-1x")


def test_identities_are_parsed_or_refused_with_a_reason() -> None:
    assert identity("MaterialLot:L-1") == ("node", "MaterialLot:L-1")
    # An id may hold "->": the split that joins two keys of allowed types wins.
    assert identity("PRODUCED:Batch:B->1->Device:D-1") == (
        "edge",
        "PRODUCED:Batch:B->1->Device:D-1",
    )
    with pytest.raises(BadInput, match="not an edge identity"):
        identity("PRODUCED:Batch:B-1")
    with pytest.raises(BadInput, match="not an edge identity"):
        identity("PRODUCED:Device:D-1->Batch:B-1")  # wrong direction for PRODUCED
    with pytest.raises(BadInput, match="unknown type"):
        identity("Lot:L-1")


def test_a_reason_is_required_only_where_the_site_says_so() -> None:
    assert required_reason(None, required=False) is None
    assert required_reason("  why  ", required=True) == "why"
    for missing in (None, "", "   "):
        with pytest.raises(BadInput, match="--reason: required"):
            required_reason(missing, required=True)


# --------------------------------------------------------------------------- CLI


def cli_import(
    tmp_path: Path, db: str, env: dict[str, str], records: list[dict[str, Any]], *extra: str
) -> Result:
    path = tmp_path / f"import-{len(list(tmp_path.glob('import-*')))}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return run("import", str(path), "--db", db, "--format", "json", *extra, env=env)


def test_cli_audit_log_and_verify(tmp_path: Path, cli_db: tuple[str, dict[str, str]]) -> None:
    db, env = cli_db
    alice = {**env, "TRACEGRAPH_ACTOR": "alice"}
    bob = {**env, "TRACEGRAPH_ACTOR": "bob"}
    assert cli_import(tmp_path, db, alice, LINES, "--reason", "receipt").exit_code == 0
    assert cli_import(tmp_path, db, bob, UPDATE, "--reason", "recount").exit_code == 0

    out = run("audit", "log", "MaterialLot:L-1", "--db", db, "--format", "json", env=env)
    assert out.exit_code == 0, out.stderr
    log = json.loads(out.stdout)
    assert [(v["actor"], v["reason"], v["change"]) for v in log["versions"]] == [
        ("alice", "receipt", "create"),
        ("bob", "recount", "update"),
    ]
    assert log["versions"][1]["fields"] == [{"field": "quantity", "before": 100.0, "after": 80.0}]

    csv_out = run("audit", "log", "MaterialLot:L-1", "--db", db, "--format", "csv", env=env)
    lines = csv_out.stdout.splitlines()
    assert (
        lines[0] == "version,audit_seq,at,actor,operation,source,reason,change,field,before,after"
    )
    assert lines[-1].startswith("2,2,")
    assert lines[-1].endswith(",bob,import,,recount,update,quantity,100.0,80.0")

    wide = {**env, "COLUMNS": "200"}
    table_out = run("audit", "log", "MaterialLot:L-1", "--db", db, "--format", "table", env=wide)
    assert table_out.exit_code == 0
    assert "bob" in table_out.stdout
    assert "recount" in table_out.stdout

    ok = run("audit", "verify", "--db", db, "--format", "json", env=env)
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["intact"] is True
    plain = run("audit", "verify", "--db", db, "--format", "table", env=env)
    assert plain.exit_code == 0
    assert plain.stdout.startswith("audit trail intact: 2 entries")

    store: GraphStore = EmbeddedStore(db) if not db.startswith("bolt") else _neo4j(db, env)
    try:
        edit_entry(store, 1, "reason", "edited")
    finally:
        store.close()
    broken = run("audit", "verify", "--db", db, "--format", "json", env=env)
    assert broken.exit_code == 1
    assert json.loads(broken.stdout)["broken"]["seq"] == 1
    assert broken.stderr.splitlines() == [
        "tracegraph: audit entry 1 is broken: its content does not match its hash "
        "(edited after it was written)"
    ]


def _neo4j(uri: str, env: dict[str, str]) -> Neo4jStore:
    return Neo4jStore(uri, env["NEO4J_USER"], env["NEO4J_PASSWORD"])


def test_cli_audit_log_refuses_bad_keys(tmp_path: Path) -> None:
    db = str(tmp_path / "s.tgdb")
    assert cli_import(tmp_path, db, {}, LINES).exit_code == 0
    unknown = run("audit", "log", "Device:nope", "--db", db)
    assert (unknown.exit_code, unknown.stderr) == (
        2,
        "tracegraph: Device:nope: no such node in the store\n",
    )
    malformed = run("audit", "log", "PRODUCED:Batch:B-1", "--db", db)
    assert malformed.exit_code == 2
    assert "not an edge identity" in malformed.stderr
    edge = run("audit", "log", "PRODUCED:Batch:B-1->Device:D-1", "--db", db, "--format", "json")
    assert json.loads(edge.stdout)["kind"] == "edge"


def test_require_reason_refuses_an_import_without_one(tmp_path: Path) -> None:
    db = str(tmp_path / "s.tgdb")
    strict = {"TRACEGRAPH_REQUIRE_REASON": "true"}
    refused = cli_import(tmp_path, db, strict, LINES)
    assert refused.exit_code == 2
    assert refused.stderr.splitlines() == [
        "tracegraph: --reason: required on this site (TRACEGRAPH_REQUIRE_REASON): say why this "
        "write is made; it is kept in the audit trail"
    ]
    blank = cli_import(tmp_path, db, strict, LINES, "--reason", "  ")
    assert blank.exit_code == 2
    assert not Path(db).exists() or EmbeddedStore(db).audit_entries() == []
    accepted = cli_import(tmp_path, db, strict, LINES, "--reason", "initial load")
    assert accepted.exit_code == 0, accepted.stderr
    (entry,) = EmbeddedStore(db).audit_entries()
    assert entry.reason == "initial load"
    # Without the setting, no reason is fine.
    assert cli_import(tmp_path, db, {}, UPDATE).exit_code == 0
