"""Common cause: the upstream entities the case devices share, ranked by how unlikely that
sharing is by chance (the risk-hotspot list, PRODUCT.md §4).

For every MaterialLot, Supplier, Batch, Equipment, Process and ChangeOrder upstream of at least
two cases: ``cases`` (case devices it reaches), ``exposure`` (population devices it reaches),
``rate`` = cases / exposure, and ``p_value`` = P(X >= cases) for X ~ Hypergeometric(population
N, K cases, ``exposure`` draws): how likely it is that ``exposure`` devices picked at random
from the population hold that many cases.

The whole analysis is a fixed handful of store calls whatever the number of candidates: one
``edges`` to the cases' parents and one walk upstream from them (`CountsExposure.upstream_each`,
or ``reach`` with ``each``), one `CountsExposure.batch_exposure` for every candidate's batches
and what they make, counted in the store (a store without that capability, or a product
filter, answers two more ``reach``), one ``nodes`` for the names of the ranked ones. Every
figure after that is computed over integer arrays: the (case, candidate) pairs, the sparse
sums of the exposures (`exposures`; docs/common-cause.md), one p-value per distinct (cases,
exposure) pair, the ranking and its Benjamini–Hochberg adjustment.

The exposures counted are remembered per live store, and kept in the embedded store's file
for the next process, until a write that may change one (`ExposureMemo`): the next analysis
counts only candidates it has not seen.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import weakref
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from tracegraph.errors import BadInput, NotFound, StoreError
from tracegraph.model import (
    GENEALOGY,
    MAKING,
    OUTPUT,
    Direction,
    EntityType,
    Key,
    RelType,
    Severity,
    iso,
    key_type,
)
from tracegraph.store.base import (
    EXPOSURE_STAMPED,
    CountsExposure,
    FollowsExposures,
    GraphStore,
    KeepsExposures,
    ReadsAuditHead,
    StampsExposure,
    StoredEdge,
    live_store,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from scipy.sparse import csr_matrix

#: The upstream entity types that can be a common cause (PRODUCT.md §4).
CANDIDATE_TYPES: Final[frozenset[EntityType]] = frozenset(
    {
        EntityType.MaterialLot,
        EntityType.Supplier,
        EntityType.Batch,
        EntityType.Equipment,
        EntityType.Process,
        EntityType.ChangeOrder,
    }
)

#: An entity must reach at least this many cases to be ranked: one case shares nothing.
MIN_CASES: Final = 2

#: p-values are kept to this many significant digits, so that mathematically equal values
#: (computed from different inputs) tie and fall through to the next sort key.
P_DIGITS: Final = 12

ALL_DEVICES: Final = "all devices"

#: The candidate types that carry a name (a change order's title). Lots and batches have none,
#: so their nodes are not read for one: most candidates are lots.
NAMED_TYPES: Final[frozenset[EntityType]] = frozenset(
    {EntityType.Supplier, EntityType.Equipment, EntityType.Process, EntityType.ChangeOrder}
)


@dataclass(frozen=True)
class Hotspot:
    """One ranked upstream entity."""

    key: str
    name: str | None
    case_devices: tuple[str, ...]
    exposure: int
    p_value: float
    #: With ``units=True``: how many units (`units_of`) it reaches, and the p-value of its
    #: cases among them.
    unit_exposure: int | None = None
    unit_p_value: float | None = None
    #: ``p_value`` adjusted for the number of candidates tested (every entity ranked), by
    #: Benjamini–Hochberg: the false discovery rate at which this entity would be called.
    p_adjusted: float | None = None
    #: With ``units=True``: ``unit_p_value`` adjusted the same way.
    unit_p_adjusted: float | None = None

    @property
    def type(self) -> EntityType:
        return key_type(self.key)

    @property
    def cases(self) -> int:
        return len(self.case_devices)

    @property
    def rate(self) -> float:
        return self.cases / self.exposure

    def as_json(self) -> dict[str, Any]:
        out = {
            "key": self.key,
            "type": str(self.type),
            "name": self.name,
            "cases": self.cases,
            "exposure": self.exposure,
            "rate": self.rate,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "case_devices": list(self.case_devices),
        }
        if self.unit_exposure is not None:
            out["unit_exposure"] = self.unit_exposure
            out["unit_rate"] = self.cases / self.unit_exposure
            out["unit_p_value"] = self.unit_p_value
            out["unit_p_adjusted"] = self.unit_p_adjusted
        return out


@dataclass(frozen=True)
class CommonCauseResult:
    cases: list[str]
    population: int
    population_scope: str
    filters: dict[str, Any]
    complaints: int
    upstream: int
    ranking: list[Hotspot]
    #: With ``units=True``: how many units the population holds (`units_of`).
    units: int | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cases": list(self.cases),
            "population": self.population,
            "population_scope": self.population_scope,
            "filters": dict(self.filters),
            "ranking": [h.as_json() for h in self.ranking],
            "counts": {
                "cases": len(self.cases),
                "population": self.population,
                "complaints": self.complaints,
                "upstream": self.upstream,
                "ranked": len(self.ranking),
            },
            # Every ranked entity is a hypothesis tested: p_adjusted accounts for how many.
            "p_adjustment": f"Benjamini-Hochberg over the {len(self.ranking)} candidates ranked",
        }
        if self.units is not None:
            out["units"] = self.units
            out["counts"]["units"] = self.units
        return out


def p_value(cases: int, exposure: int, population: int, total_cases: int) -> float:
    """P(X >= cases), X ~ Hypergeometric(population, total_cases, exposure), to P_DIGITS."""
    return p_values([cases], [exposure], population, total_cases)[0]


def p_values(
    cases: Sequence[int], exposures: Sequence[int], population: int, total_cases: int
) -> list[float]:
    """`p_value` of each (cases, exposure) pair, in one vectorised call: the same values, as
    scipy evaluates the same ufunc element by element."""
    import numpy as np

    if not len(cases):
        return []
    counted = np.asarray(cases, dtype=np.int64)
    return list(
        _p_array(counted, np.asarray(exposures, dtype=np.int64), population, total_cases).tolist()
    )


def _p_array(
    cases: npt.NDArray[np.int64],
    exposures: npt.NDArray[np.int64],
    population: int,
    total_cases: int,
) -> npt.NDArray[np.float64]:
    """`p_values` as an array. Each distinct pair is evaluated once: scipy's hypergeometric
    tail costs ~0.15 ms an element up to 104,729 devices (Boost factorises the binomials
    into primes up to there), and candidates that reach the same batches share their pair
    (33,202 candidates, 5,154 pairs for 1,000 cases at 100k devices)."""
    import numpy as np

    if not len(cases):
        return np.zeros(0)
    pairs = np.stack([cases - 1, exposures], axis=1)
    distinct, where = np.unique(pairs, axis=0, return_inverse=True)
    sf = _tails(distinct[:, 0], distinct[:, 1], population, total_cases)
    return _rounded(np.clip(sf, 0.0, 1.0))[where.reshape(-1)]


#: Distinct (cases, exposure) pairs per thread, at least, before the tail is split between
#: threads: below it a thread costs more than it saves.
PAIRS_PER_THREAD: Final = 512


def _tails(
    below: npt.NDArray[np.int64],
    exposures: npt.NDArray[np.int64],
    population: int,
    total_cases: int,
) -> npt.NDArray[np.float64]:
    """P(X > below) for X ~ Hypergeometric(population, total_cases, exposure), pair by pair:
    scipy's ufunc, which lets go of Python's lock, on as many threads as this process may
    run on (an element's value does not depend on the others, so they are the same values;
    5,154 pairs at 100k devices took 0.86 s on one core, 0.43 s on two)."""
    # scipy.stats takes most of a second to import: only the analysis pays for it, not every
    # start of the command line.
    import numpy as np
    from scipy.stats import hypergeom

    threads = min(_cores(), len(below) // PAIRS_PER_THREAD)
    if threads < 2:
        return np.asarray(hypergeom.sf(below, population, total_cases, exposures))

    def part(i: int) -> npt.NDArray[np.float64]:
        # Interleaved, so that each thread gets as many of the dear, large exposures.
        mine = slice(i, None, threads)
        return np.asarray(hypergeom.sf(below[mine], population, total_cases, exposures[mine]))

    out = np.empty(len(below), dtype=np.float64)
    with ThreadPoolExecutor(threads, thread_name_prefix="tracegraph-p") as pool:
        for i, values in enumerate(pool.map(part, range(threads))):
            out[i::threads] = values
    return out


def _cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def upstream_of_each(store: GraphStore, cases: Sequence[str]) -> dict[str, set[str]]:
    """Each case's upstream genealogy closure, for two store calls: the edges into the cases,
    then one closure per distinct parent. A node's closure is its parents and their closures,
    and the cases of one batch share that batch (a device's parents are the batch that
    produced it and the devices installed in it), so each batch's closure is taken and sent
    once, not once per case: at S, 1,000 cases have fewer than 100 parents. (The walk from a
    case is then bounded at MAX_HOPS + 1 hops, not MAX_HOPS; genealogies are far shallower.)
    Cases with no parent are left out."""
    parents, above = _parents_and_above(store, cases)
    out = {}
    for case, mine in parents.items():
        upstream = set(mine)
        for parent in mine:
            upstream |= above.get(parent, set())
        out[case] = upstream
    return out


def _parents_and_above(
    store: GraphStore, cases: Sequence[str]
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The parents of each case (cases without one left out), and each parent's upstream."""
    parents: dict[str, set[str]] = {}
    for edge in store.edges(cases, GENEALOGY, Direction.up, props=False):
        parents.setdefault(edge.dst, set()).add(edge.src)
    above = store.reach(sorted(set().union(*parents.values())), GENEALOGY, Direction.up, each=True)
    return parents, above


@dataclass(frozen=True)
class _Incidence:
    """Which candidates reach which cases, as index arrays: the candidates (the entities of a
    candidate type upstream of at least `MIN_CASES` cases) sorted by key, and for candidate j
    the indices, into the sorted cases, of those it reaches: ``cases[indptr[j]:indptr[j+1]]``,
    ascending."""

    candidates: list[str]
    indptr: npt.NDArray[np.int64]
    cases: npt.NDArray[np.int64]
    #: Distinct candidate-type entities upstream of any case (ranked or not).
    upstream: int

    @property
    def counts(self) -> npt.NDArray[np.int64]:
        import numpy as np

        return np.diff(self.indptr)


def _incidence(store: GraphStore, cases: Sequence[str]) -> _Incidence:
    """`upstream_of_each`, inverted: per candidate, the cases it reaches. The candidate-type
    keys of each parent's closure are picked out once per parent (cases of one batch share
    it), numbered, and the (case, candidate) pairs sorted as integers."""
    import numpy as np

    parents: dict[str, set[str]] = {}
    for edge in store.edges(cases, GENEALOGY, Direction.up, props=False):
        parents.setdefault(edge.dst, set()).add(edge.src)
    above = sorted(set().union(*parents.values()))
    if isinstance(store, CountsExposure):
        keys, each = store.upstream_each(above, CANDIDATE_TYPES)
    else:
        keys, each = _numbered(store.reach(above, GENEALOGY, Direction.up, each=True))
    number = {k: i for i, k in enumerate(keys)}
    wanted = tuple(f"{t}:" for t in CANDIDATE_TYPES)
    picked: dict[str, npt.NDArray[np.int64]] = {}
    for parent in above:
        mine = list(each.get(parent, ()))
        if parent.startswith(wanted):
            mine.append(number.setdefault(parent, len(number)))
        picked[parent] = np.asarray(mine, dtype=np.int64)
    where = {case: i for i, case in enumerate(cases)}
    links = [(where[case], picked[p]) for case, ps in parents.items() for p in ps]
    lengths = np.fromiter((len(cols) for _, cols in links), dtype=np.int64, count=len(links))
    row = np.repeat(np.fromiter((i for i, _ in links), dtype=np.int64, count=len(links)), lengths)
    col = np.concatenate([cols for _, cols in links]) if links else np.zeros(0, dtype=np.int64)
    # A case reaches an entity through each of its parents above it: count it once.
    pair = np.sort(row * max(len(number), 1) + col)
    pair = pair[np.concatenate(([True], pair[1:] != pair[:-1]))] if len(pair) else pair
    row, col = pair // max(len(number), 1), pair % max(len(number), 1)
    keys = list(number)
    counts = np.bincount(col, minlength=len(keys))
    chosen = sorted(np.flatnonzero(counts >= MIN_CASES).tolist(), key=keys.__getitem__)
    rank = np.full(len(keys), -1, dtype=np.int64)
    rank[chosen] = np.arange(len(chosen))
    col = rank[col]
    keep = col >= 0
    row, col = row[keep], col[keep]
    order = np.lexsort((row, col))
    indptr = np.zeros(len(chosen) + 1, dtype=np.int64)
    np.cumsum(np.bincount(col, minlength=len(chosen)), out=indptr[1:])
    return _Incidence([keys[i] for i in chosen], indptr, row[order], len(keys))


def _numbered(
    closures: Mapping[str, set[str]],
) -> tuple[list[str], dict[str, list[int]]]:
    """`CountsExposure.upstream_each` from whole closures: the candidate-type keys numbered."""
    wanted = tuple(f"{t}:" for t in CANDIDATE_TYPES)
    number: dict[str, int] = {}
    each = {
        seed: [number.setdefault(k, len(number)) for k in keys if k.startswith(wanted)]
        for seed, keys in closures.items()
    }
    return list(number), each


def exposures(
    store: GraphStore, candidates: Sequence[str], members: Collection[str] | None = None
) -> dict[str, int]:
    """How many devices (of ``members``, if given) each candidate reaches downstream over the
    genealogy: the same numbers as one closure per candidate, for two store calls.

    In the genealogy a device is entered only from a batch (PRODUCED) or another device
    (INSTALLED_IN), and no path from a candidate to a batch runs through a device. So the
    devices a candidate c reaches are ``made(b)`` for the batches b in B(c), where B(c) is c
    (if a batch) and the batches c reaches over MAKING edges alone (a walk over lots and
    batches, a few per cent of the nodes), and made(b) is what b reaches over OUTPUT edges:
    the devices it produced and those they are installed in. made(b) is read once per
    distinct batch, by `CountsExposure.batch_exposure` where the store has it: the devices
    no other batch can reach (their one way in is a PRODUCED edge from b: nearly all) as a
    number, the others grouped in the store. With ``members`` (a product's devices) the keys
    are needed to intersect, and on a store without `CountsExposure`, each made(b) is read
    whole (`GraphStore.reach`); a device in only one of them is counted like a sole one.

    The devices that are not counted per batch are grouped by the set of batches that reach
    them (their *signature*: a monitor and the batch of the module installed in it); a
    candidate reaches a group's devices if it reaches any batch of its signature. The sums
    over each candidate's batches and groups are two sparse products (`_Outputs`).
    """
    counted = _exposures(store, candidates, members, None)[0]
    return dict(zip(candidates, counted.tolist(), strict=True))


@dataclass(frozen=True)
class _Outputs:
    """What the batches make, for the sums: per batch, how many devices only it reaches
    (``sole``); and the other devices grouped by the set of batches that reach them, as a
    batch x group incidence (``groups``) with each group's size (``weight``)."""

    sole: npt.NDArray[np.int64]
    groups: csr_matrix
    weight: npt.NDArray[np.int64]

    @classmethod
    def grouped(cls, sole: Sequence[int], groups: Iterable[tuple[Sequence[int], int]]) -> _Outputs:
        """From each batch's count of sole devices (batch i's at i) and the groups of the
        others: the batches that reach them (sorted), and how many they are."""
        import numpy as np
        from scipy.sparse import csr_matrix

        sizes = Counter[tuple[int, ...]]()
        for batches, devices in groups:
            sizes[tuple(batches)] += devices
        signatures = list(sizes)
        lengths = np.fromiter(map(len, signatures), dtype=np.int64, count=len(signatures))
        batch = np.fromiter(
            (b for sig in signatures for b in sig), dtype=np.int64, count=int(lengths.sum())
        )
        group = np.repeat(np.arange(len(signatures), dtype=np.int64), lengths)
        incidence = csr_matrix(
            (np.ones(len(batch), dtype=np.int64), (batch, group)),
            shape=(len(sole), len(signatures)),
        )
        weight = np.fromiter(sizes.values(), dtype=np.int64, count=len(sizes))
        return cls(np.asarray(sole, dtype=np.int64), incidence, weight)

    @classmethod
    def of(cls, sole: Sequence[int], shared: Sequence[Iterable[str]]) -> _Outputs:
        """From each batch's count of sole devices and keys of the others (batch i's at i)."""
        owners: dict[str, list[int]] = {}
        for i, keys in enumerate(shared):
            for device in keys:
                owners.setdefault(device, []).append(i)
        # The batches are numbered in order, so each signature comes out sorted.
        return cls.grouped(sole, ((tuple(mine), 1) for mine in owners.values()))

    @classmethod
    def whole(cls, made: Sequence[set[str]], members: Collection[str] | None) -> _Outputs:
        """From each batch's whole made(b) (of ``members`` only, if given): a device only one
        batch reaches is counted as sole."""
        if members is not None:
            made = [reached.intersection(members) for reached in made]
        owners = Counter(d for mine in made for d in mine)
        sole = [sum(1 for d in mine if owners[d] == 1) for mine in made]
        return cls.of(sole, [[d for d in mine if owners[d] > 1] for mine in made])

    def exposure(self, reach: csr_matrix) -> npt.NDArray[np.int64]:
        """Per row of ``reach`` (candidate x batch, 1 where the candidate reaches the batch):
        the devices of its batches, each counted once."""
        import numpy as np

        out = np.asarray(reach @ self.sole, dtype=np.int64)
        if self.weight.size:
            hit = reach @ self.groups  # a stored entry per group that a candidate reaches
            hit.data = self.weight[hit.indices]
            out = out + np.asarray(hit.sum(axis=1), dtype=np.int64).ravel()
        return out


def _exposures(
    store: GraphStore,
    candidates: Sequence[str],
    members: Collection[str] | None,
    units: Collection[str] | None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64] | None]:
    """`exposures` of the candidates in order, and with ``units`` also how many of those each
    reaches (None without): both from the same made(b), read whole once when units are asked
    for."""
    if members is None and units is None and isinstance(store, CountsExposure):
        return REMEMBERED.exposures(store, candidates)[0], None
    # Only the batches of each making closure: its lots are walked through, not sent.
    making = store.reach(candidates, MAKING, Direction.down, target=EntityType.Batch, each=True)
    number: dict[str, int] = {}
    rows: list[list[int]] = []
    for c in candidates:
        reached = making.get(c)
        row = [] if reached is None else [number.setdefault(b, len(number)) for b in reached]
        if reached is not None and key_type(c) is EntityType.Batch and c not in reached:
            row.append(number.setdefault(c, len(number)))
        rows.append(row)
    reach = _reach_matrix(rows, len(number))
    batches = list(number)
    whole = store.reach(batches, OUTPUT, Direction.down, each=True)
    made = [whole.get(b, set()) for b in batches]
    exposure = _Outputs.whole(made, members).exposure(reach)
    if units is None:
        return exposure, None
    return exposure, _Outputs.whole(made, units).exposure(reach)


def _counted_exposures(
    store: CountsExposure, candidates: Sequence[str], installed: bool
) -> tuple[dict[str, int], dict[str, int]]:
    """`exposures` over every device, from the store's `CountsExposure.batch_exposure`; with
    ``installed``, also how many of those devices are installed in another (else empty)."""
    parts = (
        store.batch_exposure(candidates, installed=True)
        if installed
        else store.batch_exposure(candidates)
    )
    mine = [parts.batches.get(c, ()) for c in candidates]
    reach = _reach_matrix(mine, len(parts.sole))
    counted = _Outputs.grouped(parts.sole, parts.groups).exposure(reach)
    if not installed:
        return dict(zip(candidates, counted.tolist(), strict=True)), {}
    inside = _Outputs.grouped(parts.sole_installed, parts.installed_groups).exposure(reach)
    return (
        dict(zip(candidates, counted.tolist(), strict=True)),
        dict(zip(candidates, inside.tolist(), strict=True)),
    )


class ExposureMemo:
    """Each candidate's exposure over every device, remembered per live store until the
    store changes.

    An exposure is a property of the graph, not of the cases: the suppliers, processes and
    equipment of one complaint cluster are those of the next, and they are the dear part
    (a supplier makes thousands of batches: the store's two walks were 4.6 of the 6.6 s of
    1,000 cases at 1M devices). So what was counted is kept with a stamp that any write
    which may change an exposure moves, from this process or another (`_state`: the store's
    `StampsExposure.exposure_stamp`, one or two indexed reads, or the head of its audit
    chain), and a later analysis under the same stamp counts only the candidates it has not
    seen: complaints and service events come in, the exposures stay. A store that keeps
    them (`KeepsExposures`: the embedded store, in its file) hands them to the next process
    too: each `tracegraph common-cause` command is one. A view as of a time after the last
    write shares its store's (`_state`); an older view, and a store that cannot read its
    head alone, count every time; so does a product filter (its exposures depend on the
    population). With ``units``, how many of each candidate's devices are installed in
    another is remembered beside its exposure. At most `LIMIT` exposures are remembered per
    store."""

    LIMIT: Final = 2_000_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: weakref.WeakKeyDictionary[object, _Remembered] = weakref.WeakKeyDictionary()

    def exposures(
        self, store: CountsExposure, candidates: Sequence[str], installed: bool = False
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64] | None]:
        """`exposures` of the candidates in order, from what is remembered where it can be:
        in this process, else in the store (`KeepsExposures`), else counted; with
        ``installed``, also how many of those devices are installed in another (else None)."""
        import numpy as np

        state = _state(store)
        known = _Remembered("", {}, {}, None)
        devices: dict[str, int] = {}  # kept by the store, or counted now
        inside: dict[str, int] = {}
        missing = list(candidates)

        def lacking(c: str, mine: dict[str, int], mine_inside: dict[str, int]) -> bool:
            return c not in mine or (installed and c not in mine_inside)

        if state is not None:
            owner, stamp = state
            known = self._current(owner, stamp) or known
            missing = [c for c in candidates if lacking(c, known.devices, known.installed)]
            if missing and isinstance(owner, KeepsExposures):
                for key, (n, n_inside) in owner.kept_exposures(stamp, missing).items():
                    devices[key] = n
                    if n_inside is not None:
                        inside[key] = n_inside
                missing = [c for c in missing if lacking(c, devices, inside)]
        counted, counted_inside = (
            _counted_exposures(store, missing, installed) if missing else ({}, {})
        )
        devices.update(counted)
        inside.update(counted_inside)
        # Remembered under the stamp read before counting. A write that landed meanwhile may
        # be in these counts: where the store grows what is remembered by the writes after a
        # stamp (`_current`), they are remembered only if no write moved it (else the write's
        # devices would be counted twice); elsewhere the moved stamp makes the next analysis
        # count again.
        if devices and state is not None and not (counted and _overtaken(owner, stamp)):
            if counted and isinstance(owner, KeepsExposures):
                owner.keep_exposures(
                    stamp, {c: (n, counted_inside.get(c)) for c, n in counted.items()}
                )
            with self._lock:
                last = self._known.get(owner)
                if (
                    last is None
                    or last.stamp != stamp
                    or len(last.devices) + len(devices) > self.LIMIT
                ):
                    last = _Remembered(stamp, {}, {}, None)  # another state's, or too many
                    self._known[owner] = last
                last.devices.update(devices)
                last.installed.update(inside)

        def column(mine: dict[str, int], theirs: dict[str, int]) -> npt.NDArray[np.int64]:
            return np.fromiter(
                (mine[c] if c in mine else theirs[c] for c in candidates),
                dtype=np.int64,
                count=len(candidates),
            )

        return (
            column(devices, known.devices),
            column(inside, known.installed) if installed else None,
        )

    def installed_count(self, store: CountsExposure) -> int:
        """`CountsExposure.installed_count`, remembered like the exposures (not kept)."""
        state = _state(store)
        if state is None:
            return store.installed_count()
        owner, stamp = state
        current = self._current(owner, stamp)
        if current is not None and current.installed_count is not None:
            return current.installed_count
        n = store.installed_count()
        if _overtaken(owner, stamp):  # (see `exposures`)
            return n
        with self._lock:
            last = self._known.get(owner)
            if last is None or last.stamp != stamp:
                last = _Remembered(stamp, {}, {}, None)
                self._known[owner] = last
            last.installed_count = n
        return n

    def _current(self, owner: object, stamp: str) -> _Remembered | None:
        """What is remembered of ``owner`` under ``stamp``: as remembered, or grown from an
        earlier stamp by the writes the store object followed (`FollowsExposures`); None
        where neither."""
        with self._lock:
            last = self._known.get(owner)
        if last is None or last.stamp == stamp:
            return last
        if not (
            isinstance(owner, FollowsExposures)
            and last.stamp.startswith(EXPOSURE_STAMPED)
            and stamp.startswith(EXPOSURE_STAMPED)
        ):
            return None
        growth = owner.exposure_growth(
            last.stamp.removeprefix(EXPOSURE_STAMPED), stamp.removeprefix(EXPOSURE_STAMPED)
        )
        if growth is None:
            return None
        gained = growth.gained
        grown = _Remembered(
            stamp,
            {k: n + gained[k][0] if k in gained else n for k, n in last.devices.items()},
            {k: n + gained[k][1] if k in gained else n for k, n in last.installed.items()},
            None if last.installed_count is None else last.installed_count + growth.installed,
        )
        with self._lock:
            if self._known.get(owner) is last:
                self._known[owner] = grown
        return grown

    def forget(self, store: object) -> None:
        """Count everything again on the next analysis of ``store`` (as a write would): drop
        what this process remembers and what the store keeps."""
        with self._lock:
            self._known.pop(store, None)
        if isinstance(store, KeepsExposures):
            store.forget_exposures()


@dataclass
class _Remembered:
    """What `ExposureMemo` holds of one store, under one stamp: each candidate's exposure,
    how many of those devices are installed in another (where asked), and how many devices
    are installed in another in all (once asked)."""

    stamp: str
    devices: dict[str, int]
    installed: dict[str, int]
    installed_count: int | None


def _state(store: object) -> tuple[ReadsAuditHead, str] | None:
    """Where a store's exposures are remembered, and under which stamp: its live store's
    (`live_store`: itself, or the store a view after its last write reads), under its
    `StampsExposure.exposure_stamp` (which only a write that may change an exposure moves),
    or its audit head (which every write moves). None for an older view, or a store that
    cannot read its head alone: those count every time."""
    live = live_store(store)
    return None if live is None else (live, _stamp(live))


def _overtaken(owner: ReadsAuditHead, stamp: str) -> bool:
    """Whether a write moved ``owner``'s stamp since ``stamp`` was read, asked only of a store
    that grows remembered exposures (`FollowsExposures`): elsewhere a moved stamp is never
    grown from, so no answer is needed (nor the read)."""
    return isinstance(owner, FollowsExposures) and _stamp(owner) != stamp


def _stamp(store: ReadsAuditHead) -> str:
    if isinstance(store, StampsExposure):
        return EXPOSURE_STAMPED + store.exposure_stamp()
    return "head:" + store.audit_head()


#: The exposures remembered in this process (`ExposureMemo`).
REMEMBERED: Final = ExposureMemo()


def _reach_matrix(rows: Sequence[Sequence[int]], batches: int) -> csr_matrix:
    """Candidate x batch, 1 where the candidate makes the batch (row i: candidate i's batch
    numbers, each once)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, rows), dtype=np.int64, count=len(rows)), out=indptr[1:])
    columns = np.fromiter((b for row in rows for b in row), dtype=np.int64, count=int(indptr[-1]))
    return csr_matrix(
        (np.ones(len(columns), dtype=np.int64), columns, indptr), shape=(len(rows), batches)
    )


def _device_count(store: GraphStore) -> int:
    if isinstance(store, CountsExposure):
        return store.device_count()
    return len(store.keys_of_type(EntityType.Device))


def _severity(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(Severity(value))
    except ValueError:
        raise BadInput(
            f"severity {value!r}: not one of {', '.join(s.value for s in Severity)}"
        ) from None


def _product_key(store: GraphStore, value: str) -> str:
    """A product given by id (``P-PRO12``) or key (``Product:P-PRO12``)."""
    text = value.strip()
    if not text:
        raise BadInput("product: empty; give a Product id or key")
    key = text if text.startswith(f"{EntityType.Product}:") else f"{EntityType.Product}:{text}"
    if not store.existing([key]):
        kind, sep, _ = text.partition(":")
        if sep and kind in EntityType.__members__:
            raise BadInput(f"product {text!r}: a {kind}, not a Product")
        raise NotFound(f"{key}: no such product in the store")
    return key


def _listed_devices(store: GraphStore, devices: Iterable[str]) -> list[str]:
    keys = sorted({str(Key.parse(d)) for d in devices})
    for key in keys:
        if key_type(key) is not EntityType.Device:
            raise BadInput(f"{key}: not a Device; common cause takes case device keys")
    missing = sorted(set(keys) - store.existing(keys))
    if missing:
        raise NotFound(
            f"{missing[0]}: no such node in the store"
            + (f" (and {len(missing) - 1} more unknown keys)" if len(missing) > 1 else "")
        )
    return keys


def _product_devices(store: GraphStore, product: str) -> set[str]:
    """The devices built in the product's batches (Product -HAS_BATCH-> Batch -PRODUCED->)."""
    batches = [e.dst for e in store.edges([product], [RelType.HAS_BATCH], Direction.down)]
    return {e.dst for e in store.edges(batches, [RelType.PRODUCED], Direction.down)}


def units_of(store: GraphStore, members: Collection[str] | None, cases: Iterable[str]) -> set[str]:
    """The units of the population (``members``, or every device): its devices that are not
    installed in another device, and every case. A unit is what is sold, shipped and
    complained about; a serialised component installed in it (an acquisition module in a
    monitor) reaches the field only inside it. Counted among all devices, an entity that made
    every finished unit reaches only part of the population, and its cases look far more
    than chance (p = 1.6e-31 at 20,000 devices); among the units it reaches them all (p = 1).
    One ``edges`` call, without properties."""
    devices = members if members is not None else store.keys_of_type(EntityType.Device)
    installed = {
        link.src
        for link in store.edges(devices, [RelType.INSTALLED_IN], Direction.down, props=False)
    }
    return (set(devices) - installed) | set(cases)


def _complaints(
    store: GraphStore, severity: str | None, start: dt.datetime | None, end: dt.datetime | None
) -> list[StoredEdge]:
    """The HAS_COMPLAINT edges (device -> complaint) of the complaints matching the filters."""
    complaints = store.nodes(store.keys_of_type(EntityType.Complaint))
    matching = [
        key
        for key, node in complaints.items()
        if (severity is None or node.props.get("severity") == severity)
        and (start is None or node.props["reported_at"] >= start)
        and (end is None or node.props["reported_at"] <= end)
    ]
    return store.edges(matching, [RelType.HAS_COMPLAINT], Direction.up)


def common_cause(
    store: GraphStore,
    devices: Sequence[str] = (),
    *,
    severity: str | None = None,
    product: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    units: bool = False,
) -> CommonCauseResult:
    """Rank the upstream entities the case devices share (see the module docstring).

    The cases are the listed ``devices``, or, with none listed, every device with a complaint
    whose severity is ``severity`` and whose ``reported_at`` lies in [start, end]. ``product``
    narrows the population (and so the cases) to the devices built in that product's batches.
    With ``units``, every ranked entity also says how many units (`units_of`) it reaches and
    the p-value of its cases among the units (`Hotspot.unit_p_value`), from the same walk;
    the ranking is the same. Over every device, a store that counts gives the units as
    numbers (its installed devices, and each candidate's), not as keys.
    """
    import numpy as np

    wanted_severity = _severity(severity)
    if devices and (severity is not None or start is not None or end is not None):
        raise BadInput(
            "give case devices or complaint filters (severity, from, to), not both; "
            "product may go with either"
        )
    if start is not None and end is not None and start > end:
        raise BadInput(f"from {iso(start)} is after to {iso(end)}")
    product_key = _product_key(store, product) if product is not None else None
    listed = _listed_devices(store, devices) if devices else None

    members = _product_devices(store, product_key) if product_key is not None else None
    population = len(members) if members is not None else _device_count(store)

    if listed is not None:
        cases = listed
        complaints = 0
        if members is not None:
            outside = [d for d in cases if d not in members]
            if outside:
                raise BadInput(
                    f"{outside[0]}: not a device of {product_key}; the population "
                    "must hold every case"
                )
    else:
        edges = [
            e
            for e in _complaints(store, wanted_severity, start, end)
            if members is None or e.src in members
        ]
        cases = sorted({e.src for e in edges})
        complaints = len({e.dst for e in edges})

    filters = {
        "devices": listed,
        "severity": wanted_severity,
        "product": product_key,
        "from": iso(start) if start is not None else None,
        "to": iso(end) if end is not None else None,
    }
    scope = product_key or ALL_DEVICES

    # The units among every device are counted, not listed, where the store counts: every
    # device less those installed in another, but for the cases (`units_of`).
    counted_units = units and members is None and isinstance(store, CountsExposure)
    field = units_of(store, members, cases) if units and not counted_units else None
    installed_cases: set[str] = set()
    unit_count = len(field) if field is not None else None
    if counted_units:
        assert isinstance(store, CountsExposure)
        installed_cases = {
            e.src for e in store.edges(cases, [RelType.INSTALLED_IN], Direction.down, props=False)
        }
        unit_count = population - REMEMBERED.installed_count(store) + len(installed_cases)

    def result(upstream: int, ranking: list[Hotspot]) -> CommonCauseResult:
        return CommonCauseResult(
            cases, population, scope, filters, complaints, upstream, ranking, units=unit_count
        )

    if len(cases) < MIN_CASES:
        return result(0, [])

    # Every case's upstream closure; then, per candidate, the cases it reaches.
    incidence = _incidence(store, cases)
    candidates = incidence.candidates
    if not candidates:
        return result(incidence.upstream, [])

    # Two queries for every candidate's exposure, whatever their number.
    if counted_units:
        assert isinstance(store, CountsExposure)
        exposure, inside = REMEMBERED.exposures(store, candidates, installed=True)
        assert inside is not None
        # Of the devices each reaches, those installed in another are no units, but for the
        # cases among them: the incidence says which cases each reaches.
        flags = np.fromiter((c in installed_cases for c in cases), dtype=np.bool_, count=len(cases))
        back = np.concatenate(([0], np.cumsum(flags[incidence.cases], dtype=np.int64)))
        unit_exposure: npt.NDArray[np.int64] | None = (
            exposure - inside + back[incidence.indptr[1:]] - back[incidence.indptr[:-1]]
        )
    else:
        exposure, unit_exposure = _exposures(store, candidates, members, field)

    names = store.nodes(k for k in candidates if key_type(k) in NAMED_TYPES)
    hits = incidence.counts
    short = np.flatnonzero(exposure < hits)
    if short.size:
        first = int(short[0])
        # A case is downstream of everything upstream of it; a store that says otherwise
        # is damaged, and a p-value computed from it would be meaningless.
        raise StoreError(
            f"{candidates[first]}: reaches {hits[first]} cases but only {exposure[first]} devices"
        )
    p = _p_array(hits, exposure, population, len(cases))
    unit_p = (
        _p_array(hits, unit_exposure, unit_count, len(cases))
        if unit_count is not None and unit_exposure is not None
        else None
    )
    # p ascending, then cases and rate descending, then key (the candidates are in key order).
    rate = hits / exposure
    order = np.lexsort((np.arange(len(candidates)), -rate, -hits, p))
    adjusted = _benjamini_hochberg(p[order])
    unit_adjusted: list[float | None] = [None] * len(candidates)
    if unit_p is not None:
        ranked_unit_p = unit_p[order]
        among = np.argsort(ranked_unit_p, kind="stable")
        unit_q = np.empty(len(candidates))
        unit_q[among] = _benjamini_hochberg(ranked_unit_p[among])
        unit_adjusted = list(unit_q.tolist())
    case_keys = np.asarray(cases, dtype=object)
    starts, case_index = incidence.indptr.tolist(), incidence.cases
    ranking = []
    for n, i in enumerate(order.tolist()):
        key = candidates[i]
        props = names[key].props if key in names else {}
        name = props.get("name", props.get("title"))
        ranking.append(
            Hotspot(
                key=key,
                name=str(name) if name is not None else None,
                case_devices=tuple(case_keys[case_index[starts[i] : starts[i + 1]]].tolist()),
                exposure=int(exposure[i]),
                p_value=float(p[i]),
                unit_exposure=int(unit_exposure[i]) if unit_exposure is not None else None,
                unit_p_value=float(unit_p[i]) if unit_p is not None else None,
                p_adjusted=float(adjusted[n]),
                unit_p_adjusted=unit_adjusted[n],
            )
        )
    return result(incidence.upstream, ranking)


def benjamini_hochberg(p: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values) of p-values sorted ascending: for the
    i-th of m, the least of p_j · m / j over j >= i, at most 1 (monotone, as the i-th would be
    called at that false discovery rate)."""
    import numpy as np

    return list(_benjamini_hochberg(np.asarray(p, dtype=np.float64)).tolist())


def _benjamini_hochberg(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """`benjamini_hochberg` over an array: the same floating-point operations, in numpy."""
    import numpy as np

    m = len(p)
    if not m:
        return np.zeros(0)
    scaled = p * m / np.arange(1, m + 1)
    least = np.minimum(np.minimum.accumulate(scaled[::-1]), 1.0)[::-1]
    return _rounded(least)


def _rounded(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each value to `P_DIGITS` significant digits, formatting each distinct value once."""
    import numpy as np

    distinct, where = np.unique(values, return_inverse=True)
    kept = np.array([float(f"{v:.{P_DIGITS}g}") for v in distinct.tolist()], dtype=np.float64)
    return kept[where.reshape(-1)]
