// name: node_fields
// mode: read
// params: keys: list[str], names: list[str]
// returns: rows: list[[str, list]] — per key of a node in the store, the values of the named fields in order (null where absent), instants and dates as ISO 8601 text
// A few fields of many nodes, without the rest of each record (its other fields, its
// history): the dashboard reads the receipt time of every lot. Temporal values go out as
// text, as in node_get (the driver's own temporal types cost ~60 µs a value).
UNWIND $keys AS k
MATCH (n:Node {key: k})
USING INDEX n:Node(key)
RETURN collect([n.key, [f IN $names | CASE WHEN n[f] IS :: ZONED DATETIME OR n[f] IS :: DATE THEN toString(n[f]) ELSE n[f] END]]) AS rows
