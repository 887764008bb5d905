// name: api_key_create
// mode: write
// params: key: map {id, name, role, sha256, created_at}
// returns: id: str — the new key's id; API keys are :ApiKey nodes, outside the graph (no :Node)
CREATE (k:ApiKey)
SET k = $key
RETURN k.id AS id
