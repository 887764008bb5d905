"""The hardware floor: a breadth-first search over a CSR copy of the genealogy edges held in
memory, from integer node indices to integer indices. No query language, no network, no
strings: what the machine needs to walk the same edges.

Each call costs O(answer): the frontier is expanded level by level with numpy over the CSR
arrays (``indptr``, ``indices``), and the visited marks live in one array allocated once and
reset, after each call, at the indices that call set — never cleared or allocated over all
nodes (scipy's ``breadth_first_order`` allocates over all nodes per call: 38.7 ms for a
64-node probe at 1M devices).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from benchmarks.data import Dataset
from tracegraph.intsets import distinct

IntArray = npt.NDArray[np.int32]


class CsrFloor:
    def __init__(self, data: Dataset) -> None:
        self.data = data
        matrix = data.genealogy_csr()
        self.indptr: npt.NDArray[np.int64] = np.asarray(matrix.indptr, dtype=np.int64)
        self.indices: IntArray = np.asarray(matrix.indices, dtype=np.int32)
        self._seen = np.zeros(data.nodes, dtype=np.bool_)

    def closure(self, seed_indices: Sequence[int]) -> IntArray:
        """Node indices reachable from the seeds in 1.. hops (a seed only if another seed, or
        itself round a cycle, reaches it), in breadth-first order by level."""
        indptr, indices, seen = self.indptr, self.indices, self._seen
        frontier = np.unique(np.asarray(seed_indices, dtype=np.int32))
        levels: list[IntArray] = []
        try:
            while len(frontier):
                starts, ends = indptr[frontier], indptr[frontier + 1]
                lengths = ends - starts
                total = int(lengths.sum())
                if not total:
                    break
                # The positions of every successor of the frontier in `indices`, in one array.
                offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
                successors = indices[offsets + np.arange(total)]
                # Sorted, not hashed: numpy 2's np.unique hashes, ~50x slower at 1M ids.
                fresh = distinct(successors[~seen[successors]]).astype(np.int32)
                seen[fresh] = True
                levels.append(fresh)
                frontier = fresh
        finally:
            for level in levels:
                seen[level] = False
        if not levels:
            return np.empty(0, dtype=np.int32)
        return np.concatenate(levels)
