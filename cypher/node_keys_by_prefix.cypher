// name: node_keys_by_prefix
// mode: read
// params: after: str (the prefix "Type:" for the first page, else the page's last key), before: str ("Type;", just past the prefix), limit: int
// returns: keys: list[str] — the next `limit` keys of one type, in order, as one list (not a row per key: a row costs the driver ~14 µs, 14 s for 1M devices); one range seek on the Node(key) index that starts where the page before ended
MATCH (n:Node)
WHERE n.key > $after AND n.key < $before
WITH n.key AS key
ORDER BY key
LIMIT $limit
RETURN collect(key) AS keys
