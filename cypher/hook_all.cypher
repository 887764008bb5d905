// name: hook_all
// mode: read
// params: none
// returns: hook: map {id, url, events, secret, created_at, acked_seq, failures, next_attempt_at?, lease_owner?, lease_until?} — every hook, oldest first
MATCH (h:Hook)
RETURN properties(h) AS hook
ORDER BY h.created_at, h.id
