// name: api_key_revoke
// mode: write
// params: id: str, at: datetime
// returns: key: map — the key after revoking (revoked_at kept from a first revoke); no row if unknown
MATCH (k:ApiKey {id: $id})
SET k.revoked_at = coalesce(k.revoked_at, $at)
RETURN properties(k) AS key
