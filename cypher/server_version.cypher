// name: server_version
// mode: read
// params: none
// returns: name: str, version: str, edition: str
CALL dbms.components() YIELD name, versions, edition
RETURN name, versions[0] AS version, edition
