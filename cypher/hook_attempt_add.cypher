// name: hook_attempt_add
// mode: write
// params: hook: str, attempt: map {hook, seq, attempt, at, status?, error?}, acked: bool, failures: int, next_attempt_at: datetime?
// returns: n: int — the attempt's number in its hook's log; no row (nothing written) if the hook is gone. Logs the attempt and sets the hook's delivery state in one transaction
MATCH (h:Hook {id: $hook})
SET h.attempts = coalesce(h.attempts, 0) + 1,
    h.acked_seq = CASE WHEN $acked AND $attempt.seq > h.acked_seq THEN $attempt.seq ELSE h.acked_seq END,
    h.failures = $failures,
    h.next_attempt_at = $next_attempt_at
CREATE (a:HookAttempt)
SET a = $attempt
SET a.n = h.attempts
RETURN a.n AS n
