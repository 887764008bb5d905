// name: edge_update
// mode: write
// params: rows: list[{id, props, temporal, prev}], at: datetime, seq: int
// returns: updated: int — props holds every plain field after the update, temporal its instants and dates in wire form
// The edge is found by the element id edge_get returned in the same transaction: a seek whatever the statistics say.
UNWIND $rows AS r
MATCH ()-[e]->()
WHERE elementId(e) = r.id
SET e += r.props, e._h = coalesce(e._h, []) + r.prev, e._r = $at, e._a = $seq
FOREACH (t IN r.temporal | SET e[t[0]] = CASE size(t) WHEN 3 THEN datetime({epochSeconds: t[1], nanosecond: t[2]}) ELSE date({year: t[1], month: t[2], day: t[3]}) END)
RETURN count(e) AS updated
