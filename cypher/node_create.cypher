// name: node_create
// mode: write
// params: rows: list[{key, id, type, props}], at: datetime, seq: int
// returns: created: int
UNWIND $rows AS r
CREATE (n:Node {key: r.key, id: r.id})
SET n:$(r.type)
SET n += r.props, n._c = $at, n._r = $at, n._a = $seq
RETURN count(n) AS created
