// name: record_page
// mode: read
// params: after: str, limit: int
// returns: key: str, props: list (wire form), out: list[[type, dst, props]] — the next nodes in key order after the key `after`, each with its outgoing edges (every record with its versions: what `audit verify` reads)
// Properties go out in wire form, a list of [name, value] pairs with instants as [name, epoch millisecond, microsecond] and dates as
// [name, year, month, day]: the driver's pure-Python temporal types cost ~60 µs a value, the integers almost nothing.
MATCH (n:Node)
WHERE n.key > $after
WITH n
ORDER BY n.key
LIMIT $limit
RETURN n.key AS key, [p IN keys(n) | CASE WHEN n[p] IS :: ZONED DATETIME THEN [p, n[p].epochMillis, n[p].microsecond % 1000] WHEN n[p] IS :: DATE THEN [p, n[p].year, n[p].month, n[p].day] ELSE [p, n[p]] END] AS props,
       COLLECT { MATCH (n)-[e]->(m:Node) RETURN [type(e), m.key, [p IN keys(e) | CASE WHEN e[p] IS :: ZONED DATETIME THEN [p, e[p].epochMillis, e[p].microsecond % 1000] WHEN e[p] IS :: DATE THEN [p, e[p].year, e[p].month, e[p].day] ELSE [p, e[p]] END]] } AS out
