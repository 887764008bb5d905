"""API keys (`tracegraph.keys`) and the store primitives that keep them, on both stores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest

from tests.support.embedded import export_v1
from tests.support.neo4j_server import Neo4jServer
from tracegraph.demo import load_demo
from tracegraph.errors import BadInput, NotFound, StoreUnavailable
from tracegraph.keys import Role, authenticate, create_key, digest, list_keys, revoke_key
from tracegraph.model import EntityType
from tracegraph.store.base import GraphStore
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore


def test_a_key_is_shown_once_and_kept_only_as_its_digest(store: GraphStore) -> None:
    made = create_key(store, "auditor", "  QA audit  ")
    assert made.key.startswith(f"tg_{made.record.id}_")
    assert len(made.key) > 40
    (kept,) = store.keyring.all()
    assert kept == made.record
    assert (kept.name, kept.role, kept.revoked) == ("QA audit", "auditor", False)
    assert kept.sha256 == digest(made.key)
    assert made.key not in repr(store.keyring.all())
    assert made.key not in orjson.dumps(list_keys(store).as_json()).decode()
    assert authenticate(store, made.key) == kept
    assert authenticate(store, made.key[:-1] + ("A" if made.key[-1] != "A" else "B")) is None
    assert authenticate(store, "Bearer " + made.key) is None


def test_names_are_unique_roles_are_known_and_defaults_are_given(store: GraphStore) -> None:
    first = create_key(store, Role.integrator)
    assert first.record.name == f"integrator-{first.record.id}"
    create_key(store, "analyst", "MES line 2")
    with pytest.raises(BadInput, match="another key has this name"):
        create_key(store, "admin", "MES line 2")
    with pytest.raises(BadInput, match="role 'root'"):
        create_key(store, "root")
    with pytest.raises(BadInput, match="name: empty"):
        create_key(store, "admin", "   ")
    assert [k.role for k in store.keyring.all()] == ["integrator", "analyst"]


def test_revoking_keeps_the_first_time_and_refuses_the_key(store: GraphStore) -> None:
    made = create_key(store, "analyst")
    at = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    revoked = revoke_key(store, made.record.id, now=at)
    assert (revoked.revoked, revoked.revoked_at) == (True, at)
    again = revoke_key(store, made.record.id, now=at + dt.timedelta(days=1))
    assert again.revoked_at == at
    assert authenticate(store, made.key) is None
    assert store.keyring.all()[0].revoked_at == at
    with pytest.raises(NotFound, match="nope: no API key"):
        revoke_key(store, "nope")


def test_keys_live_beside_the_graph_not_in_it(store: GraphStore) -> None:
    load_demo(store)
    entries = len(store.audit_entries())
    made = create_key(store, "admin")
    load_demo(store)  # a write after the key (unchanged data) keeps it
    assert authenticate(store, made.key) is not None
    assert len(store.audit_entries()) == entries
    assert all(not k.startswith("ApiKey") for t in EntityType for k in store.keys_of_type(t))
    view = store.at(dt.datetime.now(dt.UTC))
    assert view.keyring.all() == store.keyring.all()
    with pytest.raises(BadInput, match="read-only"):
        view.keyring.add(made.record)


@pytest.mark.neo4j
def test_neo4j_keys_are_api_key_nodes_shared_by_every_client(
    neo4j_store: Neo4jStore, neo4j_server: Neo4jServer
) -> None:
    made = create_key(neo4j_store, "analyst", "shared")
    other = Neo4jStore(neo4j_server.uri, neo4j_server.user, neo4j_server.password)
    try:
        assert authenticate(other, made.key) == made.record
        records, _, _ = other.driver.execute_query(
            "MATCH (k:ApiKey) RETURN labels(k) AS labels, k.sha256 AS sha"
        )
        assert [(r["labels"], r["sha"]) for r in records] == [(["ApiKey"], digest(made.key))]
    finally:
        other.close()


def test_embedded_keys_survive_reopening_and_old_files_stay_readable(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "keys.tgdb")
    made = create_key(store, "admin", "ops")
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("keys.tgdb*"))
    assert made.record.sha256.encode() in on_disk  # what is kept: the hash ...
    assert made.key.encode() not in on_disk  # ... never the key
    assert authenticate(EmbeddedStore(store.path), made.key) == made.record
    # A v1 file written before keys existed has no "api_keys": it opens, holding none.
    load_demo(store)
    data = export_v1(store.path)
    del data["api_keys"]
    old = tmp_path / "old.tgdb"
    old.write_bytes(orjson.dumps(data))
    reopened = EmbeddedStore(old)
    assert reopened.keyring.all() == []
    assert len(reopened.keys_of_type(EntityType.Device)) == 40
    create_key(reopened, "analyst")
    assert len(EmbeddedStore(old).keyring.all()) == 1


def test_ping_says_at_once_when_the_embedded_store_is_gone(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "ping.tgdb")
    store.ping()
    store.path.rename(tmp_path / "gone.tgdb")
    with pytest.raises(StoreUnavailable, match="cannot read the store"):
        store.ping()
