// name: reach_each_making_down
// mode: read
// params: seeds: list[str], prefix: str
// returns: seed: str, keys: list[str] — each seed's own downstream closure over the making edges (genealogy up to the batches, no PRODUCED) (of those, the keys that start with prefix: '' for all)
// as_of: derived
// as_of returns: seed: str, keys: list[str] — each seed's own downstream closure over the making edges that existed at as_of (of those, the keys that start with prefix: '' for all)
// One breadth-first, pruning expand per seed (a subquery per row), in one round trip: lots and
// batches are a few per cent of the nodes, so this is the cheap half of a common-cause exposure.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
/*as_of: WHERE s._c <= $as_of*/
CALL (s) {
  MATCH (s)-[/*as_of: rs*/:{{MAKING}}*1..{{MAX_HOPS}}]->(x:Node)
  /*as_of: WHERE all(r IN rs WHERE r._c <= $as_of)*/
  RETURN [k IN collect(DISTINCT x.key) WHERE k STARTS WITH $prefix] AS keys
}
RETURN seed, keys
