// name: hook_remove
// mode: write
// params: id: str
// returns: hook: map — the hook as it was, deleted with its delivery log; no row if unknown
MATCH (h:Hook {id: $id})
OPTIONAL MATCH (a:HookAttempt {hook: $id})
WITH h, properties(h) AS hook, collect(a) AS attempts
FOREACH (a IN attempts | DELETE a)
DELETE h
RETURN hook
