// name: outbox_append
// mode: write
// params: events: list[{kind: str, data: str}], at: datetime
// returns: seq: int, kind: str, at: datetime, data: str — the events appended, in seq order; :OutboundEvent nodes, outside the graph (no :Node), numbered by the :OutboundHead counter (its lock orders concurrent appends)
MERGE (h:OutboundHead {id: 'events'})
SET h.seq = coalesce(h.seq, 0) + size($events)
WITH h.seq - size($events) AS base
UNWIND range(0, size($events) - 1) AS i
CREATE (e:OutboundEvent {seq: base + i + 1, kind: $events[i].kind, at: $at, data: $events[i].data})
RETURN e.seq AS seq, e.kind AS kind, e.at AS at, e.data AS data
ORDER BY seq
