// name: reach_component_of_down
// mode: read
// params: seeds: list[str]
// returns: keys: list[str] — one row: the distinct nodes reachable downstream over COMPONENT_OF (where-used) in 1..100 hops
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
CALL (s) {
  MATCH (s)-[:COMPONENT_OF*1..100]->(x)
  RETURN DISTINCT x
}
WITH DISTINCT x
RETURN collect(x.key) AS keys
