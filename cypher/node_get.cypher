// name: node_get
// mode: read
// params: keys: list[str]
// returns: rows: list[[key, props]] — one row; props in wire form (fields plus _c created, _r recorded, _a audit seq, _h history)
// Properties go out in wire form, a list of [name, value] pairs with instants as [name, epoch millisecond, microsecond] and dates as
// [name, year, month, day]: the driver's pure-Python temporal types cost ~60 µs a value, the integers almost nothing.
UNWIND $keys AS k
MATCH (n:Node {key: k})
USING INDEX n:Node(key)
RETURN collect([n.key, [p IN keys(n) | CASE WHEN n[p] IS :: ZONED DATETIME THEN [p, n[p].epochMillis, n[p].microsecond % 1000] WHEN n[p] IS :: DATE THEN [p, n[p].year, n[p].month, n[p].day] ELSE [p, n[p]] END]]) AS rows
