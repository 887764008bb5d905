// name: case_update
// mode: write
// params: id: str, data: str
// returns: id: str — the case whose fields were replaced (no row: no such case)
MATCH (c:RecallCase {id: $id})
SET c.data = $data
RETURN c.id AS id
