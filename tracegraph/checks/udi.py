"""UDI: devices whose UDI is missing, unreadable, wrong, or shared with another device.

Each device's ``udi`` is read as it is kept (any form `tracegraph.udi` reads); its product is
the one whose batch PRODUCED it (Product -HAS_BATCH-> Batch -PRODUCED-> Device).
"""

from __future__ import annotations

from collections import defaultdict

from tracegraph.checks.core import Facts, Found, Level, listing, rule
from tracegraph.model import EntityType, RelType
from tracegraph.udi import Udi, UdiError, check_gtin, parse_udi

E = EntityType
R = RelType


def _product_of(f: Facts) -> dict[str, str]:
    """Each device's product."""
    product_of_batch = {b: p for p, batches in f.targets(R.HAS_BATCH).items() for b in batches}
    return {
        dst: product_of_batch[src] for src, dst in f.links(R.PRODUCED) if src in product_of_batch
    }


def _gtins(f: Facts) -> dict[str, object]:
    """Each product's GTIN as kept (a device's product is looked up a million times)."""
    products = f.nodes(E.Product)
    return dict(zip(products, products.column("gtin"), strict=True))


def _read(f: Facts) -> dict[str, tuple[str, Udi | None, str | None]]:
    """Each device with a UDI: (the UDI as kept, what can be read of it or None, what is
    wrong with it or None). Read once per check, shared by the rules."""
    cached = f.memo.get("udi")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    out: dict[str, tuple[str, Udi | None, str | None]] = {}
    devices = f.nodes(E.Device)
    for key, text in zip(devices, devices.column("udi"), strict=True):
        if not isinstance(text, str):
            continue
        try:
            out[key] = (text, parse_udi(text), None)
            continue
        except UdiError as exc:
            problem = str(exc)
        try:
            out[key] = (text, parse_udi(text, strict=False), problem)
        except UdiError:
            out[key] = (text, None, problem)
    f.memo["udi"] = out
    return out


@rule(
    "udi.missing",
    Level.warning,
    "a device of a product with a GTIN has no UDI",
)
def missing(f: Facts) -> Found:
    gtin_of = _gtins(f)
    product_of = _product_of(f)
    devices = f.nodes(E.Device)
    for key, udi in sorted(zip(devices, devices.column("udi"), strict=True)):
        product = product_of.get(key, "")
        if udi is None and (gtin := gtin_of.get(product)):
            yield (
                (key, product),
                f"{key} has no UDI, though its product {product} has GTIN {gtin}",
            )


@rule("udi.unreadable", Level.error, "a device's UDI is in no form a UDI can be read in")
def unreadable(f: Facts) -> Found:
    for key, (_, udi, problem) in sorted(_read(f).items()):
        if udi is None:
            yield (key,), f"{key}: {problem}"


@rule("udi.check-digit", Level.error, "the GTIN in a device's GS1 UDI has a wrong check digit")
def check_digit(f: Facts) -> Found:
    for key, (_, udi, _) in sorted(_read(f).items()):
        if udi is None or udi.issuer != "GS1":
            continue
        try:
            check_gtin(udi.di)
        except UdiError as exc:
            yield (key,), f"{key}: the UDI's {exc}"


@rule(
    "udi.invalid-element",
    Level.error,
    "a part of a device's UDI is not valid for its identifier (e.g. an expiry in month 13)",
)
def invalid_element(f: Facts) -> Found:
    for key, (_, udi, problem) in sorted(_read(f).items()):
        if udi is None or problem is None:
            continue
        if udi.issuer == "GS1":
            try:
                check_gtin(udi.di)
            except UdiError:
                continue  # the check digit is its own finding
        yield (key,), f"{key}: {problem}"


@rule(
    "udi.di-mismatch",
    Level.error,
    "the DI in a device's UDI is not the GTIN of the device's product",
)
def di_mismatch(f: Facts) -> Found:
    gtin_of = _gtins(f)
    product_of = _product_of(f)
    for key, (_, udi, _) in sorted(_read(f).items()):
        product = product_of.get(key, "")
        gtin = gtin_of.get(product)
        if udi is None or udi.issuer != "GS1" or not isinstance(gtin, str):
            continue
        if udi.di != gtin.strip().zfill(14):
            yield (
                (key, product),
                f"{key}: its UDI names GTIN {udi.di}, but its product {product} has GTIN {gtin}",
            )


@rule(
    "udi.duplicate",
    Level.error,
    "two or more devices carry the same UDI (the same DI and serial)",
)
def duplicate(f: Facts) -> Found:
    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, (_, udi, _) in _read(f).items():
        if udi is not None and udi.serial is not None:
            holders[(udi.di, udi.serial)].append(key)
    for (di, serial), keys in sorted(holders.items()):
        if len(keys) > 1:
            keys.sort()
            yield (
                tuple(keys),
                f"{len(keys)} devices carry the UDI of DI {di}, serial {serial}: " + listing(keys),
            )
