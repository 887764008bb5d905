// name: case_actions
// mode: read
// params: case: str
// returns: n: int, data: str — the case's action log, in the order it was recorded
MATCH (a:RecallCaseAction {case: $case})
RETURN a.n AS n, a.data AS data
ORDER BY a.n
