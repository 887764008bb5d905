// name: edges_among
// mode: read
// params: keys: list[str], types: list[str]
// returns: rows: list[[type, src, dst, props]] — one row: edges with both ends in keys, props in wire form
// as_of: derived
// as_of returns: rows: list[[type, src, dst, props]] — one row: edges that existed at as_of with both ends in keys (props as now, with _r and _h), props in wire form
// Properties go out in wire form, [names, values] read from one properties() map, with instants and dates as ISO 8601 text that
// the store turns back by the model's temporal fields: the driver's pure-Python temporal types cost ~60 µs a value, and
// one map read costs half the server time of reading the properties one name at a time.
UNWIND $keys AS k
MATCH (a:Node {key: k})-[r]->(b:Node)
USING INDEX a:Node(key)
WHERE type(r) IN $types AND b.key IN $keys /*as_of: AND r._c <= $as_of*/
RETURN collect([type(r), a.key, b.key, [props IN [properties(r)] | [keys(props), [p IN keys(props) | CASE WHEN props[p] IS :: ZONED DATETIME OR props[p] IS :: DATE THEN toString(props[p]) ELSE props[p] END]]][0]]) AS rows
