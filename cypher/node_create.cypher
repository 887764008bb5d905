// name: node_create
// mode: write
// params: rows: list[{key, id, type, props, temporal}], at: datetime, seq: int
// returns: created: list[[key, element id]] — of the nodes created, whose element ids edge_create takes; temporal holds the instants and dates in wire form ([name, epoch second, nanosecond] / [name, year, month, day])
UNWIND $rows AS r
CREATE (n:Node {key: r.key, id: r.id})
SET n:$(r.type)
SET n += r.props, n._c = $at, n._r = $at, n._a = $seq
FOREACH (t IN r.temporal | SET n[t[0]] = CASE size(t) WHEN 3 THEN datetime({epochSeconds: t[1], nanosecond: t[2]}) ELSE date({year: t[1], month: t[2], day: t[3]}) END)
RETURN collect([n.key, elementId(n)]) AS created
