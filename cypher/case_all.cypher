// name: case_all
// mode: read
// params: none
// returns: id: str, data: str — every recall case without its scope, oldest first
MATCH (c:RecallCase)
RETURN c.id AS id, c.data AS data
ORDER BY c.opened_at, c.id
