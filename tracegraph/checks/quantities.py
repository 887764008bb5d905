"""Quantities: negative, implausible, and lots consumed beyond what was received."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Final

from tracegraph.checks.core import Facts, Found, Level, listing, rule
from tracegraph.model import EntityType, RelType

E = EntityType
R = RelType

#: A quantity above this is a unit or a typing error, not a delivery (10^30 has been seen).
IMPLAUSIBLE: Final = 1e9


def _quantities(f: Facts) -> Iterator[tuple[tuple[str, ...], str, float]]:
    """Every quantity in the store: (the keys it belongs to, where it is, its value)."""
    lots = f.nodes(E.MaterialLot)
    for key, q in zip(lots, lots.column("quantity"), strict=True):
        if isinstance(q, int | float):
            yield (key,), f"{key}: quantity {q:g}", q
    edges = f.edges(R.CONSUMED_IN)
    for src, dst, q in zip(edges.src, edges.dst, edges.column("quantity"), strict=True):
        if isinstance(q, int | float):
            yield (src, dst), f"{src} consumed in {dst}: quantity {q:g}", q


@rule("quantity.negative", Level.error, "a lot's or a consumption's quantity is below zero")
def negative(f: Facts) -> Found:
    for keys, where, value in _quantities(f):
        if value < 0:
            yield keys, f"{where} is negative"


@rule(
    "quantity.implausible",
    Level.warning,
    f"a quantity above {IMPLAUSIBLE:g}: a unit or typing error",
)
def implausible(f: Facts) -> Found:
    for keys, where, value in _quantities(f):
        if value > IMPLAUSIBLE:
            yield keys, f"{where} is implausibly large (above {IMPLAUSIBLE:g})"


@rule(
    "quantity.consumed-beyond-received",
    Level.error,
    "the batches consumed more of a lot than was received (mass balance)",
)
def over_consumed(f: Facts) -> Found:
    used: dict[str, float] = defaultdict(float)
    batches: dict[str, list[str]] = defaultdict(list)
    edges = f.edges(R.CONSUMED_IN)
    for src, dst, q in zip(edges.src, edges.dst, edges.column("quantity"), strict=True):
        if isinstance(q, int | float) and q > 0:
            used[src] += q
            batches[src].append(dst)
    lots = f.nodes(E.MaterialLot)
    for key in sorted(used):
        received = lots.value(key, "quantity")
        if isinstance(received, int | float) and used[key] > received:
            names = sorted(batches[key])
            yield (
                (key, *names),
                f"{key} was received with quantity {received:g}, but {len(names)} "
                f"batch{'es' if len(names) != 1 else ''} consumed {used[key]:g} of it "
                f"({used[key] - received:g} more than received): " + listing(names),
            )
