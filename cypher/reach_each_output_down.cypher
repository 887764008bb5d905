// name: reach_each_output_down
// mode: read
// params: seeds: list[str], prefix: str
// returns: seed: str, keys: list[str] — each seed's own downstream closure over the output edges (devices produced, devices installed into devices) (of those, the keys that start with prefix: '' for all)
// as_of: derived
// as_of returns: seed: str, keys: list[str] — each seed's own downstream closure over the output edges that existed at as_of (of those, the keys that start with prefix: '' for all)
// One breadth-first, pruning expand per seed (a subquery per row), in one round trip: from a
// batch, the devices it made, without the batches it is consumed into and the shipments,
// customers, service events and complaints after them (the other half of a common-cause
// exposure).
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
/*as_of: WHERE s._c <= $as_of*/
CALL (s) {
  MATCH (s)-[/*as_of: rs*/:{{OUTPUT}}*1..{{MAX_HOPS}}]->(x:Node)
  /*as_of: WHERE all(r IN rs WHERE r._c <= $as_of)*/
  RETURN [k IN collect(DISTINCT x.key) WHERE k STARTS WITH $prefix] AS keys
}
RETURN seed, keys
