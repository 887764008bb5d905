// name: edge_create
// mode: write
// params: rows: list[{type, src, dst, props}], at: datetime, seq: int
// returns: created: int
UNWIND $rows AS r
MATCH (a:Node {key: r.src})
USING INDEX a:Node(key)
MATCH (b:Node {key: r.dst})
USING INDEX b:Node(key)
CREATE (a)-[e:$(r.type)]->(b)
SET e += r.props, e._c = $at, e._r = $at, e._a = $seq
RETURN count(e) AS created
