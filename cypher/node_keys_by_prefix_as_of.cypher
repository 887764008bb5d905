// name: node_keys_by_prefix_as_of
// mode: read
// params: prefix: str ("Type:"), as_of: datetime
// returns: key: str, sorted — the keys of one type that existed at as_of
MATCH (n:Node)
WHERE n.key STARTS WITH $prefix AND n._c <= $as_of
RETURN n.key AS key
ORDER BY key
