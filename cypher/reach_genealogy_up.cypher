// name: reach_genealogy_up
// mode: read
// params: seeds: list[str]
// returns: key: str — distinct nodes reachable upstream over genealogy edges in 1..100 hops
// Distinct end nodes over a bounded pattern: the planner expands breadth-first and visits each
// node once (no path enumeration). The bound is model.MAX_HOPS, shared by both stores.
UNWIND $seeds AS seed
MATCH (s:Node {key: seed})
MATCH (s)<-[:SUPPLIED|HAS_LOT|CONSUMED_IN|PRODUCED|INSTALLED_IN|PROCESSED|FOLLOWED|IMPLEMENTED_IN|SHIPPED_IN|DELIVERED_TO|HAS_SERVICE|HAS_COMPLAINT*1..100]-(x:Node)
RETURN DISTINCT x.key AS key
