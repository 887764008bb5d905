"""The hardware floor: a compiled breadth-first search (``scipy.sparse.csgraph``) over a CSR
copy of the genealogy edges held in memory, from integer node indices to integer indices.
No query language, no network, no strings: what the machine needs to walk the same edges."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from benchmarks.data import Dataset


class CsrFloor:
    def __init__(self, data: Dataset) -> None:
        self.data = data
        self.matrix = data.genealogy_csr()

    def closure(self, seed_indices: Sequence[int]) -> npt.NDArray[np.int32]:
        return self.data.reach_indices(seed_indices)
