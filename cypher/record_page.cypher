// name: record_page
// mode: read
// params: after: str, limit: int
// returns: key: str, props: list (wire form), out: list[[type, dst, props]] — the next nodes in key order after the key `after`, each with its outgoing edges (every record with its versions: what `audit verify` reads)
// Properties go out in wire form, [names, values] read from one properties() map, with instants and dates as ISO 8601 text that
// the store turns back by the model's temporal fields: the driver's pure-Python temporal types cost ~60 µs a value, and
// one map read costs half the server time of reading the properties one name at a time.
MATCH (n:Node)
WHERE n.key > $after
WITH n
ORDER BY n.key
LIMIT $limit
RETURN n.key AS key, [props IN [properties(n)] | [keys(props), [p IN keys(props) | CASE WHEN props[p] IS :: ZONED DATETIME OR props[p] IS :: DATE THEN toString(props[p]) ELSE props[p] END]]][0] AS props,
       COLLECT { MATCH (n)-[e]->(m:Node) RETURN [type(e), m.key, [props IN [properties(e)] | [keys(props), [p IN keys(props) | CASE WHEN props[p] IS :: ZONED DATETIME OR props[p] IS :: DATE THEN toString(props[p]) ELSE props[p] END]]][0]] } AS out
