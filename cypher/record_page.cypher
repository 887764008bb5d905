// name: record_page
// mode: read
// params: after: str, limit: int
// returns: key: str, props: list (wire form), degree: int — the next nodes in key order after the key `after`, each with how many outgoing edges it has (every record with its versions, a page at a time: what `audit verify` reads; the edges come from record_edges and record_edge_page, so that a page never holds a hub's every edge)
// Properties go out in wire form, [names, values] read from one properties() map, with instants and dates as ISO 8601 text that
// the store turns back by the model's temporal fields: the driver's pure-Python temporal types cost ~60 µs a value, and
// one map read costs half the server time of reading the properties one name at a time.
MATCH (n:Node)
WHERE n.key > $after
WITH n
ORDER BY n.key
LIMIT $limit
RETURN n.key AS key, [props IN [properties(n)] | [keys(props), [p IN keys(props) | CASE WHEN props[p] IS :: ZONED DATETIME OR props[p] IS :: DATE THEN toString(props[p]) ELSE props[p] END]]][0] AS props,
       COUNT { MATCH (n)-[]->(:Node) } AS degree
