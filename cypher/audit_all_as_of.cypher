// name: audit_all_as_of
// mode: read
// params: as_of: datetime
// returns: entry: map — the audit entries written at or before as_of, oldest first
MATCH (a:AuditEntry)
WHERE a.at <= $as_of
RETURN properties(a) AS entry
ORDER BY a.seq
