"""Stores: the `GraphStore` protocol, the Neo4j adapter and the embedded (SQLite) store."""

from __future__ import annotations

from tracegraph.settings import Settings
from tracegraph.store.base import GraphStore, StoredEdge, StoredNode, WriteRequest, WriteSummary

NEO4J_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")


def is_neo4j(location: str) -> bool:
    return location.startswith(NEO4J_SCHEMES)


def open_store(settings: Settings, *, create: bool = True) -> GraphStore:
    """The store that ``settings.db`` names: a Neo4j URI, or the path of an embedded store.

    ``create=False`` (read-only commands): a path with no store is `BadInput` naming it, and
    nothing is created."""
    if is_neo4j(settings.db):
        from tracegraph.store.neo4j import Neo4jStore

        return Neo4jStore(
            settings.db,
            settings.neo4j_user,
            settings.neo4j_password.get_secret_value(),
            database=settings.neo4j_database,
            batch=settings.write_batch,
            retry_seconds=settings.neo4j_retry_seconds,
            connect_seconds=settings.neo4j_connect_seconds,
        )
    from tracegraph.store.embedded import EmbeddedStore

    return EmbeddedStore(settings.db, create=create, busy_seconds=settings.busy_seconds)


__all__ = [
    "GraphStore",
    "StoredEdge",
    "StoredNode",
    "WriteRequest",
    "WriteSummary",
    "is_neo4j",
    "open_store",
]
