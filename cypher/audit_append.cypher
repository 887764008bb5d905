// name: audit_append
// mode: write
// params: entry: map
// returns: seq: int
CREATE (a:AuditEntry)
SET a = $entry
RETURN a.seq AS seq
