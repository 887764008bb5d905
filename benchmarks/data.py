"""The benchmark's data: the generator's records as a JSON Lines file, and the same graph as
integer arrays (node index, edge lists) for the loaders that need no parsing (PostgreSQL's
COPY, the CSR copy of the hardware floor) and for choosing probes by measuring reach.
"""

from __future__ import annotations

import hashlib
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

import tracegraph.generate
from tracegraph.generate import generate
from tracegraph.model import GENEALOGY, EntityType, RelType

ENTITY_TYPES: tuple[EntityType, ...] = tuple(EntityType)
REL_TYPES: tuple[RelType, ...] = tuple(RelType)
GENEALOGY_CODES: tuple[int, ...] = tuple(REL_TYPES.index(r) for r in GENEALOGY)
DEVICE_CODE = ENTITY_TYPES.index(EntityType.Device)

IntArray = npt.NDArray[np.int32]
ByteArray = npt.NDArray[np.uint8]


@dataclass
class Dataset:
    """The generated graph: the JSON Lines file and its nodes and edges as arrays."""

    path: Path
    records: int
    keys: list[str]
    index: dict[str, int]
    node_type: ByteArray
    src: IntArray
    dst: IntArray
    rel: ByteArray
    seconds: float
    _csr: dict[bool, csr_matrix] = field(default_factory=dict, repr=False)

    @property
    def nodes(self) -> int:
        return len(self.keys)

    @property
    def edges(self) -> int:
        return len(self.src)

    def type_count(self, type_: EntityType) -> int:
        return int(np.count_nonzero(self.node_type == ENTITY_TYPES.index(type_)))

    def keys_of(self, type_: EntityType) -> list[str]:
        code = ENTITY_TYPES.index(type_)
        return [self.keys[i] for i in np.flatnonzero(self.node_type == code)]

    def genealogy_mask(self) -> npt.NDArray[np.bool_]:
        return np.isin(self.rel, np.array(GENEALOGY_CODES, dtype=np.uint8))

    def genealogy_csr(self, *, reverse: bool = False) -> csr_matrix:
        """The genealogy edges as a CSR adjacency matrix (downstream, or upstream if reverse)."""
        if reverse not in self._csr:
            mask = self.genealogy_mask()
            down_from, down_to = self.src[mask], self.dst[mask]
            rows, cols = (down_to, down_from) if reverse else (down_from, down_to)
            n = self.nodes
            data = np.ones(len(rows), dtype=np.int8)
            matrix = csr_matrix((data, (rows, cols)), shape=(n, n))
            matrix.sum_duplicates()
            self._csr[reverse] = matrix
        return self._csr[reverse]

    def reach_indices(
        self, starts: Sequence[int], *, reverse: bool = False
    ) -> npt.NDArray[np.int32]:
        """Node indices reachable from the starts in 1.. hops over genealogy (BFS in C)."""
        matrix = self.genealogy_csr(reverse=reverse)
        # The first node of each order is its start: a start is in the answer only if another
        # start reaches it (1.. hops, as every store counts).
        parts = [
            breadth_first_order(matrix, s, directed=True, return_predecessors=False)[1:]
            for s in starts
        ]
        if len(parts) == 1:
            return np.asarray(parts[0], dtype=np.int32)
        return np.unique(np.concatenate(parts)).astype(np.int32)

    def reach(self, seeds: Sequence[str], *, reverse: bool = False) -> npt.NDArray[np.int32]:
        return self.reach_indices([self.index[s] for s in seeds], reverse=reverse)

    def device_count(self, indices: npt.NDArray[np.int32]) -> int:
        return int(np.count_nonzero(self.node_type[indices] == DEVICE_CODE))

    def devices_in(self, indices: npt.NDArray[np.int32]) -> list[str]:
        return sorted(self.keys[i] for i in indices if self.node_type[i] == DEVICE_CODE)


def dataset_dir(root: Path, devices: int, seed: int) -> Path:
    return root / f"gen-{devices}-{seed}"


def generator_fingerprint() -> str:
    """A digest of the generator's source: a file made by another generator is made again
    (at 1M devices that takes seconds; measuring last run's data would not)."""
    source = Path(tracegraph.generate.__file__).read_bytes()
    return hashlib.sha256(source).hexdigest()[:16]


def _iter_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle


def load(root: Path, devices: int, seed: int, log: Any = print) -> Dataset:
    """Generate (or reuse) the JSON Lines file and read it into arrays.

    The file is kept under ``root`` (benchmarks/work/ by default), with a marker written last
    (the record count and `generator_fingerprint`), so an interrupted generation, or one by
    a generator since changed, is never reused.
    """
    folder = dataset_dir(root, devices, seed)
    path = folder / "data.jsonl"
    done = folder / "complete"
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    fingerprint = generator_fingerprint()
    generated = not done.exists() or done.read_text().split()[1:] != [fingerprint]
    keys: list[str] = []
    index: dict[str, int] = {}
    node_type = array("B")
    src = array("i")
    dst = array("i")
    rel = array("B")
    entity_code = {str(t): i for i, t in enumerate(ENTITY_TYPES)}
    rel_code = {str(t): i for i, t in enumerate(REL_TYPES)}
    records = 0

    def take(record: dict[str, Any]) -> None:
        kind = record["type"]
        code = entity_code.get(kind)
        if code is not None:
            key = f"{kind}:{record['id']}"
            if key not in index:
                index[key] = len(keys)
                keys.append(key)
                node_type.append(code)
        else:
            src.append(index[record["from"]])
            dst.append(index[record["to"]])
            rel.append(rel_code[kind])

    if generated:
        tmp = path.with_suffix(".partial")
        dumps = orjson.dumps
        with tmp.open("wb") as out:
            chunk: list[bytes] = []
            for record in generate(devices, seed):
                take(record)
                records += 1
                chunk.append(dumps(record))
                if len(chunk) >= 8192:
                    chunk.append(b"")
                    out.write(b"\n".join(chunk))
                    chunk.clear()
            if chunk:
                chunk.append(b"")
                out.write(b"\n".join(chunk))
        tmp.replace(path)
        done.write_text(f"{records}\n{fingerprint}\n")
    else:
        loads = orjson.loads
        for line in _iter_lines(path):
            take(loads(line))
            records += 1
    seconds = time.perf_counter() - started
    log(
        f"data: {devices:,} devices, seed {seed}: {records:,} records, {len(keys):,} nodes, "
        f"{len(src):,} edges ({'generated' if generated else 'read'} in {seconds:.1f} s)"
    )
    return Dataset(
        path=path,
        records=records,
        keys=keys,
        index=index,
        node_type=np.frombuffer(node_type, dtype=np.uint8).copy(),
        src=np.frombuffer(src, dtype=np.int32).copy(),
        dst=np.frombuffer(dst, dtype=np.int32).copy(),
        rel=np.frombuffer(rel, dtype=np.uint8).copy(),
        seconds=seconds if generated else 0.0,
    )


def chunks_of_lines(path: Path, size: int, limit: int | None = None) -> Iterator[list[bytes]]:
    """The file's lines in chunks of ``size`` (the first ``limit`` lines only, if given)."""
    chunk: list[bytes] = []
    for count, line in enumerate(_iter_lines(path)):
        if limit is not None and count >= limit:
            break
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
