"""Probes, chosen from the generated data by measuring reach (with the CSR copy), never guessed.

- Recall: for each target N, the suspect whose downstream closure holds the number of devices
  nearest N (on a log scale). Material lots are preferred; a whole material or supplier (all of
  its lots) or a batch is taken only where no lot comes near (a lot never reaches 100k devices).
- Change impact: every change order of the data (the generator writes five, of every kind).
- Common cause: the devices with a complaint, topped up with a fixed random sample of other
  shipped devices, to exactly the number of cases asked for.
- Cold queries and the HTTP load (`benchmarks.frontends`): the suspects nearest a number of
  devices, from the same measured candidates (`nearest`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.data import REL_TYPES, Dataset
from tracegraph.model import EntityType, RelType

#: Suspect types tried, with a penalty (in log-distance) for not being a lot.
_PENALTY = {
    EntityType.MaterialLot: 0.0,
    EntityType.Batch: 0.25,
    EntityType.Material: 0.25,
    EntityType.Supplier: 0.25,
}
_SAMPLE = {EntityType.MaterialLot: 1500, EntityType.Batch: 600}


@dataclass(frozen=True)
class RecallProbe:
    target: int
    suspect: str
    devices: int
    nodes: int

    @property
    def name(self) -> str:
        return f"recall {_short(self.devices)}"

    def as_json(self) -> dict[str, Any]:
        return {
            "target_devices": self.target,
            "suspect": self.suspect,
            "devices": self.devices,
            "reach_nodes": self.nodes,
        }


def _short(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.0f}k" if n >= 10_000 else f"{n / 1_000:.1f}k"
    return str(n)


@dataclass(frozen=True)
class Candidate:
    """A possible suspect, with its measured downstream reach."""

    suspect: str
    type: EntityType
    devices: int
    nodes: int

    def distance(self, target: int) -> tuple[float, str]:
        """How far its reach is from ``target`` devices (log scale, plus the type's penalty);
        the key breaks ties, so the choice is the same on every run."""
        return abs(math.log(self.devices / target)) + _PENALTY[self.type], self.suspect


def candidates(data: Dataset, seed: int, log: Callable[[str], None]) -> list[Candidate]:
    """Every lot, batch, material and supplier (a fixed sample of the lots and batches) that
    reaches at least one device, with its reach measured on the CSR copy."""
    rng = np.random.default_rng(seed)
    measured: list[Candidate] = []
    for type_ in _PENALTY:
        keys = data.keys_of(type_)
        limit = _SAMPLE.get(type_)
        if limit is not None and len(keys) > limit:
            keys = [keys[i] for i in sorted(rng.choice(len(keys), limit, replace=False))]
        for key in keys:
            reach = data.reach([key])
            devices = data.device_count(reach)
            if devices:
                measured.append(Candidate(key, type_, devices, len(reach)))
    log(f"probes: measured the reach of {len(measured):,} candidate suspects")
    return measured


def nearest(measured: Sequence[Candidate], target: int, count: int) -> list[RecallProbe]:
    """The ``count`` candidates whose reach is nearest ``target`` devices, nearest first."""
    ranked = sorted(measured, key=lambda c: c.distance(target))[:count]
    return [RecallProbe(target, c.suspect, c.devices, c.nodes) for c in ranked]


def recall_probes(
    data: Dataset,
    targets: Sequence[int],
    seed: int,
    log: Callable[[str], None],
    measured: Sequence[Candidate] | None = None,
) -> list[RecallProbe]:
    """For each target, the suspect nearest it (a target whose suspect is already chosen for
    an earlier one is dropped)."""
    if measured is None:
        measured = candidates(data, seed, log)
    chosen: list[RecallProbe] = []
    for target in targets:
        probe = nearest(measured, target, 1)[0]
        if any(p.suspect == probe.suspect for p in chosen):
            continue
        chosen.append(probe)
    return chosen


def change_orders(data: Dataset) -> list[str]:
    return data.keys_of(EntityType.ChangeOrder)


def case_sets(data: Dataset, sizes: Sequence[int], seed: int) -> dict[int, list[str]]:
    """For each size, that many case devices: the complained-about devices first."""
    complaint = REL_TYPES.index(RelType.HAS_COMPLAINT)
    shipped = REL_TYPES.index(RelType.SHIPPED_IN)
    with_complaint = sorted({data.keys[i] for i in data.src[data.rel == complaint]})
    others = sorted({data.keys[i] for i in data.src[data.rel == shipped]} - set(with_complaint))
    order = np.random.default_rng(seed).permutation(len(others))
    pool = with_complaint + [others[i] for i in order]
    return {n: sorted(pool[:n]) for n in sizes if n <= len(pool)}
