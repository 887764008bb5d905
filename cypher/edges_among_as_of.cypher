// name: edges_among_as_of
// mode: read
// params: keys: list[str], types: list[str], as_of: datetime
// returns: type: str, src: str, dst: str, props: map — edges that existed at as_of with both ends in keys (props as now, with _r and _h)
UNWIND $keys AS k
MATCH (a:Node {key: k})-[r]->(b:Node)
USING INDEX a:Node(key)
WHERE type(r) IN $types AND b.key IN $keys AND r._c <= $as_of
RETURN type(r) AS type, a.key AS src, b.key AS dst, properties(r) AS props
