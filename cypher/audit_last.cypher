// name: audit_last
// mode: read
// params: none
// returns: seq: int, hash: str — the newest audit entry, if any
MATCH (a:AuditEntry)
RETURN a.seq AS seq, a.hash AS hash
ORDER BY a.seq DESC
LIMIT 1
