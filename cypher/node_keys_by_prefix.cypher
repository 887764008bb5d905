// name: node_keys_by_prefix
// mode: read
// params: prefix: str ("Type:")
// returns: key: str, sorted — served by the Node(key) range index
MATCH (n:Node)
WHERE n.key STARTS WITH $prefix
RETURN n.key AS key
ORDER BY key
