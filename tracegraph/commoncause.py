"""Common cause: the upstream entities the case devices share, ranked by how unlikely that
sharing is by chance (the risk-hotspot list, PRODUCT.md §4).

For every MaterialLot, Supplier, Batch, Equipment, Process and ChangeOrder upstream of at least
two cases: ``cases`` (case devices it reaches), ``exposure`` (population devices it reaches),
``rate`` = cases / exposure, and ``p_value`` = P(X >= cases) for X ~ Hypergeometric(population
N, K cases, ``exposure`` draws): how likely it is that ``exposure`` devices picked at random
from the population hold that many cases.

The whole analysis is a fixed handful of store calls whatever the number of candidates: one
``edges`` to the cases' parents and one ``reach`` (``each``) upstream from them
(`upstream_of_each`), one ``reach`` (``each``) over the making edges for all the candidates,
one ``output_each`` for the batches they reach (their devices, counted in the store; a store
without that capability answers one more ``reach``), one ``nodes`` for the names of the
ranked ones. The exposures are then summed here, sharing the work between candidates that
reach the same batches (`exposures`; docs/common-cause.md).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import repeat
from typing import Any, Final

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
from tracegraph.store.base import CountsOutputs, GraphStore, StoredEdge

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
    scipy evaluates the same ufunc element by element. Each distinct pair is evaluated once:
    scipy's hypergeometric tail costs ~0.2 ms an element, and candidates that reach the same
    batches share their pair (25,449 candidates, 4,336 pairs at 100k devices)."""
    if not cases:
        return []
    # scipy.stats takes most of a second to import: only the analysis pays for it, not every
    # start of the command line.
    import numpy as np
    from scipy.stats import hypergeom

    pairs = np.stack(
        [np.asarray(cases, dtype=np.int64) - 1, np.asarray(exposures, dtype=np.int64)], axis=1
    )
    distinct, where = np.unique(pairs, axis=0, return_inverse=True)
    sf = hypergeom.sf(distinct[:, 0], population, total_cases, distinct[:, 1])[where.reshape(-1)]
    return [float(f"{p:.{P_DIGITS}g}") for p in np.clip(sf, 0.0, 1.0).tolist()]


def upstream_of_each(store: GraphStore, cases: Sequence[str]) -> dict[str, set[str]]:
    """Each case's upstream genealogy closure, for two store calls: the edges into the cases,
    then one closure per distinct parent. A node's closure is its parents and their closures,
    and the cases of one batch share that batch (a device's parents are the batch that
    produced it and the devices installed in it), so each batch's closure is taken and sent
    once, not once per case: at S, 1,000 cases have fewer than 100 parents. (The walk from a
    case is then bounded at MAX_HOPS + 1 hops, not MAX_HOPS; genealogies are far shallower.)
    Cases with no parent are left out."""
    parents: dict[str, set[str]] = {}
    for edge in store.edges(cases, GENEALOGY, Direction.up):
        parents.setdefault(edge.dst, set()).add(edge.src)
    above = store.reach(sorted(set().union(*parents.values())), GENEALOGY, Direction.up, each=True)
    out = {}
    for case, mine in parents.items():
        upstream = set(mine)
        for parent in mine:
            upstream |= above.get(parent, set())
        out[case] = upstream
    return out


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
    distinct batch, by `CountsOutputs.output_each` where the store has it: the devices no
    other batch can reach (their one way in is a PRODUCED edge from b: nearly all) as a
    number, the rest by key, unioned here. With ``members`` (a product's devices) the keys are
    needed to intersect, and on a store without `CountsOutputs`, each made(b) is read whole
    (`GraphStore.reach`); a device in only one of them is counted, the rest unioned.
    """
    return _exposures(store, candidates, members, None)[0]


def _exposures(
    store: GraphStore,
    candidates: Sequence[str],
    members: Collection[str] | None,
    units: Collection[str] | None,
) -> tuple[dict[str, int], dict[str, int]]:
    """`exposures`, and with ``units`` also how many of those each candidate reaches (empty
    without): both from the same made(b), read whole once when units are asked for."""
    # Only the batches of each making closure: its lots are walked through, not sent.
    making = store.reach(candidates, MAKING, Direction.down, target=EntityType.Batch, each=True)
    batches_of = {
        c: reached | {c} if key_type(c) is EntityType.Batch else reached
        for c, reached in making.items()
    }
    batches = sorted(set().union(*batches_of.values()))
    splits: list[tuple[dict[str, int], dict[str, Collection[str]]]]
    if members is None and units is None and isinstance(store, CountsOutputs):
        made = store.output_each(batches)
        splits = [({b: m.sole for b, m in made.items()}, {b: m.shared for b, m in made.items()})]
    else:
        whole = store.reach(batches, OUTPUT, Direction.down, each=True)
        splits = [_split_outputs(whole, members)]
        if units is not None:
            splits.append(_split_outputs(whole, units))
    counted: list[dict[str, int]] = []
    for sole, shared in splits:
        # Most batches share no device with another: only the others are unioned.
        some = {b: keys for b, keys in shared.items() if keys}
        out = {}
        for c in candidates:
            mine = batches_of.get(c, set())
            common: set[str] = set().union(*(some[b] for b in mine if b in some))
            out[c] = sum(map(sole.get, mine, repeat(0))) + len(common)
        counted.append(out)
    return counted[0], counted[1] if units is not None else {}


def _split_outputs(
    whole: dict[str, set[str]], members: Collection[str] | None
) -> tuple[dict[str, int], dict[str, Collection[str]]]:
    """What `CountsOutputs.output_each` answers, from each batch's whole made(b) (of
    ``members`` only, if given): per batch, how many of its devices no other batch reaches,
    and the keys of the others."""
    if members is not None:
        whole = {batch: reached.intersection(members) for batch, reached in whole.items()}
    owners = Counter(d for mine in whole.values() for d in mine)
    sole = {b: sum(1 for d in mine if owners[d] == 1) for b, mine in whole.items()}
    shared: dict[str, Collection[str]] = {
        b: {d for d in mine if owners[d] > 1} for b, mine in whole.items()
    }
    return sole, shared


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
    the p-value of its cases among the units (`Hotspot.unit_p_value`), from the same walk
    (one more ``edges`` call); the ranking is the same.
    """
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
    population = len(members) if members is not None else len(store.keys_of_type(EntityType.Device))

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

    field = units_of(store, members, cases) if units else None

    def result(upstream: int, ranking: list[Hotspot]) -> CommonCauseResult:
        return CommonCauseResult(
            cases, population, scope, filters, complaints, upstream, ranking,
            units=len(field) if field is not None else None,
        )  # fmt: skip

    if len(cases) < MIN_CASES:
        return result(0, [])

    # Every case's upstream closure; then, per candidate, the cases it reaches.
    reached_by: dict[str, list[str]] = {}
    wanted = tuple(f"{t}:" for t in CANDIDATE_TYPES)
    for case, upstream in upstream_of_each(store, cases).items():
        for key in upstream:
            if key.startswith(wanted):
                reached_by.setdefault(key, []).append(case)
    candidates = sorted(k for k, hit in reached_by.items() if len(hit) >= MIN_CASES)
    if not candidates:
        return result(len(reached_by), [])

    # Two queries for every candidate's exposure, whatever their number.
    exposure, unit_exposure = _exposures(store, candidates, members, field)

    names = store.nodes(k for k in candidates if key_type(k) in NAMED_TYPES)
    hits = {key: tuple(sorted(reached_by[key])) for key in candidates}
    for key in candidates:
        if exposure[key] < len(hits[key]):
            # A case is downstream of everything upstream of it; a store that says otherwise
            # is damaged, and a p-value computed from it would be meaningless.
            raise StoreError(
                f"{key}: reaches {len(hits[key])} cases but only {exposure[key]} devices"
            )
    p = p_values(
        [len(hits[key]) for key in candidates],
        [exposure[key] for key in candidates],
        population,
        len(cases),
    )
    unit_p: list[float | None] = [None] * len(candidates)
    if field is not None:
        unit_p = list(
            p_values(
                [len(hits[key]) for key in candidates],
                [unit_exposure[key] for key in candidates],
                len(field),
                len(cases),
            )
        )
    ranking = []
    for key, p_key, p_unit in zip(candidates, p, unit_p, strict=True):
        props = names[key].props if key in names else {}
        name = props.get("name", props.get("title"))
        ranking.append(
            Hotspot(
                key=key,
                name=str(name) if name is not None else None,
                case_devices=hits[key],
                exposure=exposure[key],
                p_value=p_key,
                unit_exposure=unit_exposure.get(key),
                unit_p_value=p_unit,
            )
        )
    ranking.sort(key=lambda h: (h.p_value, -h.cases, -h.rate, h.key))
    adjusted = benjamini_hochberg([h.p_value for h in ranking])
    ranking = [replace(h, p_adjusted=q) for h, q in zip(ranking, adjusted, strict=True)]
    if units:
        order = sorted(range(len(ranking)), key=lambda i: ranking[i].unit_p_value or 0.0)
        among = benjamini_hochberg([ranking[i].unit_p_value or 0.0 for i in order])
        for i, q in zip(order, among, strict=True):
            ranking[i] = replace(ranking[i], unit_p_adjusted=q)
    return result(len(reached_by), ranking)


def benjamini_hochberg(p: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values) of p-values sorted ascending: for the
    i-th of m, the least of p_j · m / j over j >= i, at most 1 (monotone, as the i-th would be
    called at that false discovery rate)."""
    m = len(p)
    out = [0.0] * m
    least = 1.0
    for i in range(m - 1, -1, -1):
        least = min(least, p[i] * m / (i + 1))
        out[i] = float(f"{least:.{P_DIGITS}g}")
    return out
