// name: count_reach_genealogy_down_as_of
// mode: read
// params: seeds: list[str], prefix: str ("Type:"), as_of: datetime
// returns: seed: str, n: int — how many distinct nodes of one type each seed reaches downstream over genealogy edges that existed at as_of
// The type is filtered after the expand (by key prefix), so the expand stays a pruning BFS.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
WHERE s._c <= $as_of
CALL (s) {
  MATCH (s)-[rs:SUPPLIED|HAS_LOT|CONSUMED_IN|PRODUCED|INSTALLED_IN|PROCESSED|FOLLOWED|IMPLEMENTED_IN|SHIPPED_IN|DELIVERED_TO|HAS_SERVICE|HAS_COMPLAINT*1..100]->(x:Node)
  WHERE all(r IN rs WHERE r._c <= $as_of)
  WITH DISTINCT x
  WHERE x.key STARTS WITH $prefix
  RETURN count(x) AS n
}
RETURN seed, n
