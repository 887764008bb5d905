"""The dashboard's data-quality panel, made once per state of the store and day.

A whole check reads every record: at 1M devices it takes about two minutes and 3.4 GB, and
each dashboard load ran one — two people opening the page ran two at once. `PanelCache`
keeps the last panel and makes a new one only when the store has changed (the head of its
audit chain: every write of records appends an entry) or the day has (the rules judge
expiries and "in the future" against the time they run, which the panel's ``as_of`` says).
Requests that ask while one is being made wait for it instead of starting their own.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from tracegraph.store.base import GENESIS, GraphStore, ReadsAuditHead

Panel = dict[str, Any]
Key = tuple[str, dt.date]


def audit_head(store: GraphStore) -> str:
    """The hash of the store's last audit entry (the chain's start if it has none)."""
    if isinstance(store, ReadsAuditHead):
        return store.audit_head()
    entries = store.audit_entries()
    return entries[-1].hash if entries else GENESIS


class PanelCache:
    def __init__(
        self,
        make: Callable[[GraphStore], Panel],
        today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date(),
    ) -> None:
        self._make = make
        self._today = today
        self._lock = threading.Lock()
        self._last: tuple[Key, Panel] | None = None
        self._flights: dict[Key, Future[Panel]] = {}

    def get(self, store: GraphStore) -> Panel:
        """The panel of the store as it is now: the last one made if nothing has changed."""
        key = (audit_head(store), self._today())
        with self._lock:
            if self._last is not None and self._last[0] == key:
                return self._last[1]
            flight = self._flights.get(key)
            leading = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
        if not leading:
            return flight.result()
        try:
            panel = self._make(store)
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        else:
            flight.set_result(panel)
            with self._lock:
                self._last = (key, panel)
            return panel
        finally:
            with self._lock:
                del self._flights[key]
