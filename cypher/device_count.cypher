// name: device_count
// mode: read
// params: none
// returns: n: int — how many Device nodes the store holds
// as_of: derived
// as_of returns: n: int — how many Device nodes existed at as_of
// Common cause's population: a number from the label's count store, where keys_of_type would
// send a million keys at 1M devices. (A label given as a parameter is not planned from the
// count store: it scans every node.)
MATCH (n:Device)
/*as_of: WHERE n._c <= $as_of*/
RETURN count(n) AS n
