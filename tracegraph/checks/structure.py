"""Structure: records missing the links that make them traceable, and genealogy that loops."""

from __future__ import annotations

import networkx as nx

from tracegraph.checks.core import Facts, Found, Level, rule
from tracegraph.model import EntityType, RelType

E = EntityType
R = RelType


def _unlinked(f: Facts, etype: EntityType, rtype: RelType, *, outgoing: bool) -> list[str]:
    """The nodes of the type that no edge of ``rtype`` leaves (``outgoing``) or enters."""
    linked = {src if outgoing else dst for src, dst in f.links(rtype)}
    return [key for key in f.keys(etype) if key not in linked]


@rule(
    "structure.device-without-batch",
    Level.error,
    "a device no batch PRODUCED: no recall reaches it through its materials",
)
def device_without_batch(f: Facts) -> Found:
    for key in _unlinked(f, E.Device, R.PRODUCED, outgoing=False):
        yield ((key,), f"{key} has no producing batch (no PRODUCED edge into it)")


@rule(
    "structure.lot-without-supplier",
    Level.warning,
    "a material lot no supplier SUPPLIED: its supplier's certificates cannot be checked",
)
def lot_without_supplier(f: Facts) -> Found:
    for key in _unlinked(f, E.MaterialLot, R.SUPPLIED, outgoing=False):
        yield ((key,), f"{key} has no supplier (no SUPPLIED edge into it)")


@rule(
    "structure.lot-never-consumed",
    Level.info,
    "a material lot no batch consumed (an orphan when it also has no supplier)",
)
def lot_never_consumed(f: Facts) -> Found:
    supplied = {dst for _, dst in f.links(R.SUPPLIED)}
    for key in _unlinked(f, E.MaterialLot, R.CONSUMED_IN, outgoing=True):
        orphan = "" if key in supplied else "; with no supplier either, it is an orphan"
        yield ((key,), f"{key} was never consumed in a batch{orphan}")


@rule(
    "structure.shipment-without-customer",
    Level.error,
    "a shipment DELIVERED_TO no customer: a recall cannot say where its devices went",
)
def shipment_without_customer(f: Facts) -> Found:
    for key in _unlinked(f, E.Shipment, R.DELIVERED_TO, outgoing=True):
        yield ((key,), f"{key} has no customer (no DELIVERED_TO edge from it)")


@rule(
    "structure.complaint-without-device",
    Level.error,
    "a complaint attached to no device: common cause cannot count it",
)
def complaint_without_device(f: Facts) -> Found:
    for key in _unlinked(f, E.Complaint, R.HAS_COMPLAINT, outgoing=False):
        yield ((key,), f"{key} is about no device (no HAS_COMPLAINT edge into it)")


@rule(
    "structure.service-without-device",
    Level.error,
    "a field-service event attached to no device",
)
def service_without_device(f: Facts) -> Found:
    for key in _unlinked(f, E.ServiceEvent, R.HAS_SERVICE, outgoing=False):
        yield ((key,), f"{key} serviced no device (no HAS_SERVICE edge into it)")


@rule(
    "structure.genealogy-cycle",
    Level.error,
    "batches that consume each other, devices installed in each other, or a self-loop",
)
def genealogy_cycle(f: Facts) -> Found:
    for rtype, what in ((R.CONSUMED_IN, "consumed in"), (R.INSTALLED_IN, "installed in")):
        graph: nx.DiGraph[str] = nx.DiGraph()
        graph.add_edges_from(
            (src, dst) for src, dst in f.links(rtype) if not src.startswith("MaterialLot:")
        )
        for loop in sorted(n for n, _ in nx.selfloop_edges(graph)):
            yield ((loop,), f"{loop} is {what} itself ({rtype} from it to it)")
        graph.remove_edges_from(list(nx.selfloop_edges(graph)))
        for part in sorted(sorted(c) for c in nx.strongly_connected_components(graph)):
            if len(part) > 1:
                cycle = nx.find_cycle(graph.subgraph(part))
                path = " -> ".join([*(a for a, _ in cycle), cycle[0][0]])
                yield (
                    tuple(part),
                    f"{len(part)} records are {what} each other in a cycle ({path}): "
                    "a genealogy must not loop",
                )
