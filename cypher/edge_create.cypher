// name: edge_create
// mode: write
// params: rows: list[{type, src, dst, props, temporal}], at: datetime, seq: int
// returns: created: int — temporal holds the instants and dates in wire form
UNWIND $rows AS r
MATCH (a:Node {key: r.src})
USING INDEX a:Node(key)
MATCH (b:Node {key: r.dst})
USING INDEX b:Node(key)
CREATE (a)-[e:$(r.type)]->(b)
SET e += r.props, e._c = $at, e._r = $at, e._a = $seq
FOREACH (t IN r.temporal | SET e[t[0]] = CASE size(t) WHEN 3 THEN datetime({epochSeconds: t[1], nanosecond: t[2]}) ELSE date({year: t[1], month: t[2], day: t[3]}) END)
RETURN count(e) AS created
