"""Probes, chosen from the generated data by measuring reach (with the CSR copy), never guessed.

- Recall: for each target N, the suspect whose downstream closure holds the number of devices
  nearest N (on a log scale). Material lots are preferred; a whole material or supplier (all of
  its lots) or a batch is taken only where no lot comes near (a lot never reaches 100k devices).
- Change impact: every change order of the data (the generator writes five, of every kind).
- Common cause: the devices with a complaint, topped up with a fixed random sample of other
  shipped devices, to exactly the number of cases asked for.
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


def recall_probes(
    data: Dataset, targets: Sequence[int], seed: int, log: Callable[[str], None]
) -> list[RecallProbe]:
    rng = np.random.default_rng(seed)
    measured: list[tuple[str, EntityType, int, int]] = []
    for type_, _penalty in _PENALTY.items():
        keys = data.keys_of(type_)
        limit = _SAMPLE.get(type_)
        if limit is not None and len(keys) > limit:
            keys = [keys[i] for i in sorted(rng.choice(len(keys), limit, replace=False))]
        for key in keys:
            reach = data.reach([key])
            devices = data.device_count(reach)
            if devices:
                measured.append((key, type_, devices, len(reach)))
    log(f"probes: measured the reach of {len(measured):,} candidate suspects")
    chosen: list[RecallProbe] = []
    for target in targets:
        key, _type, devices, nodes = min(
            measured,
            key=lambda m: (abs(math.log(m[2] / target)) + _PENALTY[m[1]], m[0]),
        )
        if any(p.suspect == key for p in chosen):
            continue
        chosen.append(RecallProbe(target, key, devices, nodes))
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
