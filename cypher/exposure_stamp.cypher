// name: exposure_stamp
// mode: read
// params: none
// returns: counts: list[int], first: str — how many relationships of each type an exposure is counted over (model.EXPOSURE, in its order) there are, and the hash of the first audit entry (null in a store without one)
// Common cause keeps the exposures it counted under these (ExposureMemo): relationships are
// never removed but all at once (clear_all, which also starts the audit chain afresh), so the
// counts change with every write that can change an exposure, and only then: a write of
// complaints or service events leaves them. Each count is read from the type's count store
// (one type a pattern: a union of types is planned as a scan).
CALL () { MATCH ()-[r:SUPPLIED]->() RETURN count(r) AS supplied }
CALL () { MATCH ()-[r:HAS_LOT]->() RETURN count(r) AS has_lot }
CALL () { MATCH ()-[r:CONSUMED_IN]->() RETURN count(r) AS consumed_in }
CALL () { MATCH ()-[r:PROCESSED]->() RETURN count(r) AS processed }
CALL () { MATCH ()-[r:FOLLOWED]->() RETURN count(r) AS followed }
CALL () { MATCH ()-[r:IMPLEMENTED_IN]->() RETURN count(r) AS implemented_in }
CALL () { MATCH ()-[r:PRODUCED]->() RETURN count(r) AS produced }
CALL () { MATCH ()-[r:INSTALLED_IN]->() RETURN count(r) AS installed_in }
OPTIONAL MATCH (a:AuditEntry {seq: 1})
RETURN [supplied, has_lot, consumed_in, processed, followed, implemented_in, produced,
        installed_in] AS counts, a.hash AS first
