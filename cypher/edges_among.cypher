// name: edges_among
// mode: read
// params: keys: list[str], types: list[str]
// returns: type: str, src: str, dst: str, props: map — edges with both ends in keys
UNWIND $keys AS k
MATCH (a:Node {key: k})-[r]->(b:Node)
USING INDEX a:Node(key)
WHERE type(r) IN $types AND b.key IN $keys
RETURN type(r) AS type, a.key AS src, b.key AS dst, properties(r) AS props
