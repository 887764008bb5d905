// name: hop_down
// mode: read
// params: keys: list[str], types: list[str]
// returns: type: str, src: str, dst: str, props: map — edges of these types leaving the nodes
UNWIND $keys AS k
MATCH (n:Node {key: k})-[r]->(m:Node)
USING INDEX n:Node(key)
WHERE type(r) IN $types
RETURN type(r) AS type, n.key AS src, m.key AS dst, properties(r) AS props
