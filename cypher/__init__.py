"""Named Cypher queries, one per `.cypher` file; loaded by `tracegraph.queries`."""
