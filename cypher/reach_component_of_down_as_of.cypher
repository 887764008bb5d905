// name: reach_component_of_down_as_of
// mode: read
// params: seeds: list[str], as_of: datetime
// returns: keys: list[str] — one row: the distinct nodes reachable downstream over COMPONENT_OF edges (where-used) that existed at as_of, in 1..100 hops
// The time filter on the relationships is planned inside the expand, which stays
// VarLengthExpand(Pruning,BFS) (a test checks the plan). The expand sits in a subquery that
// only knows s: with the filter on s, a flat MATCH let the planner on a small store pick a
// label scan of x and an expand Into, which enumerates paths.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
WHERE s._c <= $as_of
CALL (s) {
  MATCH (s)-[rs:COMPONENT_OF*1..100]->(x:Node)
  WHERE all(r IN rs WHERE r._c <= $as_of)
  RETURN DISTINCT x
}
WITH DISTINCT x
RETURN collect(x.key) AS keys
