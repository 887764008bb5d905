// name: reach_each_genealogy_up_as_of
// mode: read
// params: seeds: list[str], prefix: str, as_of: datetime
// returns: seed: str, keys: list[str] — each seed's own upstream closure over genealogy edges that existed at as_of (of those, the keys that start with prefix: '' for all)
// One breadth-first, pruning expand per seed (a subquery per row), in one round trip.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
WHERE s._c <= $as_of
CALL (s) {
  MATCH (s)<-[rs:SUPPLIED|HAS_LOT|CONSUMED_IN|PRODUCED|INSTALLED_IN|PROCESSED|FOLLOWED|IMPLEMENTED_IN|SHIPPED_IN|DELIVERED_TO|HAS_SERVICE|HAS_COMPLAINT*1..100]-(x:Node)
  WHERE all(r IN rs WHERE r._c <= $as_of)
  RETURN [k IN collect(DISTINCT x.key) WHERE k STARTS WITH $prefix] AS keys
}
RETURN seed, keys
