// name: record_edges
// mode: read
// params: keys: list[str]
// returns: key: str, out: list[[type, dst, props]] — each node's outgoing edges, props in wire form (what `audit verify` reads for a page of nodes whose edges are few enough to come together)
// Properties go out in wire form, as in record_page.
UNWIND $keys AS k
MATCH (n:Node {key: k})
USING INDEX n:Node(key)
RETURN n.key AS key,
       COLLECT { MATCH (n)-[e]->(m:Node) RETURN [type(e), m.key, [props IN [properties(e)] | [keys(props), [p IN keys(props) | CASE WHEN props[p] IS :: ZONED DATETIME OR props[p] IS :: DATE THEN toString(props[p]) ELSE props[p] END]]][0]] } AS out
