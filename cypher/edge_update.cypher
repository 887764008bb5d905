// name: edge_update
// mode: write
// params: rows: list[{type, src, dst, props, prev}], at: datetime, seq: int
// returns: updated: int
UNWIND $rows AS r
MATCH (a:Node {key: r.src})-[e]->(b:Node {key: r.dst})
USING INDEX a:Node(key)
WHERE type(e) = r.type
SET e += r.props, e._h = coalesce(e._h, []) + r.prev, e._r = $at, e._a = $seq
RETURN count(e) AS updated
