// name: reach_genealogy_down
// mode: read
// params: seeds: list[str]
// returns: keys: list[str] — one row: the distinct nodes reachable downstream over genealogy edges in 1..MAX_HOPS hops
// as_of: derived
// as_of returns: keys: list[str] — one row: the distinct nodes reachable downstream over genealogy edges that existed at as_of, in 1..MAX_HOPS hops
// Distinct end nodes over a bounded pattern: the planner expands breadth-first and visits each
// node once (no path enumeration). The bound is model.MAX_HOPS, shared by both stores. One list, not a row per key: each row costs the
// driver ~17 µs, more than the walk. The subquery pins the expand to start at s: flat, the planner once chose a scan of x and an
// expand-into, which enumerates paths.
// Distinct on the node first, then each key is read once (collect(DISTINCT x.key) read it twice: 1.34x the floor's db hits, now 1.17x).
// As of: the time filter on the relationships is planned inside the expand, which stays
// VarLengthExpand(Pruning,BFS) (a test checks the plan). The twin labels x :Node, as its own
// file did when its plan was checked.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
/*as_of: WHERE s._c <= $as_of*/
CALL (s) {
  MATCH (s)-[/*as_of: rs*/:{{GENEALOGY}}*1..{{MAX_HOPS}}]->(x/*as_of: :Node*/)
  /*as_of: WHERE all(r IN rs WHERE r._c <= $as_of)*/
  RETURN DISTINCT x
}
WITH DISTINCT x
RETURN collect(x.key) AS keys
