"""Sets of integer ids as sorted numpy arrays, made by sorting.

numpy 2.x finds the distinct values of an integer array by hashing (`np.unique`,
`np.union1d`, `np.setdiff1d` without ``assume_unique``), which at a million ids is 50–85×
slower than sorting them (numpy issue #31969; 1.5 s against 18 ms for 2M ids on the
benchmark machine): common cause's walks at 1M devices spent half their time in it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Ids = npt.NDArray[np.int64]


def distinct(values: npt.ArrayLike) -> Ids:
    """The distinct values, sorted."""
    ordered = np.sort(np.asarray(values, dtype=np.int64))
    if len(ordered) < 2:
        return ordered
    first = np.empty(len(ordered), dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def minus(values: Ids, taken: Ids) -> Ids:
    """The values not in ``taken`` (both sorted and distinct), sorted."""
    if not len(taken) or not len(values):
        return values
    at = np.searchsorted(taken, values)
    np.minimum(at, len(taken) - 1, out=at)
    kept: Ids = values[taken[at] != values]
    return kept


def union(a: Ids, b: Ids) -> Ids:
    """The values in either (each sorted and distinct), sorted and distinct."""
    return distinct(np.concatenate([a, b]))
