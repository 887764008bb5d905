// name: hook_create
// mode: write
// params: hook: map {id, url, events, secret, created_at}
// returns: hook: map — the hook as stored, acknowledged up to the event log's head; hooks are :Hook nodes, outside the graph (no :Node)
OPTIONAL MATCH (head:OutboundHead {id: 'events'})
CREATE (h:Hook)
SET h = $hook, h.acked_seq = coalesce(head.seq, 0), h.failures = 0
RETURN properties(h) AS hook
