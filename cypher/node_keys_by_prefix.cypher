// name: node_keys_by_prefix
// mode: read
// params: after: str (the prefix "Type:" for the first page, else the page's last key), before: str ("Type;", just past the prefix), limit: int
// returns: keys: list[str] — the next `limit` keys of one type, in order, as one list (not a row per key: a row costs the driver ~14 µs, 14 s for 1M devices); one range seek on the Node(key) index that starts where the page before ended
// as_of: derived
// as_of returns: keys: list[str] — as node_keys_by_prefix, of the keys of one type that existed at as_of
MATCH (n:Node)
WHERE n.key > $after AND n.key < $before /*as_of: AND n._c <= $as_of*/
WITH n.key AS key
ORDER BY key
LIMIT $limit
RETURN collect(key) AS keys
