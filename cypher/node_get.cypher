// name: node_get
// mode: read
// params: keys: list[str]
// returns: rows: list[[key, props]] — one row; props in wire form (fields plus _c created, _r recorded, _a audit seq, _h history)
// Properties go out in wire form, [names, values] read from one properties() map, with instants and dates as ISO 8601 text that
// the store turns back by the model's temporal fields: the driver's pure-Python temporal types cost ~60 µs a value, and
// one map read costs half the server time of reading the properties one name at a time.
UNWIND $keys AS k
MATCH (n:Node {key: k})
USING INDEX n:Node(key)
RETURN collect([n.key, [props IN [properties(n)] | [keys(props), [p IN keys(props) | CASE WHEN props[p] IS :: ZONED DATETIME OR props[p] IS :: DATE THEN toString(props[p]) ELSE props[p] END]]][0]]) AS rows
