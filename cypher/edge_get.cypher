// name: edge_get
// mode: read
// params: rows: list[{type, src, dst}]
// returns: type: str, src: str, dst: str, props: map — the edges that exist already
UNWIND $rows AS r
MATCH (a:Node {key: r.src})-[e]->(b:Node {key: r.dst})
USING INDEX a:Node(key)
WHERE type(e) = r.type
RETURN type(e) AS type, a.key AS src, b.key AS dst, properties(e) AS props
