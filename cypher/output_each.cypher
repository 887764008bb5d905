// name: output_each
// mode: read
// params: seeds: list[str]
// returns: seed: str, sole: int, shared: list[str] — per batch, of the devices it reaches over the output edges: how many have no other way in than one PRODUCED edge (from this batch: no other batch reaches them), and the keys of the rest
// The exposure half of common cause, counted where the devices are: a batch's devices are read
// once (one pruning expand per seed, as in reach_each_output_down) and, of the million keys that
// query ships at 1M devices, only the few reached some other way cross the wire. The two
// COUNT subqueries are degree lookups.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
CALL (s) {
  MATCH (s)-[:PRODUCED|INSTALLED_IN*1..100]->(x:Node)
  WITH DISTINCT x
  WITH x, COUNT { (x)<-[:PRODUCED]-() } = 1 AND COUNT { (x)<-[:INSTALLED_IN]-() } = 0 AS sole
  RETURN count(CASE WHEN sole THEN 1 END) AS sole, collect(CASE WHEN NOT sole THEN x.key END) AS shared
}
RETURN seed, sole, shared
