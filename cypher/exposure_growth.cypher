// name: exposure_growth
// mode: read
// params: devices: list[str], installed: list[str]
// returns: rows: list[[str, int, int]] — per node upstream of these devices the way common cause counts an exposure (batches within MAX_HOPS output edges of a device, then those batches and every node within MAX_HOPS making edges above them): its key, how many of the devices it reaches, and how many of those are among installed
// What a write of new devices adds to the exposures common cause counted before it (the
// writes this store object made, `Neo4jStore.exposure_growth`): the devices are new, so no
// candidate reached them before, and each one a candidate reaches now adds one. A bounded walk
// up from each device to its batches, the devices grouped by those batches (a day's production
// is a few batches of many devices), then one bounded walk up from each group's batches: both
// to distinct nodes (no path is enumerated), and a device's candidates are counted once.
UNWIND $devices AS k
MATCH (d:Node {key: k})
USING INDEX d:Node(key)
CALL (d) {
  MATCH (d)<-[:{{OUTPUT}}*1..{{MAX_HOPS}}]-(b:Batch)
  RETURN collect(DISTINCT b) AS batches
}
WITH batches, count(d) AS n, count(CASE WHEN d.key IN $installed THEN 1 END) AS inside
CALL (batches) {
  UNWIND batches AS b
  CALL (b) {
    RETURN b AS c
    UNION
    MATCH (b)<-[:{{MAKING}}*1..{{MAX_HOPS}}]-(c:Node)
    RETURN c
  }
  RETURN collect(DISTINCT c) AS makers
}
UNWIND makers AS c
WITH c, sum(n) AS n, sum(inside) AS inside
RETURN collect([c.key, n, inside]) AS rows
