// name: reach_each_genealogy_up
// mode: read
// params: seeds: list[str], prefix: str
// returns: seed: str, keys: list[str] — each seed's own upstream closure over genealogy edges (of those, the keys that start with prefix: '' for all)
// as_of: derived
// as_of returns: seed: str, keys: list[str] — each seed's own upstream closure over genealogy edges that existed at as_of (of those, the keys that start with prefix: '' for all)
// One breadth-first, pruning expand per seed (a subquery per row), in one round trip.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
/*as_of: WHERE s._c <= $as_of*/
CALL (s) {
  MATCH (s)<-[/*as_of: rs*/:{{GENEALOGY}}*1..{{MAX_HOPS}}]-(x:Node)
  /*as_of: WHERE all(r IN rs WHERE r._c <= $as_of)*/
  RETURN [k IN collect(DISTINCT x.key) WHERE k STARTS WITH $prefix] AS keys
}
RETURN seed, keys
