// name: api_key_all
// mode: read
// params: none
// returns: key: map {id, name, role, sha256, created_at, revoked_at?} — every API key, oldest first
MATCH (k:ApiKey)
RETURN properties(k) AS key
ORDER BY k.created_at, k.id
