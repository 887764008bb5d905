// name: node_update
// mode: write
// params: rows: list[{key, props, temporal, prev}], at: datetime, seq: int
// returns: updated: int — props holds every plain field after the update (null removes nothing), temporal its instants and dates in wire form
UNWIND $rows AS r
MATCH (n:Node {key: r.key})
USING INDEX n:Node(key)
SET n += r.props, n._h = coalesce(n._h, []) + r.prev, n._r = $at, n._a = $seq
FOREACH (t IN r.temporal | SET n[t[0]] = CASE size(t) WHEN 3 THEN datetime({epochSeconds: t[1], nanosecond: t[2]}) ELSE date({year: t[1], month: t[2], day: t[3]}) END)
RETURN count(n) AS updated
