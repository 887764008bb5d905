// name: edges_among
// mode: read
// params: keys: list[str], types: list[str]
// returns: rows: list[[type, src, dst, props]] — one row: edges with both ends in keys, props in wire form
// Properties go out in wire form, a list of [name, value] pairs with instants as [name, epoch millisecond, microsecond] and dates as
// [name, year, month, day]: the driver's pure-Python temporal types cost ~60 µs a value, the integers almost nothing.
UNWIND $keys AS k
MATCH (a:Node {key: k})-[r]->(b:Node)
USING INDEX a:Node(key)
WHERE type(r) IN $types AND b.key IN $keys
RETURN collect([type(r), a.key, b.key, [p IN keys(r) | CASE WHEN r[p] IS :: ZONED DATETIME THEN [p, r[p].epochMillis, r[p].microsecond % 1000] WHEN r[p] IS :: DATE THEN [p, r[p].year, r[p].month, r[p].day] ELSE [p, r[p]] END]]) AS rows
