// name: case_action_add
// mode: write
// params: case: str, data: str
// returns: n: int — the action's number in its case's log; a :RecallCaseAction node outside the graph (no row: no such case)
MATCH (c:RecallCase {id: $case})
SET c.actions = coalesce(c.actions, 0) + 1
CREATE (a:RecallCaseAction {case: $case, n: c.actions, data: $data})
RETURN a.n AS n
