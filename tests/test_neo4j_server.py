"""The Neo4j server the suite runs against (``neo4j_server`` comes from conftest.py, which
gets it from ``tests.support.neo4j_server.provide_server``)."""

from __future__ import annotations

import contextlib
import uuid

import neo4j
import pytest

from tests.support.neo4j_server import LocalNeo4j, Neo4jServer

pytestmark = pytest.mark.neo4j


def _driver(server: Neo4jServer, password: str | None = None) -> neo4j.Driver:
    auth = (server.user, server.password if password is None else password)
    return neo4j.GraphDatabase.driver(server.uri, auth=auth)


def test_runs_a_query(neo4j_server: Neo4jServer) -> None:
    with _driver(neo4j_server) as driver:
        records, _, _ = driver.execute_query("RETURN 1 AS one")
    assert records[0]["one"] == 1


def test_version(neo4j_server: Neo4jServer) -> None:
    assert neo4j_server.version
    if neo4j_server.how == "local-maven":
        assert neo4j_server.version.startswith("5.26")


def test_wrong_password_is_refused(neo4j_server: Neo4jServer) -> None:
    with (
        _driver(neo4j_server, password=neo4j_server.password + "-wrong") as driver,
        pytest.raises(neo4j.exceptions.AuthError),
    ):
        driver.verify_connectivity()


def test_restart_keeps_data(neo4j_server: Neo4jServer) -> None:
    # The launcher's restart is what the API's outage test relies on. When the session's
    # server came from elsewhere (NEO4J_URI, Docker), the launcher is tested on one of its own
    # rather than skipped: it needs Java 17 and Maven, like the default path of `make test`.
    with contextlib.ExitStack() as stack:
        local = neo4j_server.local
        if local is None:
            local = stack.enter_context(LocalNeo4j())
            neo4j_server = local.server()
        _restart_keeps_data(neo4j_server, local)


def _restart_keeps_data(neo4j_server: Neo4jServer, local: LocalNeo4j) -> None:
    marker = str(uuid.uuid4())
    with _driver(neo4j_server) as driver:
        driver.execute_query("CREATE (:RestartProbe {id: $id})", id=marker)

    local.restart()
    assert (local.uri, local.password) == (neo4j_server.uri, neo4j_server.password)

    with _driver(neo4j_server) as driver:
        records, _, _ = driver.execute_query(
            "MATCH (n:RestartProbe {id: $id}) RETURN count(n) AS n", id=marker
        )
        driver.execute_query("MATCH (n:RestartProbe {id: $id}) DELETE n", id=marker)
    assert records[0]["n"] == 1
