// name: hook_claim
// mode: write
// params: id: str, owner: str, until: datetime, now: datetime
// returns: id: str — the hook, when its deliveries are now leased to $owner until $until; no row if another owner holds a lease after $now (or no such hook). The first SET takes the hook's write lock, so the lease is read as last committed: a compare-and-set
MATCH (h:Hook {id: $id})
SET h._lock = true
REMOVE h._lock
WITH h
WHERE h.lease_until IS NULL OR h.lease_until <= $now OR h.lease_owner = $owner
SET h.lease_owner = $owner, h.lease_until = $until
RETURN h.id AS id
