"""The app's one store: opened on first use, shared by every request, watched for outages.

- Opened lazily from the settings, so the API starts (and `/healthz` answers) while the store is
  still down, and a failed open is tried again on the next request.
- Requests run side by side on either store: the embedded store reads on one SQLite
  connection per thread (each read one WAL snapshot, never waiting for a writer), and the
  Neo4j driver pools connections. A write committed by another process (the command line) is
  what the next request reads.
- When the store was found unreachable (a request failed with `StoreUnavailable`, or
  `/readyz` did), the next request first pings it, which fails at once instead of waiting out
  the driver's retries: clients get 503 with Retry-After quickly, and the first request after
  the store is back goes through. Nothing needs restarting.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fastapi import Request

from tracegraph.errors import StoreUnavailable
from tracegraph.importer import ImportReport
from tracegraph.settings import Settings
from tracegraph.store import GraphStore, WriteRequest, open_store


class StoreGate:
    def __init__(
        self, settings: Settings, opener: Callable[[Settings], GraphStore] = open_store
    ) -> None:
        self.settings = settings
        self._opener = opener
        self._store: GraphStore | None = None
        self._opening = threading.Lock()
        self.down = False
        #: What runs after a write through the API has committed (the app sets the hook
        #: worker's, which records the write's outbound events off the request); None: nothing.
        self.after_write: Callable[[ImportReport, WriteRequest], None] | None = None

    @property
    def is_open(self) -> bool:
        """Whether the store was opened (by a request or `/readyz`) and is not known down."""
        return self._store is not None and not self.down

    def _open(self) -> GraphStore:
        with self._opening:
            if self._store is None:
                self._store = self._opener(self.settings)
            return self._store

    @contextmanager
    def use(self, as_of: dt.datetime | None = None) -> Iterator[GraphStore]:
        """The store (or its view as of a time) for one piece of work."""
        try:
            store = self._open()
            if self.down:
                store.ping()
                self.down = False
            yield store.at(as_of) if as_of is not None else store
        except StoreUnavailable:
            self.down = True
            raise

    def ready(self) -> str:
        """Ping the store; its kind if it answers, `StoreUnavailable` if not."""
        try:
            store = self._open()
            store.ping()
        except StoreUnavailable:
            self.down = True
            raise
        self.down = False
        return store.kind

    def close(self) -> None:
        with self._opening:
            if self._store is not None:
                self._store.close()
                self._store = None


def gate(request: Request) -> StoreGate:
    """The dependency that hands endpoints the app's store gate."""
    found: StoreGate = request.app.state.gate
    return found
