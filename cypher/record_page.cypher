// name: record_page
// mode: read
// params: after: str, limit: int
// returns: key: str, props: map, out: list[{type, dst, props}] — the next nodes in key order after the key `after`, each with its outgoing edges (every record with its versions: what `audit verify` reads)
MATCH (n:Node)
WHERE n.key > $after
WITH n
ORDER BY n.key
LIMIT $limit
RETURN n.key AS key, properties(n) AS props,
       COLLECT { MATCH (n)-[e]->(m:Node) RETURN {type: type(e), dst: m.key, props: properties(e)} } AS out
