// name: scope_rows
// mode: read
// params: keys: list[str]
// returns: rows: list[[key, names, values, types, ends, batch]] — one row: per node its field names and their values (instants and dates as ISO 8601 text, bookkeeping, key and id left out), the genealogy edges leaving it as their types and end keys, and for a device the smallest key of a batch that PRODUCED it (else null)
// What a recall answer needs of each node of its closure, in one read a chunk of keys: the
// fields, the edges for the reasons, the batch of a device. Three reads of the same keys cost three
// index seeks a key and three round trips, and the history of a node (_h) stays on the server. Names and
// values as two lists, the edges as two more: every list or pair costs the driver an object.
UNWIND $keys AS k
MATCH (n:Node {key: k})
USING INDEX n:Node(key)
CALL (n) {
  OPTIONAL MATCH (n)-[r:{{GENEALOGY}}]->(m:Node)
  RETURN collect(type(r)) AS types, collect(m.key) AS ends
}
CALL (n) {
  OPTIONAL MATCH (b:Node)-[:PRODUCED]->(n:Device)
  RETURN min(b.key) AS batch
}
WITH n, types, ends, batch, properties(n) AS props
WITH n, types, ends, batch, props, [p IN keys(props) WHERE NOT p STARTS WITH '_' AND p <> 'key' AND p <> 'id'] AS names
RETURN collect([
  n.key,
  names,
  [p IN names | CASE WHEN props[p] IS :: ZONED DATETIME OR props[p] IS :: DATE THEN toString(props[p]) ELSE props[p] END],
  types,
  ends,
  batch
]) AS rows
