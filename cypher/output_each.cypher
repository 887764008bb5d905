// name: output_each
// mode: read
// params: seeds: list[str]
// returns: seed: str, sole: int, shared: list[str] — per batch, of the devices it reaches over the output edges: how many have no other way in than one PRODUCED edge (from this batch: no other batch reaches them), and the keys of the rest
// as_of: derived
// as_of returns: seed: str, sole: int, shared: list[str] — output_each over the nodes and output edges that existed at as_of
// The exposure half of common cause, counted where the devices are: a batch's devices are read
// once (one pruning expand per seed, as in reach_each_output_down) and, of the million keys that
// query ships at 1M devices, only the few reached some other way cross the wire. The two
// COUNT subqueries are degree lookups. As of: the ways into a device are counted among the edges
// that existed then.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
/*as_of: WHERE s._c <= $as_of*/
CALL (s) {
  MATCH (s)-[/*as_of: rs*/:{{OUTPUT}}*1..{{MAX_HOPS}}]->(x:Node)
  /*as_of: WHERE all(r IN rs WHERE r._c <= $as_of)*/
  WITH DISTINCT x
  WITH x, COUNT { (x)<-[/*as_of: r*/:PRODUCED]-() /*as_of: WHERE r._c <= $as_of */} = 1 AND COUNT { (x)<-[/*as_of: r*/:INSTALLED_IN]-() /*as_of: WHERE r._c <= $as_of */} = 0 AS sole
  RETURN count(CASE WHEN sole THEN 1 END) AS sole, collect(CASE WHEN NOT sole THEN x.key END) AS shared
}
RETURN seed, sole, shared
