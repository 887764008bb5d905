// name: outbox_events
// mode: read
// params: since: int, kinds: list[str]?, limit: int
// returns: seq: int, kind: str, at: datetime, data: str — the first $limit events after $since of these kinds (null: of every kind), in seq order
MATCH (e:OutboundEvent)
WHERE e.seq > $since AND ($kinds IS NULL OR e.kind IN $kinds)
RETURN e.seq AS seq, e.kind AS kind, e.at AS at, e.data AS data
ORDER BY e.seq
LIMIT $limit
