"""A trace or a recall scope as a GraphML graph, for Gephi, yEd, Cytoscape or Neo4j Bloom.

The graph holds the answer's nodes and the edges among them, in the direction of the store
(downstream). A node's GraphML id is its key (``Type:id``); its attributes are ``key``,
``type``, ``id``, ``label`` (the key again, which Gephi shows) and its fields. An edge's
attributes are ``type`` and its fields; its GraphML id is ``e0``, ``e1``… in the order of
(from, type, to). GraphML holds only text, numbers and booleans: dates and times are written
in ISO 8601 (UTC, with a Z), lists and objects as JSON text, and absent fields are left out.
XML has no place for control characters: each is written as its Unicode control picture, so
the GS separator of a UDI as scanned reads ``␝`` (which `tracegraph.udi` reads as GS again).

- A trace: the nodes of `tracegraph.trace.trace` (each with its ``depth`` in hops from the
  start) and its genealogy edges.
- A recall scope: the suspects, every affected lot, batch, device, shipment, customer, service
  event and complaint, and every node on the devices' reasons (each device has its ``reason``,
  the chain of keys from a suspect, as text); the edges of any family among them, so that a
  reason's links (a certificate to its supplier, say) are there too. Suspects have
  ``suspect`` true.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, Final

import networkx as nx
import orjson

from tracegraph.model import Direction, RelType, iso
from tracegraph.recall import recall
from tracegraph.store.base import GraphStore, StoredEdge, StoredNode
from tracegraph.trace import trace

Scalar = str | int | float | bool

__all__ = ["graphml_bytes", "recall_graph", "scalar", "trace_graph"]


#: XML 1.0 has no place for control characters but tab and line ends: each is written as its
#: Unicode control picture (a UDI's GS separator as ␝, which `tracegraph.udi` reads as GS).
_XML_SAFE: Final = {c: 0x2400 + c for c in range(0x20) if chr(c) not in "\t\n\r"} | {0x7F: 0x2421}


def _safe(text: str) -> str:
    return text.translate(_XML_SAFE)


def scalar(value: Any) -> Scalar | None:
    """A field's value as GraphML can hold it; None for an absent value (left out)."""
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        return _safe(value)
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.date):
        text: str = iso(value)
        return text
    return _safe(orjson.dumps(value, default=iso, option=orjson.OPT_SORT_KEYS).decode())


def _fields(props: Mapping[str, Any]) -> dict[str, Scalar]:
    return {k: v for k, raw in sorted(props.items()) if (v := scalar(raw)) is not None}


def _graph(
    name: str,
    nodes: Iterable[StoredNode],
    edges: Iterable[StoredEdge],
    extra: Mapping[str, Mapping[str, Scalar]] | None = None,
) -> nx.MultiDiGraph[str]:
    graph: nx.MultiDiGraph[str] = nx.MultiDiGraph(name=_safe(name))
    # Attributes are set as dicts, not keywords: a field may share a name with a parameter.
    for node in sorted(nodes, key=lambda n: n.key):
        gid = _safe(node.key)
        graph.add_node(gid)
        graph.nodes[gid].update(
            {
                **_fields(node.props),
                **(extra or {}).get(node.key, {}),
                "key": gid,
                "type": str(node.type),
                "id": _safe(node.id),
                "label": gid,
            }
        )
    ordered = sorted(edges, key=lambda e: (e.src, str(e.type), e.dst))
    for n, edge in enumerate(ordered):
        ends = _safe(edge.src), _safe(edge.dst)
        graph.add_edge(*ends, key=f"e{n}")
        graph.edges[(*ends, f"e{n}")].update({**_fields(edge.props), "type": str(edge.type)})
    return graph


def trace_graph(
    store: GraphStore, key: str, direction: Direction = Direction.down, depth: int | None = None
) -> nx.MultiDiGraph[str]:
    """The trace of ``key`` (as `tracegraph.trace.trace` answers it) as a graph."""
    answer = trace(store, key, direction, depth)
    limit = f", at most {depth} hops" if depth is not None else ""
    return _graph(
        f"{direction}stream trace of {answer.start}{limit}",
        store.nodes(answer.depths).values(),
        answer.edges,
        {k: {"depth": d} for k, d in answer.depths.items()},
    )


def recall_graph(
    store: GraphStore,
    suspects: Sequence[str],
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> nx.MultiDiGraph[str]:
    """The recall scope of the suspects (as `tracegraph.recall.recall` answers it) as a graph."""
    answer = recall(store, suspects, start, end)
    keys = set(answer.fields) | set(answer.suspects)
    for chain in answer.paths.values():
        keys.update(chain)
    nodes = store.nodes(keys)
    extra: dict[str, dict[str, Scalar]] = {k: {"suspect": True} for k in answer.suspects}
    for device, chain in answer.paths.items():
        extra.setdefault(device, {})["reason"] = _safe(" → ".join(chain))
    window = "".join(
        f" {word} {iso(t)}" for word, t in (("from", start), ("to", end)) if t is not None
    )
    return _graph(
        f"recall scope of {', '.join(answer.suspects)}{window}",
        nodes.values(),
        store.edges(nodes, list(RelType), None),
        extra,
    )


def graphml_bytes(graph: nx.MultiDiGraph[str]) -> bytes:
    """The graph as a GraphML document (UTF-8)."""
    buffer = io.BytesIO()
    # Numbers of one field may be whole in one record and not in another: one type, double.
    nx.write_graphml(graph, buffer, infer_numeric_types=True)
    return buffer.getvalue()
