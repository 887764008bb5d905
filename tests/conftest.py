"""Fixtures: one real Neo4j per test session (cleaned per test) and an embedded store per test.

The server comes from NEO4J_URI, else Docker (testcontainers), else a Neo4j 5.26 built from
Maven Central and started as a process (tests/support/neo4j_server.py). There is no skipping:
without a server, every Neo4j test fails with a sentence saying how to provide one.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.neo4j_server import Neo4jServer, how_to_provide, provide_server
from tracegraph.store.base import GraphStore
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.neo4j import Neo4jStore

_SERVER_KEY = pytest.StashKey[Neo4jServer]()


@pytest.fixture(scope="session")
def neo4j_server(request: pytest.FixtureRequest) -> Iterator[Neo4jServer]:
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(provide_server())
        except Exception as exc:
            pytest.fail(f"No Neo4j server for the tests: {exc}. {how_to_provide()}", pytrace=False)
        request.config.stash[_SERVER_KEY] = server
        print(
            f"\n[tracegraph tests] Neo4j {server.version} ({server.how}) at {server.uri}",
            file=sys.stderr,
        )
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    server = terminalreporter.config.stash.get(_SERVER_KEY, None)
    if server is not None:
        terminalreporter.write_line(
            f"Neo4j used by the tests: {server.version} ({server.how}) at {server.uri}"
        )


@pytest.fixture
def neo4j_store(neo4j_server: Neo4jServer) -> Iterator[Neo4jStore]:
    store = Neo4jStore(neo4j_server.uri, neo4j_server.user, neo4j_server.password, batch=500)
    store.clear()
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def embedded_store(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "store.tgdb")


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest) -> GraphStore:
    """Each contract test runs once per store."""
    fixture = "embedded_store" if request.param == "embedded" else "neo4j_store"
    result: GraphStore = request.getfixturevalue(fixture)
    return result


@pytest.fixture
def store_pair(embedded_store: EmbeddedStore, neo4j_store: Neo4jStore) -> tuple[GraphStore, ...]:
    """Both stores, empty, for differential tests."""
    return (embedded_store, neo4j_store)


@pytest.fixture
def fresh_neo4j(neo4j_server: Neo4jServer) -> Iterator[Callable[[], Neo4jStore]]:
    """Empties the Neo4j store on each call: hypothesis examples need a clean one each."""
    store = Neo4jStore(neo4j_server.uri, neo4j_server.user, neo4j_server.password, batch=500)

    def make() -> Neo4jStore:
        store.clear()
        return store

    yield make
    store.close()


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def cli_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """(--db value, environment) for running the CLI, once per store (Neo4j emptied first)."""
    if request.param == "embedded":
        yield str(tmp_path / "cli.tgdb"), {}
        return
    server: Neo4jServer = request.getfixturevalue("neo4j_server")
    request.getfixturevalue("neo4j_store")  # empties the database
    yield server.uri, {"NEO4J_USER": server.user, "NEO4J_PASSWORD": server.password}
