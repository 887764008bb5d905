// name: hop_up
// mode: read
// params: keys: list[str], types: list[str]
// returns: type: str, src: str, dst: str, props: map — edges of these types entering the nodes
UNWIND $keys AS k
MATCH (n:Node {key: k})<-[r]-(m:Node)
USING INDEX n:Node(key)
WHERE type(r) IN $types
RETURN type(r) AS type, m.key AS src, n.key AS dst, properties(r) AS props
