"""Supplier compliance: lots received while a supplier was not qualified to deliver them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from tracegraph.checks.core import Facts, Found, Level, NodeRow, day, instant, listing, plural, rule
from tracegraph.model import EntityType, RelType

E = EntityType
R = RelType


def _valid_on(cert: NodeRow, when: dt.datetime) -> bool:
    """Whether the certificate covers the day of ``when`` (both bounds inclusive)."""
    start, end = cert.props.get("valid_from"), cert.props.get("valid_to")
    if start is None or end is None:
        return False
    today = when.astimezone(dt.UTC).date()
    return bool(start <= today <= end)


def kind_matches(held: Any, required: str) -> bool:
    """Whether a certificate of kind ``held`` is one of kind ``required``: the same, ignoring
    case and spaces around, or a revision of it ("ISO 13485:2016" is an "ISO 13485")."""
    if not isinstance(held, str):
        return False
    have, want = held.strip().casefold(), required.strip().casefold()
    return have == want or have.startswith(want + ":")


def _certificates(f: Facts) -> dict[str, list[NodeRow]]:
    """Each supplier's certificates."""
    certs = f.nodes(E.Certificate)
    out: dict[str, list[NodeRow]] = defaultdict(list)
    for src, dst in f.links(R.CERTIFIES):
        if (cert := certs.get(src)) is not None:
            out[dst].append(cert)
    return out


def _receipts(f: Facts) -> list[tuple[str, str, dt.datetime]]:
    """(supplier, lot, received at) for every lot with a supplier and a receipt time."""
    lots = f.nodes(E.MaterialLot)
    out = []
    for src, dst in f.links(R.SUPPLIED):
        received = instant(lots.value(dst, "received_at"))
        if received is not None:
            out.append((src, dst, received))
    return out


def _around(certs: list[NodeRow], when: dt.datetime) -> tuple[list[str], str]:
    """The certificates on either side of a day none covers — the last one to end before it
    and the first to start after it (a supplier may hold a long chain of renewals) — and a
    sentence naming them."""
    today = when.astimezone(dt.UTC).date()
    spans = sorted(
        (c.props["valid_from"], c.props["valid_to"], c.key)
        for c in certs
        if c.props.get("valid_from") is not None and c.props.get("valid_to") is not None
    )
    before = [s for s in spans if s[1] < today]
    after = [s for s in spans if s[0] > today]
    keys, parts = [], []
    if before:
        _, end, key = max(before, key=lambda s: s[1])
        keys.append(key)
        parts.append(f"{key} ended on {day(end)}")
    if after:
        start, _, key = after[0]
        keys.append(key)
        parts.append(f"{key} starts on {day(start)}")
    return keys, "; ".join(parts) or "none has valid dates"


@rule(
    "supplier.lot-outside-certificate",
    Level.error,
    "a lot was received on a day no certificate of its supplier was valid",
)
def lot_outside_certificate(f: Facts) -> Found:
    certs = _certificates(f)
    for supplier, lot, received in sorted(_receipts(f)):
        held = certs.get(supplier)
        if not held or any(_valid_on(c, received) for c in held):
            continue
        around, which = _around(held, received)
        yield (
            (lot, supplier, *around),
            f"{lot} was received on {day(received)} from {supplier}, when none of its "
            f"certificates was valid ({which})",
        )


@rule(
    "supplier.uncertified-supplier-delivered",
    Level.error,
    "a supplier with no certificate on record delivered lots",
)
def uncertified_supplier(f: Facts) -> Found:
    certs = _certificates(f)
    lots: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for supplier, lot, received in _receipts(f):
        if supplier not in certs:
            lots[supplier].append((received, lot))
    for supplier, delivered in sorted(lots.items()):
        delivered.sort()
        yield (
            (supplier, *sorted(lot for _, lot in delivered)),
            f"{supplier} holds no certificate on record, and delivered "
            f"{plural(len(delivered), 'lot')} {_when(delivered)}: "
            + listing(sorted(lot for _, lot in delivered)),
        )


def _when(lots: list[tuple[dt.datetime, str]]) -> str:
    """When lots (sorted by time) were received: on one day, or from the first to the last."""
    first, last = day(lots[0][0]), day(lots[-1][0])
    return f"on {first}" if first == last else f"from {first} to {last}"


@rule(
    "supplier.lot-from-blocked-supplier",
    Level.error,
    "a lot was received from a supplier whose status is blocked",
)
def lot_from_blocked(f: Facts) -> Found:
    suppliers = f.nodes(E.Supplier)
    for supplier, lot, received in sorted(_receipts(f)):
        node = suppliers.get(supplier)
        if node is not None and node.props.get("status") == "blocked":
            yield (
                (lot, supplier),
                f"{lot} was received on {day(received)} from {supplier}, whose status is blocked",
            )


@rule(
    "supplier.missing-required-certificate",
    Level.error,
    "a supplier delivered lots of a material without a valid certificate of a kind the "
    "material requires (Material.required_certificates)",
)
def missing_required(f: Facts) -> Found:
    materials = f.nodes(E.Material)
    material_of = {lot: m for m, lots in f.targets(R.HAS_LOT).items() for lot in lots}
    certs = _certificates(f)
    # (supplier, material, kind) -> the lots received without a valid certificate of the kind
    gaps: dict[tuple[str, str, str], list[tuple[dt.datetime, str]]] = defaultdict(list)
    for supplier, lot, received in _receipts(f):
        material = material_of.get(lot)
        required: Any = materials.value(material, "required_certificates") if material else None
        if not required or material is None:
            continue
        held = certs.get(supplier, [])
        for kind in required:
            if not any(
                kind_matches(c.props.get("kind"), kind) and _valid_on(c, received) for c in held
            ):
                gaps[(supplier, material, kind)].append((received, lot))
    for (supplier, material, kind), lots in sorted(gaps.items()):
        lots.sort()
        yield (
            (supplier, material, *sorted(lot for _, lot in lots)),
            f"{supplier} delivered {plural(len(lots), 'lot')} of {material} {_when(lots)} "
            f"without a valid {kind!r} certificate, which {material} requires",
        )


@rule(
    "supplier.certificate-expiring",
    Level.warning,
    "a certificate expires within --within-days (default 30) of the check",
)
def certificate_expiring(f: Facts) -> Found:
    holder = {cert: suppliers for cert, suppliers in f.targets(R.CERTIFIES).items()}
    today = f.now.astimezone(dt.UTC).date()
    last = today + dt.timedelta(days=f.within_days)
    for key, cert in sorted(f.nodes(E.Certificate).items()):
        end = cert.props.get("valid_to")
        if not isinstance(end, dt.date) or not today <= end <= last:
            continue
        of = holder.get(key, [])
        whose = f" of {', '.join(of)}" if of else ""
        left = (end - today).days
        yield (
            (key, *of),
            f"{key}{whose} ({cert.props.get('kind', 'certificate')}) expires on {day(end)}, "
            + ("today" if left == 0 else f"in {plural(left, 'day')}"),
        )
