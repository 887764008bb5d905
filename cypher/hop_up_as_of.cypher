// name: hop_up_as_of
// mode: read
// params: keys: list[str], types: list[str], as_of: datetime
// returns: rows: list[[type, src, dst, props]] — one row: edges of these types entering the nodes that existed at as_of (props as now, with _r and _h: the store picks the version in force), props in wire form
// Properties go out in wire form, a list of [name, value] pairs with instants as [name, epoch millisecond, microsecond] and dates as
// [name, year, month, day]: the driver's pure-Python temporal types cost ~60 µs a value, the integers almost nothing.
UNWIND $keys AS k
MATCH (n:Node {key: k})<-[r]-(m:Node)
USING INDEX n:Node(key)
WHERE type(r) IN $types AND r._c <= $as_of
RETURN collect([type(r), m.key, n.key, [p IN keys(r) | CASE WHEN r[p] IS :: ZONED DATETIME THEN [p, r[p].epochMillis, r[p].microsecond % 1000] WHEN r[p] IS :: DATE THEN [p, r[p].year, r[p].month, r[p].day] ELSE [p, r[p]] END]]) AS rows
