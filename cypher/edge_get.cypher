// name: edge_get
// mode: read
// params: rows: list[{type, src, dst}]
// returns: rows: list[[type, src, dst, props, id]] — one row: the edges that exist already, props in wire form, id the element id
// Properties go out in wire form, [names, values] read from one properties() map, with instants and dates as ISO 8601 text that
// the store turns back by the model's temporal fields: the driver's pure-Python temporal types cost ~60 µs a value, and
// one map read costs half the server time of reading the properties one name at a time.
// Both ends are bound by their index before the edge is looked for, and the store only asks for edges whose ends both
// existed before the write. CYPHER replan=force: a plan cached from an emptier database (an all-relationships scan, or
// every edge of a hub node) must not outlive it.
CYPHER replan=force
UNWIND $rows AS r
MATCH (a:Node {key: r.src})
USING INDEX a:Node(key)
MATCH (b:Node {key: r.dst})
USING INDEX b:Node(key)
MATCH (a)-[e]->(b)
WHERE type(e) = r.type
RETURN collect([type(e), a.key, b.key, [props IN [properties(e)] | [keys(props), [p IN keys(props) | CASE WHEN props[p] IS :: ZONED DATETIME OR props[p] IS :: DATE THEN toString(props[p]) ELSE props[p] END]]][0], elementId(e)]) AS rows
