// name: node_existing
// mode: read
// params: keys: list[str]
// returns: key: str — the keys that name a node
// as_of: derived
// as_of returns: key: str — the keys that named a node at as_of (created at or before it)
UNWIND $keys AS k
MATCH (n:Node {key: k})
USING INDEX n:Node(key)
/*as_of: WHERE n._c <= $as_of*/
RETURN n.key AS key
