// name: installed_count
// mode: read
// params: none
// returns: n: int — how many Device nodes are installed in another device (an INSTALLED_IN relationship out)
// as_of: derived
// as_of returns: n: int — the same, over the relationships that existed at as_of
// The dashboard's units are the devices less these (and the cases): a number from a degree
// lookup per device, where units_of sends every device key. A relationship that existed at
// as_of had both its nodes then.
MATCH (x:Device)
WHERE EXISTS { (x)-[/*as_of: r*/:INSTALLED_IN]->() /*as_of: WHERE r._c <= $as_of */}
RETURN count(x) AS n
