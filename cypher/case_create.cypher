// name: case_create
// mode: write
// params: id: str, opened_at: datetime, data: str, scope: str
// returns: id: str — the case kept; a :RecallCase node outside the graph (no :Node), its fields and its frozen scope as JSON text
CREATE (c:RecallCase {id: $id, opened_at: $opened_at, data: $data, scope: $scope, actions: 0})
RETURN c.id AS id
