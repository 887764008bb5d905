// name: case_get
// mode: read
// params: id: str
// returns: id: str, data: str, scope: str — one recall case with its frozen scope (no row: no such case)
MATCH (c:RecallCase {id: $id})
RETURN c.id AS id, c.data AS data, c.scope AS scope
