// name: audit_all
// mode: read
// params: none
// returns: entry: map — every audit entry, oldest first
MATCH (a:AuditEntry)
RETURN properties(a) AS entry
ORDER BY a.seq
