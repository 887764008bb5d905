// name: node_existing_as_of
// mode: read
// params: keys: list[str], as_of: datetime
// returns: key: str — the keys that named a node at as_of (created at or before it)
UNWIND $keys AS k
MATCH (n:Node {key: k})
USING INDEX n:Node(key)
WHERE n._c <= $as_of
RETURN n.key AS key
