// name: hop_down_as_of
// mode: read
// params: keys: list[str], types: list[str], as_of: datetime
// returns: type: str, src: str, dst: str, props: map — edges of these types leaving the nodes that existed at as_of (props as now, with _r and _h: the store picks the version in force)
UNWIND $keys AS k
MATCH (n:Node {key: k})-[r]->(m:Node)
USING INDEX n:Node(key)
WHERE type(r) IN $types AND r._c <= $as_of
RETURN type(r) AS type, n.key AS src, m.key AS dst, properties(r) AS props
