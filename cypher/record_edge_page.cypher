// name: record_edge_page
// mode: read
// params: key: str, after_dst: str, after_type: str, limit: int
// returns: type: str, dst: str, props: list (wire form) — the next outgoing edges of one node in (dst, type) order after (`after_dst`, `after_type`): the edges of a node with more than a page of them, a page at a time (what `audit verify` reads)
// Properties go out in wire form, as in record_page. (dst, type) names an edge of one node: there is one edge per type between two nodes.
MATCH (n:Node {key: $key})
USING INDEX n:Node(key)
MATCH (n)-[e]->(m:Node)
WHERE m.key > $after_dst OR (m.key = $after_dst AND type(e) > $after_type)
WITH e, m
ORDER BY m.key, type(e)
LIMIT $limit
RETURN type(e) AS type, m.key AS dst, [props IN [properties(e)] | [keys(props), [p IN keys(props) | CASE WHEN props[p] IS :: ZONED DATETIME OR props[p] IS :: DATE THEN toString(props[p]) ELSE props[p] END]]][0] AS props
