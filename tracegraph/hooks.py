"""Hooks: the store's outbound events POSTed to other systems (docs/hooks.md).

A hook is a URL, the kinds of event it wants and a secret. Each event is POSTed as JSON with
``X-TraceGraph-Signature: sha256=<hex>``, the HMAC-SHA256 of the body under the secret. A 2xx
acknowledges it; anything else (another status, a redirect, no answer within the timeout) is a
failure, retried after 1 s, 2 s, 4 s … at most 5 min, and a hook's later events wait behind it,
so each hook receives its events in order. Delivery state (the last acknowledged seq, the
failures since, when the next attempt is due) is kept in the store with every attempt logged,
so a deliverer that stops, or crashes, is resumed by the next from the last acknowledged seq:
at least once, never out of order. A lease in the store lets one deliverer at a time serve a
hook, even with several processes on one store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx

from tracegraph.errors import BadInput, NotFound, TraceGraphError
from tracegraph.events import encode, parse_kinds
from tracegraph.store.base import DeliveryAttempt, GraphStore, HookRecord, OutboundEvent

log = logging.getLogger("tracegraph.hooks")

SIGNATURE_HEADER: Final = "X-TraceGraph-Signature"
#: Seconds one POST may take (connecting, sending, the answer's status line and headers).
TIMEOUT: Final = 10.0
#: The longest wait between two attempts at one event.
MAX_BACKOFF: Final = dt.timedelta(minutes=5)
#: How long a deliverer's claim on a hook lasts; renewed before every POST, so only a
#: deliverer that died holds a hook this long.
LEASE: Final = dt.timedelta(seconds=60)
#: Events one hook is sent per pass (the next pass goes on at once).
BATCH: Final = 100
#: How often `Deliverer.run` looks for new events when nothing wakes it.
INTERVAL: Final = 5.0

_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_NAME: Final = rf"(?:{_LABEL}\.)*[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_PORT: Final = (
    r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
)
#: A hook's URL: http or https, a host name or IPv4 address (no user or password), an
#: optional port, then any printable ASCII but spaces.
URL_PATTERN: Final = (
    rf"^https?://(?:{_NAME}|{_OCTET}(?:\.{_OCTET}){{3}})(?::{_PORT})?(?:[/?#][\x21-\x7e]*)?$"
)
MAX_URL: Final = 2000
#: A secret given by the caller: 16 to 200 printable ASCII characters, no spaces.
SECRET_PATTERN: Final = r"^[\x21-\x7e]{16,200}$"

Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------- signing


def sign(secret: str, body: bytes) -> str:
    """The ``X-TraceGraph-Signature`` of a body: ``sha256=`` and the HMAC-SHA256 in hex."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does: compare, in constant time, with the signature it computes."""
    return hmac.compare_digest(sign(secret, body), signature)


def backoff(failures: int) -> dt.timedelta:
    """The wait after the ``failures``-th failed attempt in a row: 1 s, 2 s, 4 s … 5 min."""
    if failures < 1:
        return dt.timedelta(0)
    return min(dt.timedelta(seconds=2 ** min(failures - 1, 20)), MAX_BACKOFF)


# --------------------------------------------------------------------------- managing hooks


def check_url(text: str) -> str:
    url = text.strip()
    if len(url) > MAX_URL:
        raise BadInput(f"url: longer than {MAX_URL} characters")
    if not re.fullmatch(URL_PATTERN.removeprefix("^").removesuffix("$"), url):
        raise BadInput(
            f"url {url!r}: give http:// or https://, a host name or IPv4 address (no user or "
            "password), an optional port and path, e.g. https://qms.example.com/hooks/tracegraph"
        )
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:  # pragma: no cover - the pattern admits none of these
        raise BadInput(f"url {url!r}: {exc}") from None
    return url


def check_secret(text: str) -> str:
    secret = text.strip()
    if not re.fullmatch(SECRET_PATTERN.removeprefix("^").removesuffix("$"), secret):
        raise BadInput(
            "secret: 16 to 200 printable ASCII characters without spaces (leave it out and "
            "one is made)"
        )
    return secret


@dataclass(frozen=True)
class NewHook:
    """A hook just added: the only time its secret is shown."""

    record: HookRecord

    def as_json(self) -> dict[str, Any]:
        return {**self.record.as_json(), "secret": self.record.secret}


@dataclass(frozen=True)
class HookList:
    hooks: list[HookRecord]
    last_seq: int

    def as_json(self) -> dict[str, Any]:
        return {
            "hooks": [h.as_json() for h in self.hooks],
            "last_seq": self.last_seq,
            "counts": {
                "hooks": len(self.hooks),
                "failing": sum(1 for h in self.hooks if h.failures),
            },
        }


@dataclass(frozen=True)
class DeliveryLog:
    hook: str | None
    attempts: list[DeliveryAttempt]

    def as_json(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "attempts": [a.as_json() for a in self.attempts],
            "counts": {
                "attempts": len(self.attempts),
                "failed": sum(1 for a in self.attempts if not a.ok),
            },
        }


def add_hook(
    store: GraphStore,
    url: str,
    events: Sequence[str],
    secret: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> NewHook:
    """Add a hook; it is sent the events appended from now on. Without a secret one is made."""
    chosen = check_url(url)
    kinds = parse_kinds(events)
    key = check_secret(secret) if secret is not None else secrets.token_urlsafe(32)
    taken = {h.id for h in store.outbox.hooks()}
    hook_id = secrets.token_hex(4)
    while hook_id in taken:  # pragma: no cover - one chance in four billion per hook
        hook_id = secrets.token_hex(4)
    record = HookRecord(
        id=hook_id,
        url=chosen,
        events=tuple(str(k) for k in kinds),
        secret=key,
        created_at=now or _utcnow(),
    )
    return NewHook(store.outbox.add_hook(record))


def list_hooks(store: GraphStore) -> HookList:
    return HookList(store.outbox.hooks(), store.outbox.last_seq())


def _known(store: GraphStore, hook_id: str) -> str:
    wanted = hook_id.strip()
    if wanted not in {h.id for h in store.outbox.hooks()}:
        raise NotFound(f"{hook_id}: no hook has this id (see `tracegraph hooks list`)")
    return wanted


def remove_hook(store: GraphStore, hook_id: str) -> HookRecord:
    """Remove a hook, its delivery state and log; an unknown id is `NotFound`."""
    found = store.outbox.remove_hook(hook_id.strip())
    if found is None:
        raise NotFound(f"{hook_id}: no hook has this id (see `tracegraph hooks list`)")
    return found


def delivery_log(store: GraphStore, hook_id: str | None = None, limit: int = 100) -> DeliveryLog:
    """The newest ``limit`` delivery attempts (of one hook, or of every hook), oldest first."""
    if limit < 1:
        raise BadInput(f"limit {limit}: must be 1 or more")
    chosen = _known(store, hook_id) if hook_id is not None else None
    return DeliveryLog(chosen, store.outbox.attempts(chosen, limit))


# --------------------------------------------------------------------------- delivering


class Deliverer:
    """Sends each hook its pending events, in seq order, from one process.

    `deliver_once` is one pass: for each hook whose next attempt is due, claim it, then POST
    its events after the last acknowledged one until one fails (the rest wait for the next
    attempt, after `backoff`) or `BATCH` went. `run` repeats passes until stopped. ``clock``
    gives the time (tests pass their own: no sleeping); ``client`` the HTTP client.
    """

    def __init__(
        self,
        store: GraphStore,
        *,
        clock: Clock = _utcnow,
        client: httpx.Client | None = None,
        timeout: float = TIMEOUT,
        batch: int = BATCH,
        owner: str | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.store = store
        #: once set, a pass stops before its next POST (a server shutting down)
        self.stop = stop or threading.Event()
        self.clock = clock
        self._own_client = client is None
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self.timeout = timeout
        self.batch = batch
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        #: whether the last pass stopped at `batch` events for some hook (more are waiting)
        self.more = False

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def deliver_once(self) -> list[DeliveryAttempt]:
        """One pass over every hook; the attempts it made, in order."""
        self.more = False
        made: list[DeliveryAttempt] = []
        for hook in self.store.outbox.hooks():
            if self.stop.is_set():
                break
            made += self._deliver(hook)
        return made

    def next_due(self) -> dt.datetime | None:
        """The earliest time, still to come, at which a failing hook is due for its next
        attempt (None: none is). One due already was left to the deliverer that holds it."""
        now = self.clock()
        due = [
            h.next_attempt_at
            for h in self.store.outbox.hooks()
            if h.next_attempt_at is not None and h.next_attempt_at > now
        ]
        return min(due, default=None)

    def _claim(self, hook_id: str, now: dt.datetime) -> bool:
        return self.store.outbox.claim(hook_id, self.owner, now + LEASE, now)

    def _deliver(self, listed: HookRecord) -> list[DeliveryAttempt]:
        outbox = self.store.outbox
        now = self.clock()
        if listed.next_attempt_at is not None and listed.next_attempt_at > now:
            return []
        if not self._claim(listed.id, now):
            return []  # another deliverer serves it
        made: list[DeliveryAttempt] = []
        try:
            # The state as it is now that this deliverer holds the hook.
            hook = next((h for h in outbox.hooks() if h.id == listed.id), None)
            if hook is None or (hook.next_attempt_at is not None and hook.next_attempt_at > now):
                return made
            failures = hook.failures
            pending = outbox.events(hook.acked_seq, hook.events, self.batch)
            for event in pending:
                if self.stop.is_set():
                    break
                if not self._claim(hook.id, self.clock()):
                    break  # this deliverer was too slow and another took over
                attempt = self._post(hook, event, failures + 1)
                failures = 0 if attempt.ok else failures + 1
                next_at = None if attempt.ok else attempt.at + backoff(failures)
                outbox.record_attempt(attempt, next_at)
                made.append(attempt)
                if not attempt.ok:
                    log.warning(
                        "hook %s: event %s not delivered (attempt %s: %s); next attempt at %s",
                        hook.id, event.seq, attempt.attempt, attempt.error, next_at,
                    )  # fmt: skip
                    break
            else:
                self.more = self.more or len(pending) == self.batch
        finally:
            with contextlib.suppress(TraceGraphError):
                now = self.clock()
                outbox.claim(listed.id, self.owner, now, now)  # give the hook up
        return made

    def _post(self, hook: HookRecord, event: OutboundEvent, attempt: int) -> DeliveryAttempt:
        body = encode(event)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "TraceGraph-Hooks",
            SIGNATURE_HEADER: sign(hook.secret, body),
            "X-TraceGraph-Event": event.kind,
            "X-TraceGraph-Seq": str(event.seq),
            "X-TraceGraph-Hook": hook.id,
            "X-TraceGraph-Attempt": str(attempt),
        }
        at = self.clock()
        status: int | None = None
        try:
            # Streamed and closed unread: the answer's status is all that counts, and a
            # receiver cannot make us read a large body.
            with self.client.stream(
                "POST", hook.url, content=body, headers=headers, timeout=self.timeout
            ) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return DeliveryAttempt(hook.id, event.seq, attempt, at, None,
                                   f"no answer within {self.timeout:g} s")  # fmt: skip
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            why = str(exc) or type(exc).__name__
            return DeliveryAttempt(hook.id, event.seq, attempt, at, None, why)
        if 200 <= status < 300:
            return DeliveryAttempt(hook.id, event.seq, attempt, at, status)
        why = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
        return DeliveryAttempt(hook.id, event.seq, attempt, at, status, why)

    def step(self, interval: float = INTERVAL) -> float:
        """One pass; then how long to wait before the next: at once when a hook has more
        events waiting, until the next retry falls due, at most ``interval`` seconds."""
        self.deliver_once()
        if self.more:
            return 0.0
        due = self.next_due()
        if due is None:
            return interval
        return max(0.0, min(interval, (due - self.clock()).total_seconds()))

    def run(
        self,
        stop: threading.Event,
        wake: threading.Event | None = None,
        *,
        interval: float = INTERVAL,
    ) -> None:
        """Deliver until ``stop`` is set: a pass, then wait for ``wake`` (new events), the next
        due retry, or ``interval`` seconds, whichever comes first. A store that is down is
        tried again on the next pass."""
        wake = wake or threading.Event()
        self.stop = stop
        while not stop.is_set():
            wake.clear()
            wait = interval
            try:
                wait = self.step(interval)
            except TraceGraphError as exc:
                log.warning("hooks: delivery paused: %s", exc.message)
            if wait > 0:
                wake.wait(wait)
