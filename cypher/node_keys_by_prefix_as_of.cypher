// name: node_keys_by_prefix_as_of
// mode: read
// params: after: str (the prefix "Type:" for the first page, else the page's last key), before: str ("Type;", just past the prefix), limit: int, as_of: datetime
// returns: keys: list[str] — as node_keys_by_prefix, of the keys of one type that existed at as_of
MATCH (n:Node)
WHERE n.key > $after AND n.key < $before AND n._c <= $as_of
WITH n.key AS key
ORDER BY key
LIMIT $limit
RETURN collect(key) AS keys
