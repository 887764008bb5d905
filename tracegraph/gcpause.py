"""Pausing Python's cyclic garbage collector around bulk work that builds many objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cycles_collected_after() -> Iterator[None]:
    """Pause the cyclic garbage collector while the block runs.

    An import, or loading a store file, builds hundreds of thousands of dicts and records that
    all live on and form no cycles, yet the collector walks them again and again as they pile
    up: a third of an embedded import's time at 131k records and more than half of a load.
    Reference counting frees everything as usual; only the search for cycles waits until the
    block is over (and is left off if it already was).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
