// name: output_each_as_of
// mode: read
// params: seeds: list[str], as_of: datetime
// returns: seed: str, sole: int, shared: list[str] — output_each over the nodes and output edges that existed at as_of
// As output_each, with the ways into a device counted among the edges that existed then.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
WHERE s._c <= $as_of
CALL (s) {
  MATCH (s)-[rs:PRODUCED|INSTALLED_IN*1..100]->(x:Node)
  WHERE all(r IN rs WHERE r._c <= $as_of)
  WITH DISTINCT x
  WITH x, COUNT { (x)<-[r:PRODUCED]-() WHERE r._c <= $as_of } = 1 AND COUNT { (x)<-[r:INSTALLED_IN]-() WHERE r._c <= $as_of } = 0 AS sole
  RETURN count(CASE WHEN sole THEN 1 END) AS sole, collect(CASE WHEN NOT sole THEN x.key END) AS shared
}
RETURN seed, sole, shared
