"""Every named Cypher file loads, matches the model, and is accepted by the real server."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import pytest

from tracegraph import queries
from tracegraph.model import (
    DESIGN,
    EVIDENCE,
    EXPOSURE,
    GENEALOGY,
    MAKING,
    MAX_HOPS,
    OUTPUT,
    EntityType,
    RelType,
)
from tracegraph.store.neo4j import Neo4jStore

ALL = sorted(queries.load_all())
SOURCES = {
    entry.name: entry.read_text(encoding="utf-8")
    for entry in resources.files("cypher").iterdir()
    if entry.name.endswith(".cypher")
}


def test_loader_rejects_bad_headers() -> None:
    good = "// name: q\n// mode: read\n// params: a: int\n// returns: x\nRETURN $a AS x"
    assert queries.parse("q.cypher", good).params == ("a",)
    with pytest.raises(queries.QueryFileError, match="differs from the file name"):
        queries.parse("other.cypher", good)
    with pytest.raises(queries.QueryFileError, match="parameters used"):
        queries.parse("q.cypher", good.replace("$a", "$b"))
    with pytest.raises(queries.QueryFileError, match="header lacks mode"):
        queries.parse("q.cypher", good.replace("// mode: read\n", ""))


DERIVED = """\
// name: q
// mode: read
// params: keys: list[str]
// returns: key: str
// as_of: derived
// as_of returns: key: str — as of
UNWIND $keys AS k
MATCH (n:Node {key: k})-[/*as_of: rs*/:{{OUTPUT}}*1..{{MAX_HOPS}}]->(m)
  /*as_of: WHERE all(r IN rs WHERE r._c <= $as_of)*/
WHERE n.key <> '' /*as_of: AND n._c <= $as_of*/
RETURN n.key AS key"""


def test_as_of_fragments_are_dropped_from_the_base_and_unwrapped_in_its_twin() -> None:
    base, twin = queries.parse_file("q.cypher", DERIVED)
    hops = f"*1..{MAX_HOPS}"
    assert base == queries.parse("q.cypher", DERIVED)
    assert (base.name, base.params, base.returns) == ("q", ("keys",), "key: str")
    assert base.text == (
        "UNWIND $keys AS k\n"
        f"MATCH (n:Node {{key: k}})-[:PRODUCED|INSTALLED_IN{hops}]->(m)\n"
        "WHERE n.key <> ''\n"
        "RETURN n.key AS key"
    )
    assert (twin.name, twin.mode, twin.params) == ("q_as_of", "read", ("keys", "as_of"))
    assert twin.returns == "key: str — as of"
    assert twin.text == (
        "UNWIND $keys AS k\n"
        f"MATCH (n:Node {{key: k}})-[rs:PRODUCED|INSTALLED_IN{hops}]->(m)\n"
        "  WHERE all(r IN rs WHERE r._c <= $as_of)\n"
        "WHERE n.key <> '' AND n._c <= $as_of\n"
        "RETURN n.key AS key"
    )
    # Without an `as_of returns:` line the twin returns what its base does.
    _, plain = queries.parse_file(
        "q.cypher", DERIVED.replace("// as_of returns: key: str — as of\n", "")
    )
    assert plain.returns == "key: str"


def test_placeholders_expand_from_the_model() -> None:
    def text(placeholder: str) -> str:
        header = "// name: q\n// mode: read\n// params: none\n// returns: x\n"
        source = header + "RETURN '{{" + placeholder + "}}' AS x"
        return queries.parse("q.cypher", source).text

    for name, types in [
        ("GENEALOGY", GENEALOGY),
        ("DESIGN", DESIGN),
        ("EVIDENCE", EVIDENCE),
        ("MAKING", MAKING),
        ("OUTPUT", OUTPUT),
    ]:
        assert text(name) == f"RETURN '{'|'.join(types)}' AS x"
    assert text("MAX_HOPS") == f"RETURN '{MAX_HOPS}' AS x"
    with pytest.raises(
        queries.QueryFileError, match=re.escape("unknown placeholder '{{GENEALOGIES}}'")
    ):
        text("GENEALOGIES")
    with pytest.raises(queries.QueryFileError, match="malformed placeholder"):
        text("MAX-HOPS")


def test_loader_rejects_a_bad_derivation() -> None:
    twin_file = (
        "// name: q_as_of\n// mode: read\n// params: keys: list[str], as_of: datetime\n"
        "// returns: key: str\nUNWIND $keys AS k WITH k WHERE $as_of IS NOT NULL RETURN k AS key"
    )
    with pytest.raises(queries.QueryFileError, match="duplicate query name 'q_as_of'"):
        queries.build([("q.cypher", DERIVED), ("q_as_of.cypher", twin_file)])
    with pytest.raises(queries.QueryFileError, match="duplicate query name 'q_as_of'"):
        queries.build([("q_as_of.cypher", twin_file), ("q.cypher", DERIVED)])
    assert set(queries.build([("q.cypher", DERIVED)])) == {"q", "q_as_of"}
    no_header = DERIVED.replace("// as_of: derived\n// as_of returns: key: str — as of\n", "")
    with pytest.raises(queries.QueryFileError, match="fragments without"):
        queries.parse("q.cypher", no_header)
    with pytest.raises(queries.QueryFileError, match="must end with"):
        queries.parse_file("q.cypher", DERIVED.replace("$as_of)*/", "$as_of)"))
    with pytest.raises(queries.QueryFileError, match=r"as_of twin\).*parameters used"):
        queries.parse_file("q.cypher", DERIVED.replace("$as_of", "$then"))
    with pytest.raises(queries.QueryFileError, match="only a read"):
        queries.parse_file("q.cypher", DERIVED.replace("mode: read", "mode: write"))


def test_no_query_formats_values_into_its_text() -> None:
    for name in ALL:
        text = queries.get(name).text
        assert "{}" not in text, name
        assert "%s" not in text, name
        assert not re.search(r"'[^']*'\s*\+", text), f"{name}: string concatenation"


@pytest.mark.parametrize("direction", ["down", "up"])
def test_genealogy_closure_walks_exactly_the_genealogy_family(direction: str) -> None:
    for name in (f"reach_genealogy_{direction}", f"reach_genealogy_{direction}_as_of"):
        text = queries.get(name).text
        found = re.search(r"\[\w*:([A-Z_|]+)\*1\.\.(\d+)\]", text)
        assert found, name
        assert set(found.group(1).split("|")) == {str(t) for t in GENEALOGY}, name
        assert int(found.group(2)) == MAX_HOPS, name


def test_no_file_spells_out_a_model_list_or_the_hop_bound() -> None:
    # Lists of types and the bound of a variable-length pattern come from the model through
    # placeholders; a hand-typed copy would drift from it.
    for filename, source in SOURCES.items():
        cypher = [line for line in source.splitlines() if not line.lstrip().startswith("//")]
        for line in cypher:
            assert not re.search(r"[A-Z_]+\|[A-Z_]+", line), f"{filename}: {line}"
            assert not re.search(r"\*\d*\.\.\d", line), f"{filename}: {line}"


def test_every_variable_length_pattern_is_bounded_by_max_hops() -> None:
    families = {frozenset(str(t) for t in f) for f in (GENEALOGY, DESIGN, EVIDENCE, MAKING, OUTPUT)}
    seen = 0
    for name in ALL:
        for types, low, high in re.findall(
            r"\[\w*:([A-Z_|]+)\*(\d*)\.\.(\d*)\]", queries.get(name).text
        ):
            seen += 1
            assert (low, high) == ("1", str(MAX_HOPS)), name
            named = frozenset(types.split("|"))
            assert len(named) == 1 or named in families, f"{name}: {types}"
    assert seen >= 2 * 9, seen


#: As-of twins written as files of their own, where the difference is more than a few
#: `/*as_of: …*/` fragments (none today); every other twin is derived from its base file.
FILE_TWINS: frozenset[str] = frozenset()


def test_every_as_of_twin_is_its_base_plus_as_of() -> None:
    twins = [n for n in ALL if n.endswith("_as_of")]
    assert len(twins) >= 19
    for name in twins:
        base, twin = queries.get(name.removesuffix("_as_of")), queries.get(name)
        assert (twin.mode, twin.params) == ("read", (*base.params, "as_of")), name
        assert (f"{name}.cypher" in SOURCES) == (name in FILE_TWINS), name


def test_schema_keys_every_node_once() -> None:
    # The unique key ("Type:id") makes each type's id unique; a constraint per type on `id`
    # would only make every write maintain a second unique index.
    text = queries.get("schema").text
    assert "FOR (n:Node) REQUIRE n.key IS UNIQUE" in text
    for t in EntityType:
        assert f"FOR (n:{t}) REQUIRE n.id IS UNIQUE" not in text, t


@pytest.mark.neo4j
@pytest.mark.parametrize("name", ALL)
def test_every_query_is_explained_by_the_server(neo4j_store: Neo4jStore, name: str) -> None:
    query = queries.get(name)
    statements = [s for s in query.text.split(";") if s.strip()]
    if query.mode == "schema":
        # DDL cannot be EXPLAINed; it already ran when the store opened. Check it took.
        records, _, _ = neo4j_store.driver.execute_query("SHOW CONSTRAINTS YIELD name")
        names = {r["name"] for r in records}
        assert {"node_key", "audit_seq"} <= names
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


def test_the_exposure_stamp_counts_every_type_an_exposure_is_counted_over() -> None:
    # One type a pattern, so it is typed out: a type added to the model's list and not here
    # would leave exposures remembered across the writes that change them.
    text = queries.get("exposure_stamp").text
    assert re.findall(r"MATCH \(\)-\[r:([A-Z_]+)\]->\(\)", text) == [str(t) for t in EXPOSURE]


@pytest.mark.neo4j
def test_the_exposure_stamp_is_read_from_count_stores(neo4j_store: Neo4jStore) -> None:
    # Asked before every common-cause analysis: it must not scan the relationships.
    plan = neo4j_store.driver.execute_query(
        "EXPLAIN CYPHER replan=force " + queries.get("exposure_stamp").text
    ).summary.plan
    assert plan is not None

    def operators(node: dict[str, Any]) -> list[str]:
        return [node["operatorType"], *(o for c in node.get("children", []) for o in operators(c))]

    ops = operators(plan)
    counted = [o for o in ops if o.startswith("RelationshipCountFromCountStore")]
    assert len(counted) == len(EXPOSURE), ops
    assert not [o for o in ops if "Scan" in o or "Expand" in o], ops
