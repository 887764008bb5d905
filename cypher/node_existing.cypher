// name: node_existing
// mode: read
// params: keys: list[str]
// returns: key: str — the keys that name a node
UNWIND $keys AS k
MATCH (n:Node {key: k})
USING INDEX n:Node(key)
RETURN n.key AS key
