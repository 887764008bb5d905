// name: reach_each_genealogy_up
// mode: read
// params: seeds: list[str], prefix: str
// returns: seed: str, keys: list[str] — each seed's own upstream closure over genealogy edges (of those, the keys that start with prefix: '' for all)
// One breadth-first, pruning expand per seed (a subquery per row), in one round trip.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
CALL (s) {
  MATCH (s)<-[:SUPPLIED|HAS_LOT|CONSUMED_IN|PRODUCED|INSTALLED_IN|PROCESSED|FOLLOWED|IMPLEMENTED_IN|SHIPPED_IN|DELIVERED_TO|HAS_SERVICE|HAS_COMPLAINT*1..100]-(x:Node)
  RETURN [k IN collect(DISTINCT x.key) WHERE k STARTS WITH $prefix] AS keys
}
RETURN seed, keys
