// name: node_get
// mode: read
// params: keys: list[str]
// returns: key: str, props: map (fields plus _c created, _r recorded, _a audit seq, _h history)
UNWIND $keys AS k
MATCH (n:Node {key: k})
USING INDEX n:Node(key)
RETURN n.key AS key, properties(n) AS props
