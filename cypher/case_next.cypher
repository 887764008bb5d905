// name: case_next
// mode: write
// params: year: int
// returns: n: int — how many cases were opened in this year, this one included; the :RecallCaseHead counter of the year (its lock orders concurrent openings), outside the graph (no :Node)
MERGE (h:RecallCaseHead {year: $year})
SET h.n = coalesce(h.n, 0) + 1
RETURN h.n AS n
