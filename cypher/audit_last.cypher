// name: audit_last
// mode: read
// params: none
// returns: seq: int, hash: str, at: datetime — the newest audit entry, if any
// as_of: derived
MATCH (a:AuditEntry)
/*as_of: WHERE a.at <= $as_of*/
RETURN a.seq AS seq, a.hash AS hash, a.at AS at
ORDER BY a.seq DESC
LIMIT 1
