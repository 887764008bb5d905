// name: clear_all
// mode: write
// params: none
// returns: deleted: int — removes every node and relationship (tests, demo); not exposed to users
MATCH (n)
DETACH DELETE n
RETURN count(*) AS deleted
