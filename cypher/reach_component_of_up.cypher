// name: reach_component_of_up
// mode: read
// params: seeds: list[str]
// returns: keys: list[str] — one row: the distinct nodes reachable upstream over COMPONENT_OF (where-used) in 1..MAX_HOPS hops
// as_of: derived
// as_of returns: keys: list[str] — one row: the distinct nodes reachable upstream over COMPONENT_OF edges (where-used) that existed at as_of, in 1..MAX_HOPS hops
// As of: the time filter on the relationships is planned inside the expand, which stays
// VarLengthExpand(Pruning,BFS) (a test checks the plan). The expand sits in a subquery that
// only knows s: with the filter on s, a flat MATCH let the planner on a small store pick a
// label scan of x and an expand Into, which enumerates paths. The twin labels x :Node, as its
// own file did when its plan was checked.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
/*as_of: WHERE s._c <= $as_of*/
CALL (s) {
  MATCH (s)<-[/*as_of: rs*/:COMPONENT_OF*1..{{MAX_HOPS}}]-(x/*as_of: :Node*/)
  /*as_of: WHERE all(r IN rs WHERE r._c <= $as_of)*/
  RETURN DISTINCT x
}
WITH DISTINCT x
RETURN collect(x.key) AS keys
