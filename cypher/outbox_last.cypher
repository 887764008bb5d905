// name: outbox_last
// mode: read
// params: none
// returns: seq: int — the seq of the newest outbound event (0: none yet)
OPTIONAL MATCH (h:OutboundHead {id: 'events'})
RETURN coalesce(h.seq, 0) AS seq
