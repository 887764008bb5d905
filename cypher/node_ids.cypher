// name: node_ids
// mode: read
// params: keys: list[str]
// returns: ids: list[[key, element id]] — one row: of the nodes that exist (run inside a write, for the ends of the edges it creates)
UNWIND $keys AS k
MATCH (n:Node {key: k})
USING INDEX n:Node(key)
RETURN collect([n.key, elementId(n)]) AS ids
