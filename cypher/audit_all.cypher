// name: audit_all
// mode: read
// params: none
// returns: entry: map — every audit entry, oldest first
// as_of: derived
// as_of returns: entry: map — the audit entries written at or before as_of, oldest first
MATCH (a:AuditEntry)
/*as_of: WHERE a.at <= $as_of*/
RETURN properties(a) AS entry
ORDER BY a.seq
