// name: making_batch_ids
// mode: read
// params: seeds: list[str]
// returns: rows: list[[str, list[int]]] — per seed in the store, its key and the internal ids of the batches it makes: itself if a batch, and every batch its closure over the making edges reaches
// as_of: derived
// as_of returns: rows: list[[str, list[int]]] — making_batch_ids over the nodes and making edges that existed at as_of
// The making half of common cause's exposures, with integers on the wire: the batches of
// every candidate (a lot reaches ~20, a supplier thousands) are ~760k entries for 33k
// candidates at 100k devices, as keys 0.5 s of the client's time in the driver. The ids are
// only handed back, within the same analysis, to output_groups, and never kept. One
// list, not a record per seed (a record costs the driver ~17 µs).
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
USING INDEX s:Node(key)
/*as_of: WHERE s._c <= $as_of*/
CALL (s) {
  MATCH (s)-[/*as_of: rs*/:{{MAKING}}*1..{{MAX_HOPS}}]->(x:Batch)
  /*as_of: WHERE all(r IN rs WHERE r._c <= $as_of)*/
  WITH DISTINCT x
  RETURN collect(id(x)) AS ids
}
WITH seed, CASE WHEN s:Batch AND NOT id(s) IN ids THEN ids + id(s) ELSE ids END AS ids
RETURN collect([seed, ids]) AS rows
