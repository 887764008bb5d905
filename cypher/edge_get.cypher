// name: edge_get
// mode: read
// params: rows: list[{type, src, dst}]
// returns: rows: list[[type, src, dst, props, id]] — one row: the edges that exist already, props in wire form, id the element id
// Properties go out in wire form, a list of [name, value] pairs with instants as [name, epoch millisecond, microsecond] and dates as
// [name, year, month, day]: the driver's pure-Python temporal types cost ~60 µs a value, the integers almost nothing.
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
RETURN collect([type(e), a.key, b.key, [p IN keys(e) | CASE WHEN e[p] IS :: ZONED DATETIME THEN [p, e[p].epochMillis, e[p].microsecond % 1000] WHEN e[p] IS :: DATE THEN [p, e[p].year, e[p].month, e[p].day] ELSE [p, e[p]] END], elementId(e)]) AS rows
