"""Who is calling: `Authorization: Bearer KEY`, checked against the keys in the store.

No key (or another scheme) → 401; a key the store does not hold, or a revoked one → 401; a
valid key whose role may not call the endpoint → 403. Keys are looked up on every request, so
a key revoked with `tracegraph keys revoke` is refused from the next request on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import Forbidden, Unauthorized
from api.gate import StoreGate, gate
from api.guard import CALLER_KEY
from tracegraph.keys import Role, authenticate
from tracegraph.store.base import ApiKeyRecord

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `tracegraph keys create --role ROLE`: "
    "`Authorization: Bearer tg_...`.",
)

Caller = Callable[..., ApiKeyRecord]


def allow(roles: frozenset[Role], what: str) -> Caller:
    """A dependency that lets in keys of these roles (and admin) and returns the caller's key."""
    allowed = roles | {Role.admin}

    def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        stores: Annotated[StoreGate, Depends(gate)],
    ) -> ApiKeyRecord:
        # `api.guard.KeyFirst` checked the key of every /v1 request before its body was read
        key: ApiKeyRecord | None = getattr(request.state, CALLER_KEY, None)
        if key is None:
            if credentials is None or not credentials.credentials.strip():
                raise Unauthorized("no API key: send Authorization: Bearer KEY")
            with stores.use() as store:
                key = authenticate(store, credentials.credentials.strip())
        if key is None:
            raise Unauthorized("the API key is not valid (unknown or revoked)")
        if key.role not in allowed:
            names = ", ".join(sorted(str(r) for r in allowed))
            raise Forbidden(f"role {key.role} may not {what}; this needs one of: {names}")
        request.state.caller = key.name
        return key

    return caller
