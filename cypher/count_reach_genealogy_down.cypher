// name: count_reach_genealogy_down
// mode: read
// params: seeds: list[str], prefix: str ("Type:")
// returns: seed: str, n: int — how many distinct nodes of one type each seed reaches downstream
// as_of: derived
// as_of returns: seed: str, n: int — how many distinct nodes of one type each seed reaches downstream over genealogy edges that existed at as_of
// The type is filtered after the expand (by key prefix), so the expand stays a pruning BFS.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
/*as_of: WHERE s._c <= $as_of*/
CALL (s) {
  MATCH (s)-[/*as_of: rs*/:{{GENEALOGY}}*1..{{MAX_HOPS}}]->(x:Node)
  /*as_of: WHERE all(r IN rs WHERE r._c <= $as_of)*/
  WITH DISTINCT x
  WHERE x.key STARTS WITH $prefix
  RETURN count(x) AS n
}
RETURN seed, n
