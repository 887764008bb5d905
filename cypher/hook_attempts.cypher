// name: hook_attempts
// mode: read
// params: hook: str?, limit: int
// returns: attempt: map {hook, seq, attempt, at, status?, error?, n} — the newest $limit delivery attempts (of hook $hook; null: of every hook), oldest first
MATCH (a:HookAttempt)
WHERE $hook IS NULL OR a.hook = $hook
WITH a
ORDER BY a.at DESC, a.hook DESC, a.n DESC
LIMIT $limit
RETURN properties(a) AS attempt
ORDER BY attempt.at, attempt.hook, attempt.n
