"""API keys: made here, shown once, kept in the store only as their SHA-256.

A key reads ``tg_<id>_<secret>``: the id is public (``keys list`` and ``keys revoke`` name keys by
it), the secret is 32 random bytes from `secrets`. With that much entropy a plain SHA-256 is as
good as a slow password hash (nothing to guess), and it lets the API check a key in constant
time per stored key. Keys live in the store, so the CLI that makes them and every API server on
the same store agree on them at once; a revoked key is refused from the next request on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from tracegraph.errors import BadInput, NotFound
from tracegraph.store.base import ApiKeyRecord, GraphStore

PREFIX: Final = "tg_"
MAX_NAME: Final = 100


class Role(StrEnum):
    analyst = "analyst"
    auditor = "auditor"
    integrator = "integrator"
    admin = "admin"


#: Who may do what (§6 of the contract); admin may do everything.
QUERY: Final = frozenset({Role.analyst, Role.auditor, Role.admin})
EVIDENCE: Final = frozenset({Role.auditor, Role.admin})
WRITE: Final = frozenset({Role.integrator, Role.admin})
#: Recall cases (§8): analysts open and work them, auditors read them.
CASE_WRITE: Final = frozenset({Role.analyst, Role.admin})
CASE_READ: Final = frozenset({Role.analyst, Role.auditor, Role.admin})


@dataclass(frozen=True)
class NewKey:
    """A key just made: the only time its secret is known."""

    record: ApiKeyRecord
    key: str

    def as_json(self) -> dict[str, Any]:
        return {**self.record.as_json(), "key": self.key}


@dataclass(frozen=True)
class KeyList:
    keys: list[ApiKeyRecord]

    def as_json(self) -> dict[str, Any]:
        revoked = sum(1 for k in self.keys if k.revoked)
        return {
            "keys": [k.as_json() for k in self.keys],
            "counts": {"keys": len(self.keys), "active": len(self.keys) - revoked,
                       "revoked": revoked},
        }  # fmt: skip


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise BadInput(f"role {text!r}: one of {', '.join(Role)}") from None


def _check_name(name: str, taken: Iterable[str]) -> str:
    name = name.strip()
    if not name:
        raise BadInput("name: empty")
    if len(name) > MAX_NAME:
        raise BadInput(f"name: longer than {MAX_NAME} characters")
    if not name.isprintable():
        raise BadInput(f"name {name!r}: holds control characters")
    if name in set(taken):
        # The name is the actor in the audit trail: two keys with one name would blur it.
        raise BadInput(f"name {name!r}: another key has this name (revoked ones included)")
    return name


def create_key(
    store: GraphStore, role: str, name: str | None = None, *, now: dt.datetime | None = None
) -> NewKey:
    """Make a key for ``role``; ``name`` (default ``<role>-<id>``) is its actor in the audit."""
    chosen = parse_role(role)
    existing = store.keyring.all()
    ids = {k.id for k in existing}
    key_id = secrets.token_hex(4)
    while key_id in ids:  # pragma: no cover - one chance in four billion per key
        key_id = secrets.token_hex(4)
    named = _check_name(name if name is not None else f"{chosen}-{key_id}",
                        (k.name for k in existing))  # fmt: skip
    secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKeyRecord(
        id=key_id,
        name=named,
        role=str(chosen),
        sha256=digest(secret),
        created_at=now or dt.datetime.now(dt.UTC),
    )
    store.keyring.add(record)
    return NewKey(record, secret)


def list_keys(store: GraphStore) -> KeyList:
    return KeyList(store.keyring.all())


def revoke_key(store: GraphStore, key_id: str, *, now: dt.datetime | None = None) -> ApiKeyRecord:
    """Revoke a key by its id; revoking it again keeps the first time. Unknown id: NotFound."""
    found = store.keyring.revoke(key_id.strip(), now or dt.datetime.now(dt.UTC))
    if found is None:
        raise NotFound(f"{key_id}: no API key has this id (see `tracegraph keys list`)")
    return found


def authenticate(store: GraphStore, presented: str) -> ApiKeyRecord | None:
    """The live key ``presented`` is, or None (unknown, malformed or revoked)."""
    if not presented.startswith(PREFIX) or len(presented) > 200:
        return None
    wanted = digest(presented)
    for key in store.keyring.all():
        if hmac.compare_digest(key.sha256, wanted):
            return None if key.revoked else key
    return None
