// name: output_groups
// mode: read
// params: ids: list[int], installed: bool
// returns: sole: list[[int, int, int]], groups: list[[list[int], int]], installed_groups: list[[list[int], int]] — for the batches of these internal ids (numbered by their place in the list), of the devices each reaches over the output edges: per batch, how many have no other way in than one PRODUCED edge (no other batch reaches them) and how many of those are installed in another device (an INSTALLED_IN edge out; 0 unless installed is true), and the others grouped by the set of batches (numbers) that reach them, with the size of each group; installed_groups the same of those installed in another (empty unless installed is true)
// as_of: derived
// as_of returns: sole: list[[int, int, int]], groups: list[[list[int], int]], installed_groups: list[[list[int], int]] — output_groups over the output edges that existed at as_of
// The exposure half of common cause, counted where the devices are. Each batch's devices are
// read once (one pruning expand per batch), and the devices reached another way (a monitor and
// the module installed in it: a third of them at 100k devices) are grouped here by the
// batches that reach them, so that a few thousand groups cross the wire, not their keys.
// The COUNT and EXISTS subqueries are degree lookups, the last only asked with $installed
// (the units of the dashboard's ranking are the devices not installed in another).
UNWIND range(0, size($ids) - 1) AS i
MATCH (b:Batch)
WHERE id(b) = $ids[i]
CALL (b) {
  MATCH (b)-[/*as_of: rs*/:{{OUTPUT}}*1..{{MAX_HOPS}}]->(x:Node)
  /*as_of: WHERE all(r IN rs WHERE r._c <= $as_of)*/
  WITH DISTINCT x
  WITH x, COUNT { (x)<-[/*as_of: r*/:PRODUCED]-() /*as_of: WHERE r._c <= $as_of */} = 1 AND COUNT { (x)<-[/*as_of: r*/:INSTALLED_IN]-() /*as_of: WHERE r._c <= $as_of */} = 0 AS sole,
       CASE WHEN $installed THEN EXISTS { (x)-[/*as_of: r*/:INSTALLED_IN]->() /*as_of: WHERE r._c <= $as_of */} ELSE false END AS inst
  RETURN count(CASE WHEN sole THEN 1 END) AS sole, count(CASE WHEN sole AND inst THEN 1 END) AS sole_installed, collect(CASE WHEN NOT sole THEN x END) AS shared, collect(CASE WHEN NOT sole AND inst THEN x END) AS shared_installed
}
WITH collect([i, sole, sole_installed]) AS sole, collect([i, shared]) AS rows, collect([i, shared_installed]) AS installed_rows
CALL (rows) {
  UNWIND rows AS row
  UNWIND row[1] AS x
  WITH x, collect(row[0]) AS batches
  WITH batches, count(*) AS devices
  RETURN collect([batches, devices]) AS groups
}
CALL (installed_rows) {
  UNWIND installed_rows AS row
  UNWIND row[1] AS x
  WITH x, collect(row[0]) AS batches
  WITH batches, count(*) AS devices
  RETURN collect([batches, devices]) AS installed_groups
}
RETURN sole, groups, installed_groups
