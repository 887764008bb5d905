"""Every named Cypher file loads, matches the model, and is accepted by the real server."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tracegraph import queries
from tracegraph.model import GENEALOGY, EntityType, RelType
from tracegraph.store.neo4j import Neo4jStore

ALL = sorted(queries.load_all())


def test_loader_rejects_bad_headers() -> None:
    good = "// name: q\n// mode: read\n// params: a: int\n// returns: x\nRETURN $a AS x"
    assert queries.parse("q.cypher", good).params == ("a",)
    with pytest.raises(queries.QueryFileError, match="differs from the file name"):
        queries.parse("other.cypher", good)
    with pytest.raises(queries.QueryFileError, match="parameters used"):
        queries.parse("q.cypher", good.replace("$a", "$b"))
    with pytest.raises(queries.QueryFileError, match="header lacks mode"):
        queries.parse("q.cypher", good.replace("// mode: read\n", ""))


def test_no_query_formats_values_into_its_text() -> None:
    for name in ALL:
        text = queries.get(name).text
        assert "{}" not in text, name
        assert "%s" not in text, name
        assert not re.search(r"'[^']*'\s*\+", text), f"{name}: string concatenation"


@pytest.mark.parametrize("direction", ["down", "up"])
def test_genealogy_closure_walks_exactly_the_genealogy_family(direction: str) -> None:
    text = queries.get(f"reach_genealogy_{direction}").text
    types = set(re.search(r"\[:([A-Z_|]+)\*1\.\.(\d+)\]", text).group(1).split("|"))  # type: ignore[union-attr]
    assert types == {str(t) for t in GENEALOGY}


def test_schema_constrains_every_entity_type() -> None:
    text = queries.get("schema").text
    for t in EntityType:
        assert f"FOR (n:{t}) REQUIRE n.id IS UNIQUE" in text, t
    assert "FOR (n:Node) REQUIRE n.key IS UNIQUE" in text


@pytest.mark.neo4j
@pytest.mark.parametrize("name", ALL)
def test_every_query_is_explained_by_the_server(neo4j_store: Neo4jStore, name: str) -> None:
    query = queries.get(name)
    statements = [s for s in query.text.split(";") if s.strip()]
    if query.mode == "schema":
        # DDL cannot be EXPLAINed; it already ran when the store opened. Check it took.
        records, _, _ = neo4j_store.driver.execute_query("SHOW CONSTRAINTS YIELD name")
        names = {r["name"] for r in records}
        assert {f"{t.lower()}_id" for t in EntityType} <= names
        return
    params = {p: None for p in query.params}
    for statement in statements:
        result = neo4j_store.driver.execute_query("EXPLAIN " + statement, params)
        assert result.summary.plan is not None, name


@pytest.mark.neo4j
@pytest.mark.parametrize("direction", ["down", "up"])
def test_closure_is_planned_as_a_pruning_breadth_first_expand(
    neo4j_store: Neo4jStore, direction: str
) -> None:
    result = neo4j_store.driver.execute_query(
        "EXPLAIN " + queries.get(f"reach_genealogy_{direction}").text, {"seeds": ["x"]}
    )

    def operators(plan: dict[str, Any]) -> list[str]:
        found = [str(plan["operatorType"])]
        for child in plan.get("children", []):
            found += operators(child)
        return found

    assert result.summary.plan is not None
    ops = operators(result.summary.plan)
    assert any(op.startswith("VarLengthExpand(Pruning,BFS") for op in ops), ops


def test_every_relationship_type_is_known_to_some_query_or_dynamic() -> None:
    # Writes take the type as a parameter ($(r.type)); the model's types are the only ones used.
    texts = "\n".join(queries.get(n).text for n in ALL)
    for match in re.findall(r"\[[a-z]*:([A-Z_|]+)[\*\]]", texts):
        assert set(match.split("|")) <= {str(r) for r in RelType}, match


def test_every_lookup_by_key_is_pinned_to_the_unique_index() -> None:
    # After a bulk load the planner once chose an index *scan* per key (millions of rows for a
    # few thousand keys); the hint makes every lookup a seek.
    for name in ALL:
        lines = queries.get(name).text.splitlines()
        for i, line in enumerate(lines):
            found = re.match(r"^MATCH \((\w):Node \{key: [\w.]+\}\)", line)
            if found:
                assert lines[i + 1] == f"USING INDEX {found.group(1)}:Node(key)", name


@pytest.mark.neo4j
def test_hinted_lookups_plan_as_unique_index_seeks(neo4j_store: Neo4jStore) -> None:
    # Planned afresh: a plan cached while another test had dropped the schema (the benchmark
    # smoke test resets the shared server) would say nothing about the hint.
    plan = neo4j_store.driver.execute_query(
        "EXPLAIN CYPHER replan=force " + queries.get("hop_up").text,
        {"keys": ["x"], "types": ["PRODUCED"]},
    ).summary.plan
    assert plan is not None

    def operators(node: dict[str, Any]) -> list[str]:
        return [node["operatorType"], *(o for c in node.get("children", []) for o in operators(c))]

    assert any(o.startswith("NodeUniqueIndexSeek") for o in operators(plan)), operators(plan)
