// name: reach_genealogy_down
// mode: read
// params: seeds: list[str]
// returns: key: str — distinct nodes reachable downstream over genealogy edges in 1..100 hops
// Distinct end nodes over a bounded pattern: the planner expands breadth-first and visits each
// node once (no path enumeration). The bound is model.MAX_HOPS, shared by both stores. The
// subquery pins the expand to start at s: flat, the planner once chose a scan of x and an
// expand-into, which enumerates paths.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
CALL (s) {
  MATCH (s)-[:SUPPLIED|HAS_LOT|CONSUMED_IN|PRODUCED|INSTALLED_IN|PROCESSED|FOLLOWED|IMPLEMENTED_IN|SHIPPED_IN|DELIVERED_TO|HAS_SERVICE|HAS_COMPLAINT*1..100]->(x)
  RETURN DISTINCT x
}
RETURN DISTINCT x.key AS key
