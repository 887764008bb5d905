// name: node_update
// mode: write
// params: rows: list[{key, props, prev}], at: datetime, seq: int
// returns: updated: int — props holds every field after the update (null removes nothing)
UNWIND $rows AS r
MATCH (n:Node {key: r.key})
USING INDEX n:Node(key)
SET n += r.props, n._h = coalesce(n._h, []) + r.prev, n._r = $at, n._a = $seq
RETURN count(n) AS updated
