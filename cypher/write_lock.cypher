// name: write_lock
// mode: write
// params: none
// returns: head: int — takes the write lock on the audit chain's head, serialising writers
MERGE (h:AuditHead {id: 'chain'})
SET h.writes = coalesce(h.writes, 0) + 1
RETURN h.writes AS head
