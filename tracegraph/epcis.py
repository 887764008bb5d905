"""EPCIS 2.0 capture and export (§9 of the contract); the mapping is documented in docs/epcis.md.

Capture: an EPCIS 2.0 JSON / JSON-LD ``EPCISDocument`` becomes records of the import format
(`tracegraph.importer.Raw`), so that validation, atomicity, idempotency, versions and the audit
trail are the import's. The document is checked first (the fields the mapping reads, by
explicit checks: GS1's JSON Schema is not shipped, as its licence does not say it may be); a
problem is reported as ``doc.json: event 3 (ObjectEvent): field 'action': required`` and the
document is refused whole.

The mapping is a function of the document alone, so importing it again changes nothing. Every
node takes its fields from one event that *defines* it (a commissioning for a device, a
receipt for a lot, a transformation for the batch it makes, a shipping for a shipment); when a
document holds several, the strongest kind wins, then the first in the document. Events that
only name a node (a device shipped, a lot consumed) write edges to it: it must exist, in the
store or in the same document, as any import's edges must.

Export: the nodes of a recall scope or a trace and the genealogy edges among them become the
events that import back as the same genealogy; fields no event carries travel as master data
(``epcisHeader.epcisMasterData``) of the vocabulary types ``urn:tracegraph:vtype:<Type>``.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import shutil
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import quote, unquote

import orjson

from tracegraph import epc
from tracegraph.epc import Epc, EpcError
from tracegraph.importer import Raw
from tracegraph.model import (
    GENEALOGY,
    NODE_MODELS,
    Direction,
    EntityType,
    RelType,
    iso,
    key_type,
)
from tracegraph.recall import recall
from tracegraph.store.base import GraphStore, StoredEdge, StoredNode
from tracegraph.trace import trace

__all__ = [
    "CONTEXT",
    "EVENT_TYPES",
    "ExportReport",
    "Scope",
    "dangling",
    "document_schema",
    "export",
    "identity_uri",
    "is_document",
    "read",
    "read_bytes",
    "read_document",
    "scope",
    "write_records",
]

E = EntityType
R = RelType

CONTEXT: Final = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
EVENT_TYPES: Final = (
    "ObjectEvent",
    "AggregationEvent",
    "TransformationEvent",
    "AssociationEvent",
    "TransactionEvent",
)
#: A node without a GS1 identity: ``urn:tracegraph:<Type>:<id, percent-encoded>``.
PRIVATE: Final = "urn:tracegraph:"
#: Master-data attribute ids of TraceGraph fields: ``urn:tracegraph:field:<field>``.
FIELD: Final = "urn:tracegraph:field:"
#: Master-data vocabulary types whose elements are TraceGraph nodes of that type.
VTYPE: Final = "urn:tracegraph:vtype:"
#: The master-data attribute of a lot that names its materials (HAS_LOT).
MATERIAL_ATTRIBUTE: Final = "material"
_CBV_MDA: Final = "urn:epcglobal:cbv:mda#"
#: CBV master-data attributes read into TraceGraph fields.
_CBV_FIELDS: Final = {"name": "name", "countryCode": "country"}

#: bizStep (CBV short names) → what the mapping does with an ObjectEvent
RECEIVING: Final = frozenset({"receiving", "accepting"})
SHIPPING: Final = "shipping"
REPAIRING: Final = "repairing"

#: The fields an event defines, per type: what master data need not carry.
_EVENT_FIELDS: Final[Mapping[EntityType, frozenset[str]]] = {
    E.Device: frozenset({"manufactured_at"}),
    E.Batch: frozenset({"started_at"}),
    E.MaterialLot: frozenset({"received_at", "quantity"}),
    E.Shipment: frozenset({"shipped_at"}),
    E.ServiceEvent: frozenset({"performed_at"}),
}
#: The types an export carries (the others have no EPCIS form; see docs/epcis.md).
EXPORTED: Final = frozenset(
    {
        E.Supplier,
        E.Customer,
        E.Material,
        E.Product,
        E.Equipment,
        E.MaterialLot,
        E.Batch,
        E.Device,
        E.Shipment,
        E.ServiceEvent,
    }
)
#: The GS1 kinds whose canonical id a node of each type is written with (else a private URN).
_GS1_FOR: Final[Mapping[EntityType, frozenset[str]]] = {
    E.Device: frozenset({"sgtin"}),
    E.Shipment: frozenset({"sscc"}),
    E.Equipment: frozenset({"grai", "giai"}),
    E.MaterialLot: frozenset({"lgtin"}),
    E.Batch: frozenset({"lgtin"}),
    E.Customer: frozenset({"sgln", "pgln"}),
    E.Supplier: frozenset({"sgln", "pgln"}),
    E.Product: frozenset({"gtin"}),
    E.Material: frozenset({"gtin"}),
}
_EVENT_NAMESPACE: Final = uuid.UUID("5b0f6c9e-2f4e-5c1a-9d3b-7a1e0c4f8d21")
_URI: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S*$")
_OFFSET: Final = re.compile(r"^[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)$")
_DATE_TIME: Final = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}(?::\d{2})?)(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_PRIVATE_SAFE: Final = "-._~!$'()*+,;=:@/"


def _key(type_: EntityType, ident: str) -> str:
    return f"{type_}:{ident}"


# --------------------------------------------------------------------------- identities


@dataclass(frozen=True, slots=True)
class _Id:
    """One identifier as a document gives it: a GS1 identity, a TraceGraph node, or a URI."""

    text: str
    #: the node's id: the canonical id of a GS1 identity, the id of a TraceGraph one, or the
    #: URI itself
    id: str
    epc: Epc | None = None
    #: the type a ``urn:tracegraph:`` identity names
    type: EntityType | None = None


def _identity(text: Any) -> _Id:
    """Read an identifier; ValueError names what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("must be a URI (text)")
    value = text.strip()
    if value[: len(PRIVATE)].lower() == PRIVATE:
        kind, sep, rest = value[len(PRIVATE) :].partition(":")
        ident = unquote(rest).strip()
        if not sep or kind not in E.__members__ or not ident:
            shape = f"{PRIVATE}<Type>:<id>, with an entity type"
            raise ValueError(f"{_said(value)}: a TraceGraph identity is {shape}")
        return _Id(value, ident, type=E(kind))
    if epc.looks_gs1(value):
        try:
            found = epc.parse(value)
        except EpcError as exc:
            raise ValueError(str(exc)) from None
        return _Id(value, found.canonical, epc=found)
    if not _URI.match(value):
        raise ValueError(f"{_said(value)}: not a URI")
    return _Id(value, value)


def identity_uri(key: str) -> str:
    """The URI an export names a node with: its GS1 Digital Link when its id is the canonical
    id of a GS1 identity of its kind, else ``urn:tracegraph:<Type>:<id>``."""
    kind, _, ident = key.partition(":")
    type_ = E(kind)
    found = epc.from_canonical(ident)
    if found is not None and found.kind in _GS1_FOR.get(type_, ()):
        return found.digital_link
    return f"{PRIVATE}{kind}:{quote(ident, safe=_PRIVATE_SAFE)}"


def _cbv(value: str) -> str:
    """A CBV term by its short name (``receiving``), however the document writes it."""
    text = value.strip()
    for prefix in (
        "urn:epcglobal:cbv:bizstep:",
        "urn:epcglobal:cbv:sdt:",
        "urn:epcglobal:cbv:btt:",
        "urn:epcglobal:cbv:disp:",
    ):
        if text.lower().startswith(prefix):
            return text[len(prefix) :]
    for prefix in ("https://ref.gs1.org/cbv/", "https://gs1.org/voc/", "cbv:", "gs1:"):
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            return rest.partition("-")[2] or rest
    return text


def _instant(value: Any) -> str | None:
    """An RFC 3339 date-time (an offset is required) in UTC as ISO 8601 text; None if not
    (or if it is outside the years 1 to 9999 in UTC, which no store can hold)."""
    if not isinstance(value, str):
        return None
    match = _DATE_TIME.match(value.strip())
    if match is None:
        return None
    day, clock, fraction, offset = match.groups()
    text = f"{day}T{clock}{(fraction or '')[:7]}{'+00:00' if offset in 'Zz' else offset}"
    try:
        moment = dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None
    result: str = iso(moment)
    return result


def _said(value: Any) -> str:
    """A value as a message quotes it: its repr, cut short (a field may hold megabytes)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _event_id(event: Mapping[str, Any]) -> str:
    """A deterministic id for an event that has none: the same content, the same id."""
    body = {k: v for k, v in event.items() if k not in ("eventID", "recordTime")}
    content = orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()
    return f"urn:uuid:{uuid.uuid5(_EVENT_NAMESPACE, content)}"


# --------------------------------------------------------------------------- reading: checks


class _Problems:
    """The problems found in one place of a document (an event, the header)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def add(self, field_: str, message: str) -> None:
        self.found.append((field_, message))


@dataclass
class _Event:
    """An event, checked, with what the mapping reads from it."""

    number: int
    kind: str
    where: str
    time: str
    ident: str
    given_id: str | None
    action: str | None
    step: str | None
    #: (field path, identity) of epcList / childEPCs
    objects: list[tuple[str, _Id]] = field(default_factory=list)
    #: (field path, identity, quantity) of quantityList / childQuantityList
    classes: list[tuple[str, _Id, float | None]] = field(default_factory=list)
    parent: _Id | None = None
    inputs: list[tuple[str, _Id]] = field(default_factory=list)
    input_classes: list[tuple[str, _Id, float | None]] = field(default_factory=list)
    outputs: list[tuple[str, _Id]] = field(default_factory=list)
    output_classes: list[tuple[str, _Id, float | None]] = field(default_factory=list)
    transformation: str | None = None
    #: (type short name, field path, identity)
    sources: list[tuple[str, str, _Id]] = field(default_factory=list)
    destinations: list[tuple[str, str, _Id]] = field(default_factory=list)
    #: (type short name or "", value)
    transactions: list[tuple[str, str]] = field(default_factory=list)
    lot: str | None = None
    expiry: str | None = None


def _list(event: Mapping[str, Any], name: str, found: _Problems) -> list[Any]:
    value = event.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        found.add(name, "must be a JSON array")
        return []
    return value


def _ids(event: Mapping[str, Any], name: str, found: _Problems) -> list[tuple[str, _Id]]:
    out = []
    for i, item in enumerate(_list(event, name, found)):
        try:
            out.append((f"{name}[{i}]", _identity(item)))
        except ValueError as exc:
            found.add(f"{name}[{i}]", str(exc))
    return out


def _quantities(
    event: Mapping[str, Any], name: str, found: _Problems
) -> list[tuple[str, _Id, float | None]]:
    out = []
    for i, item in enumerate(_list(event, name, found)):
        place = f"{name}[{i}]"
        if not isinstance(item, dict):
            found.add(place, "must be an object with epcClass")
            continue
        if "epcClass" not in item:
            found.add(f"{place}.epcClass", "required")
            continue
        try:
            ident = _identity(item["epcClass"])
        except ValueError as exc:
            found.add(f"{place}.epcClass", str(exc))
            continue
        quantity = item.get("quantity")
        if quantity is not None and (
            isinstance(quantity, bool) or not isinstance(quantity, int | float)
        ):
            found.add(f"{place}.quantity", f"not a number: {_said(quantity)}")
            continue
        uom = item.get("uom")
        if uom is not None and not isinstance(uom, str):
            found.add(f"{place}.uom", "must be text")
        out.append((place, ident, None if quantity is None else float(quantity)))
    return out


def _ends(
    event: Mapping[str, Any], name: str, member: str, found: _Problems
) -> list[tuple[str, str, _Id]]:
    out = []
    for i, item in enumerate(_list(event, name, found)):
        place = f"{name}[{i}]"
        if not isinstance(item, dict):
            found.add(place, f"must be an object with type and {member}")
            continue
        kind = item.get("type")
        if not isinstance(kind, str) or not kind:
            found.add(f"{place}.type", "required (text)")
            continue
        if member not in item:
            found.add(f"{place}.{member}", "required")
            continue
        try:
            out.append((_cbv(kind), f"{place}.{member}", _identity(item[member])))
        except ValueError as exc:
            found.add(f"{place}.{member}", str(exc))
    return out


def _transactions(event: Mapping[str, Any], found: _Problems) -> list[tuple[str, str]]:
    out = []
    for i, item in enumerate(_list(event, "bizTransactionList", found)):
        place = f"bizTransactionList[{i}]"
        if not isinstance(item, dict):
            found.add(place, "must be an object with bizTransaction")
            continue
        value, kind = item.get("bizTransaction"), item.get("type")
        if not isinstance(value, str) or not _URI.match(value.strip()):
            found.add(f"{place}.bizTransaction", "required: a URI")
            continue
        if kind is not None and not isinstance(kind, str):
            found.add(f"{place}.type", "must be text")
            continue
        out.append((_cbv(kind) if kind else "", value.strip()))
    return out


def _text_field(event: Mapping[str, Any], name: str, found: _Problems) -> str | None:
    value = event.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        found.add(name, "must be text (a URI or CBV term)")
        return None
    return value.strip()


def _check_event(number: int, raw: Any, name: str | None, seen: dict[str, int]) -> _Event | Raw:
    """One event, checked; a Raw naming every problem if it has any."""
    kind = raw.get("type") if isinstance(raw, dict) else None
    label = f"event {number} ({kind})" if kind in EVENT_TYPES else f"event {number}"
    where = f"{name}: {label}" if name else label
    if not isinstance(raw, dict):
        return Raw(where, None, "must be a JSON object (an EPCIS event)")
    found = _Problems()
    if kind is None:
        found.add("type", f"required (one of {', '.join(EVENT_TYPES)})")
    elif kind not in EVENT_TYPES:
        found.add(
            "type", f"{_said(kind)} is not an EPCIS 2.0 event type ({', '.join(EVENT_TYPES)})"
        )
    time = _instant(raw.get("eventTime"))
    if "eventTime" not in raw:
        found.add("eventTime", "required")
    elif time is None:
        found.add("eventTime", f"not a date-time with a UTC offset: {_said(raw.get('eventTime'))}")
    offset = raw.get("eventTimeZoneOffset")
    if offset is None:
        found.add("eventTimeZoneOffset", "required")
    elif not isinstance(offset, str) or not _OFFSET.match(offset):
        found.add("eventTimeZoneOffset", f"not an offset like +01:00: {_said(offset)}")
    if "recordTime" in raw and _instant(raw["recordTime"]) is None:
        found.add("recordTime", f"not a date-time with a UTC offset: {_said(raw['recordTime'])}")
    given = raw.get("eventID")
    if given is not None and (not isinstance(given, str) or not _URI.match(given.strip())):
        found.add("eventID", f"must be a URI: {_said(given)}")
        given = None
    if "errorDeclaration" in raw:
        found.add(
            "errorDeclaration",
            "corrections of earlier events are not mapped; correct the graph with an import",
        )
    action = raw.get("action")
    if kind in ("ObjectEvent", "AggregationEvent", "AssociationEvent", "TransactionEvent"):
        if action is None:
            found.add("action", "required")
        elif action not in ("ADD", "OBSERVE", "DELETE"):
            found.add("action", f"not one of ADD, OBSERVE, DELETE: {_said(action)}")
    step = _text_field(raw, "bizStep", found)
    _text_field(raw, "disposition", found)
    for place in ("readPoint", "bizLocation"):
        value = raw.get(place)
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("id"), str)):
            found.add(place, "must be an object with an id (a URI)")
    ilmd = raw.get("ilmd")
    if ilmd is not None and not isinstance(ilmd, dict):
        found.add("ilmd", "must be a JSON object")
        ilmd = None
    event = _Event(
        number=number,
        kind=str(kind),
        where=where,
        time=time or "",
        ident=given.strip() if isinstance(given, str) else _event_id(raw),
        given_id=given.strip() if isinstance(given, str) else None,
        action=action if isinstance(action, str) else None,
        step=_cbv(step) if step else None,
        sources=_ends(raw, "sourceList", "source", found),
        destinations=_ends(raw, "destinationList", "destination", found),
        transactions=_transactions(raw, found),
    )
    if kind in ("ObjectEvent", "TransactionEvent"):
        event.objects = _ids(raw, "epcList", found)
        event.classes = _quantities(raw, "quantityList", found)
        if kind == "ObjectEvent" and "epcList" not in raw and not _given(raw, "quantityList"):
            found.add("epcList", "required (or a quantityList that is not empty)")
        if kind == "TransactionEvent" and not event.transactions:
            found.add("bizTransactionList", "required (at least one business transaction)")
    if kind in ("AggregationEvent", "AssociationEvent", "TransactionEvent"):
        event.objects += _ids(raw, "childEPCs", found) if kind != "TransactionEvent" else []
        event.classes += (
            _quantities(raw, "childQuantityList", found) if kind != "TransactionEvent" else []
        )
        if "parentID" in raw:
            try:
                event.parent = _identity(raw["parentID"])
            except ValueError as exc:
                found.add("parentID", str(exc))
        elif kind == "AssociationEvent" or (kind == "AggregationEvent" and action != "OBSERVE"):
            found.add("parentID", "required")
        if (
            kind != "TransactionEvent"
            and action != "DELETE"
            and not (_given(raw, "childEPCs") or _given(raw, "childQuantityList"))
        ):
            found.add("childEPCs", "required (or a childQuantityList that is not empty)")
    if kind == "TransformationEvent":
        event.inputs = _ids(raw, "inputEPCList", found)
        event.input_classes = _quantities(raw, "inputQuantityList", found)
        event.outputs = _ids(raw, "outputEPCList", found)
        event.output_classes = _quantities(raw, "outputQuantityList", found)
        tid = raw.get("transformationID")
        if tid is not None:
            if isinstance(tid, str) and _URI.match(tid.strip()):
                event.transformation = tid.strip()
            else:
                found.add("transformationID", f"must be a URI: {_said(tid)}")
        if not any(_given(raw, n) for n in _TRANSFORMATION_LISTS):
            found.add(
                "inputEPCList",
                "a TransformationEvent needs an input or an output (EPCs or quantities)",
            )
    if ilmd is not None:
        event.lot, event.expiry = _ilmd(ilmd, found)
    if found.found:
        return Raw(where, None, "; ".join(f"field '{f}': {m}" for f, m in found.found))
    if event.given_id is not None:
        seen.setdefault(event.given_id, number)
    return event


_TRANSFORMATION_LISTS: Final = (
    "inputEPCList",
    "inputQuantityList",
    "outputEPCList",
    "outputQuantityList",
)


def _given(event: Mapping[str, Any], name: str) -> bool:
    """Whether the event has a list that is not empty (valid or not: that is said apart)."""
    value = event.get(name)
    return isinstance(value, list) and len(value) > 0


def _ilmd(ilmd: Mapping[str, Any], found: _Problems) -> tuple[str | None, str | None]:
    """The lot number and expiry date of an event's instance/lot master data (CBV)."""

    def given(name: str) -> tuple[str, str] | None:
        for spelling in (f"cbvmda:{name}", f"{_CBV_MDA}{name}"):
            if spelling in ilmd:
                value = ilmd[spelling]
                if isinstance(value, str) and value.strip():
                    return f"ilmd.{spelling}", value.strip()
                found.add(f"ilmd.{spelling}", "must be text")
        return None

    lot = given("lotNumber")
    if lot is not None and (len(lot[1]) > 20 or set(lot[1]) - epc.CSET82):
        found.add(lot[0], f"not a GS1 lot number (20 characters of CSET 82): {_said(lot[1])}")
        lot = None
    expiry = given("itemExpirationDate")
    if expiry is not None:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", expiry[1]):
                raise ValueError(expiry[1])
            dt.date.fromisoformat(expiry[1])
        except ValueError:
            found.add(expiry[0], f"not a date (YYYY-MM-DD): {_said(expiry[1])}")
            expiry = None
    return (lot[1] if lot else None), (expiry[1] if expiry else None)


# --------------------------------------------------------------------------- reading: mapping


@dataclass
class _Def:
    """A node as the event that defines it gives it."""

    rank: int
    fields: dict[str, Any]
    where: str


@dataclass
class _Master:
    """Master data of one identity."""

    type: EntityType | None
    ident: _Id
    fields: dict[str, Any]
    materials: list[_Id]
    where: str


#: Fields each type requires (other than id): what a record must hold to stand alone.
_REQUIRED: Final[Mapping[EntityType, tuple[str, ...]]] = {
    t: tuple(n for n, f in m.model_fields.items() if f.is_required() and n != "id")
    for t, m in NODE_MODELS.items()
}
_FIELDS: Final[Mapping[EntityType, frozenset[str]]] = {
    t: frozenset(m.model_fields) for t, m in NODE_MODELS.items()
}


class _Mapper:
    """The nodes and edges of one document's events (see docs/epcis.md for the table)."""

    def __init__(self) -> None:
        self.defs: dict[str, _Def] = {}
        #: nodes named by identifier alone (parties, products, materials, equipment)
        self.named: dict[str, tuple[dict[str, Any], str]] = {}
        self.edges: list[tuple[RelType, str, str, dict[str, Any], str]] = []
        self.problems: list[Raw] = []
        #: ids of lots made in this document (transformation outputs, added quantities)
        self.made: set[str] = set()

    # ----------------------------------------------------------------- bookkeeping

    def problem(self, event: _Event, place: str, message: str) -> None:
        self.problems.append(Raw(event.where, None, f"field '{place}': {message}"))

    def define(self, key: str, fields: dict[str, Any], rank: int, event: _Event) -> None:
        held = self.defs.get(key)
        if held is None or rank > held.rank:
            self.defs[key] = _Def(rank, fields, event.where)

    def name_node(self, key: str, fields: dict[str, Any], where: str) -> None:
        self.named.setdefault(key, (fields, where))

    def edge(
        self, rel: RelType, src: str, dst: str, event: _Event, place: str, **props: Any
    ) -> None:
        if src != dst:
            self.edges.append((rel, src, dst, props, f"{event.where}, {place}"))

    def product(self, found: Epc | None, where: str) -> str | None:
        if found is None or found.gtin is None:
            return None
        gtin = found.gtin
        key = _key(E.Product, f"01/{gtin}")
        self.name_node(key, {"name": f"(01){gtin}", "gtin": gtin}, where)
        return key

    # ----------------------------------------------------------------- identities in roles

    def thing(
        self,
        event: _Event,
        place: str,
        ident: _Id,
        allowed: tuple[EntityType, ...],
        default: EntityType | None,
    ) -> str | None:
        """The key of one object named here; None where this kind is not mapped."""
        if ident.type is not None:
            if ident.type in allowed:
                return _key(ident.type, ident.id)
            names = ", ".join(str(t) for t in allowed)
            self.problem(event, place, f"{ident.text!r} names a {ident.type}; here: {names}")
            return None
        if ident.epc is not None:
            kind = ident.epc.kind
            if kind in epc.CLASS_KINDS:
                message = f"{ident.text!r} is a class of objects ({kind}), not one object"
                self.problem(event, place, message)
                return None
            if kind in epc.PLACE_KINDS:
                message = f"{ident.text!r} is a location or party ({kind}), not an object"
                self.problem(event, place, message)
                return None
            type_ = {"sgtin": E.Device, "sscc": E.Shipment}.get(kind, E.Equipment)
            return _key(type_, ident.id) if type_ in allowed else None
        return _key(default, ident.id) if default is not None else None

    def lot(self, event: _Event, place: str, ident: _Id, role: str) -> str | None:
        """The key of a class of objects (a quantity) in a role: a lot that is consumed or
        received is a MaterialLot unless this document makes it; one that is made, an output
        or processed is a Batch. None where it is not mapped (a GTIN without a lot)."""
        allowed = {"input": (E.MaterialLot, E.Batch), "received": (E.MaterialLot,)}.get(
            role, (E.Batch,)
        )
        if ident.type is not None:
            if ident.type in allowed:
                return _key(ident.type, ident.id)
            names = ", ".join(str(t) for t in allowed)
            self.problem(event, place, f"{ident.text!r} names a {ident.type}; here: {names}")
            return None
        if ident.epc is not None and ident.epc.kind != "lgtin":
            if ident.epc.kind != "gtin":
                kind = ident.epc.kind
                message = f"{ident.text!r} is one object ({kind}); a quantity names a lot (lgtin)"
                self.problem(event, place, message)
            return None
        made = ident.id in self.made
        if role == "received":
            return None if made else _key(E.MaterialLot, ident.id)
        if role == "input":
            return _key(E.Batch if made else E.MaterialLot, ident.id)
        return _key(E.Batch, ident.id)

    def parties(
        self, event: _Event, ends: list[tuple[str, str, _Id]], type_: EntityType
    ) -> list[str]:
        """Suppliers (from a sourceList) or customers (from a destinationList): the entries of
        the first of owning_party, location, possessing_party the list has."""
        for wanted in ("owning_party", "location", "possessing_party"):
            chosen = [(place, ident) for kind, place, ident in ends if kind == wanted]
            if chosen:
                break
        else:
            return []
        keys = []
        for place, ident in chosen:
            if ident.type is not None and ident.type is not type_:
                self.problem(event, place, f"{ident.text!r} names a {ident.type}; here: {type_}")
                continue
            if ident.epc is not None and ident.epc.kind not in epc.PLACE_KINDS:
                message = f"{ident.text!r} is an object ({ident.epc.kind}), not a party or place"
                self.problem(event, place, message)
                continue
            key = _key(type_, ident.id)
            name = ident.epc.element_string if ident.epc is not None else ident.id
            self.name_node(key, {"name": name}, event.where)
            keys.append(key)
        return keys

    def shipment_of(self, value: str) -> str:
        """The Shipment a despatch advice names: a TraceGraph identity names its id."""
        if value.startswith(PRIVATE):
            try:
                ident = _identity(value)
            except ValueError:
                return value
            if ident.type is E.Shipment:
                return ident.id
        return value

    # ----------------------------------------------------------------- events

    def object_event(self, event: _Event) -> None:
        t = event.time
        if event.action == "DELETE":
            return
        if event.step in RECEIVING:
            suppliers = self.parties(event, event.sources, E.Supplier)
            for place, ident, quantity in event.classes:
                key = self.lot(event, f"{place}.epcClass", ident, "received")
                if key is None:
                    continue
                fields: dict[str, Any] = {"received_at": t}
                if quantity is not None:
                    fields["quantity"] = quantity
                self.define(key, fields, 2, event)
                if ident.epc is not None and ident.epc.gtin is not None:
                    material = _key(E.Material, f"01/{ident.epc.gtin}")
                    self.name_node(material, {"name": f"(01){ident.epc.gtin}"}, event.where)
                    self.edge(R.HAS_LOT, material, key, event, f"{place}.epcClass")
                for supplier in suppliers:
                    self.edge(R.SUPPLIED, supplier, key, event, "sourceList")
            return
        if event.step == SHIPPING:
            customers = self.parties(event, event.destinations, E.Customer)
            devices, units = [], 0
            for place, ident in event.objects:
                key = self.thing(event, place, ident, (E.Device, E.Shipment), E.Device)
                if key is None:
                    continue
                if key_type(key) is E.Shipment:
                    units += 1
                    self.define(key, {"shipped_at": t}, 2, event)
                    for customer in customers:
                        self.edge(R.DELIVERED_TO, key, customer, event, "destinationList")
                else:
                    devices.append((place, key))
            advice = next((v for k, v in event.transactions if k == "desadv"), None)
            # loose devices go in the shipment the despatch advice (or the event) names; an
            # advice alone is a shipment too, unless it names the logistic units shipped
            if devices or (advice is not None and not units):
                shipment = _key(E.Shipment, self.shipment_of(advice or event.ident))
                self.define(shipment, {"shipped_at": t}, 2, event)
                for place, device in devices:
                    self.edge(R.SHIPPED_IN, device, shipment, event, place)
                for customer in customers:
                    self.edge(R.DELIVERED_TO, shipment, customer, event, "destinationList")
            return
        if event.step == REPAIRING:
            devices = [
                (place, key)
                for place, ident in event.objects
                if (key := self.thing(event, place, ident, (E.Device,), E.Device)) is not None
            ]
            service_id, named = event.ident, False
            if event.ident.startswith(PRIVATE):
                try:
                    given = _identity(event.ident)
                except ValueError:
                    given = None
                if given is not None and given.type is E.ServiceEvent:
                    service_id, named = given.id, True
            if devices or named:
                service = _key(E.ServiceEvent, service_id)
                fields = {"kind": REPAIRING, "performed_at": t}
                self.define(service, fields, 2, event)
                for place, device in devices:
                    self.edge(R.HAS_SERVICE, device, service, event, place)
            return
        if event.action != "ADD":
            return
        for place, ident in event.objects:
            key = self.thing(event, place, ident, (E.Device,), E.Device)
            if key is None:
                continue
            fields = {"manufactured_at": t}
            found = ident.epc
            if found is not None:
                fields["udi"] = _udi(found, event.lot, event.expiry)
                self.product(found, event.where)
                if event.lot is not None and found.gtin is not None:
                    lot = Epc("lgtin", (("01", found.gtin), ("10", event.lot)))
                    self.edge(R.PRODUCED, _key(E.Batch, lot.canonical), key, event, "ilmd")
            self.define(key, fields, 2, event)
        for place, ident, _ in event.classes:
            key = self.lot(event, f"{place}.epcClass", ident, "made")
            if key is None:
                continue
            self.define(key, {"started_at": t}, 1, event)
            product = self.product(ident.epc, event.where)
            if product is not None:
                self.edge(R.HAS_BATCH, product, key, event, f"{place}.epcClass")

    def aggregation(self, event: _Event) -> None:
        """AggregationEvent and AssociationEvent: children into their parent."""
        if event.action == "DELETE" or event.parent is None:
            return
        parent = self.thing(
            event, "parentID", event.parent, (E.Device, E.Shipment, E.Equipment), E.Device
        )
        if parent is None:
            return
        kind = key_type(parent)
        if kind is E.Equipment:
            found = event.parent.epc
            name = found.element_string if found is not None else event.parent.id
            self.name_node(parent, {"name": name}, event.where)
        if kind is E.Shipment and event.action == "ADD":
            self.define(parent, {"shipped_at": event.time}, 1, event)
        for place, ident in event.objects:
            child = self.thing(event, place, ident, (E.Device,), E.Device)
            if child is None:
                continue
            if kind is E.Device:
                self.edge(R.INSTALLED_IN, child, parent, event, place, at=event.time)
            elif kind is E.Shipment:
                self.edge(R.SHIPPED_IN, child, parent, event, place)
        if kind is E.Equipment:
            for place, ident, _ in event.classes:
                batch = self.lot(event, f"{place}.epcClass", ident, "processed")
                if batch is not None:
                    self.edge(R.PROCESSED, parent, batch, event, place, at=event.time)

    def transaction(self, event: _Event) -> None:
        """A despatch advice (desadv) is a shipment: its objects are in it."""
        if event.action == "DELETE":
            return
        advices = [v for k, v in event.transactions if k == "desadv"]
        if not advices:
            return
        customers = self.parties(event, event.destinations, E.Customer)
        devices = [
            (place, key)
            for place, ident in event.objects
            if (key := self.thing(event, place, ident, (E.Device,), E.Device)) is not None
        ]
        for advice in advices:
            shipment = _key(E.Shipment, self.shipment_of(advice))
            self.define(shipment, {"shipped_at": event.time}, 1, event)
            for place, device in devices:
                self.edge(R.SHIPPED_IN, device, shipment, event, place)
            for customer in customers:
                self.edge(R.DELIVERED_TO, shipment, customer, event, "destinationList")

    def transformation(self, event: _Event) -> None:
        """Inputs upstream of outputs (the events of one transformationID are merged first)."""
        t = event.time
        lots = []
        for place, ident, quantity in event.input_classes:
            key = self.lot(event, f"{place}.epcClass", ident, "input")
            if key is not None:
                lots.append((place, key, quantity))
        parts = [
            (place, key)
            for place, ident in event.inputs
            if (key := self.thing(event, place, ident, (E.Device,), E.Device)) is not None
        ]
        batches = []
        for place, ident, _ in event.output_classes:
            key = self.lot(event, f"{place}.epcClass", ident, "output")
            if key is not None:
                batches.append((key, ident.epc.gtin if ident.epc else None))
        devices = []
        for place, ident in event.outputs:
            key = self.thing(event, place, ident, (E.Device,), E.Device)
            if key is not None:
                devices.append((place, key, ident.epc))
        if not batches and lots and devices:
            order = event.transformation or event.ident
            batches = [(_key(E.Batch, order), None)]
        for batch, gtin in batches:
            self.define(batch, {"started_at": t}, 2, event)
            makes = {gtin} if gtin else set()
            if not gtin:
                for _, _, found in devices:
                    if found is not None and found.gtin is not None:
                        makes.add(found.gtin)
            for each in sorted(makes):
                product = self.product(Epc("gtin", (("01", each),)), event.where)
                if product is not None:
                    self.edge(R.HAS_BATCH, product, batch, event, "outputQuantityList")
        for place, key, quantity in lots:
            for batch, _ in batches:
                props: dict[str, Any] = {"at": t}
                if quantity is not None and len(batches) == 1:
                    props["quantity"] = quantity
                self.edge(R.CONSUMED_IN, key, batch, event, f"{place}.epcClass", **props)
        for place, device, found in devices:
            gtin = found.gtin if found is not None else None
            of_gtin = [b for b, g in batches if g is not None and g == gtin]
            fields: dict[str, Any] = {"manufactured_at": t}
            if found is not None:
                lot = (
                    epc.from_canonical(of_gtin[0].partition(":")[2]) if len(of_gtin) == 1 else None
                )
                fields["udi"] = _udi(found, lot.value("10") if lot else event.lot, event.expiry)
                self.product(found, event.where)
            self.define(device, fields, 1, event)
            sources = of_gtin or [b for b, _ in batches]
            for batch in sources:
                self.edge(R.PRODUCED, batch, device, event, place)
            for part_place, part in parts:
                self.edge(R.INSTALLED_IN, part, device, event, part_place, at=t)


def _udi(found: Epc, lot: str | None, expiry: str | None) -> str:
    """A device's UDI as GS1 element string text: (01) GTIN, (17) expiry, (10) lot, (21)."""
    text = f"(01){found.gtin}"
    if expiry:
        text += f"(17){expiry[2:4]}{expiry[5:7]}{expiry[8:10]}"
    if lot:
        text += f"(10){lot}"
    return text + f"(21){found.value('21')}"


def _merge_transformations(events: list[_Event]) -> list[_Event]:
    """The events to map, last first: those of one transformationID become one, at the
    first's place."""
    groups: dict[str, _Event] = {}
    out = []
    for event in events:
        tid = event.transformation if event.kind == "TransformationEvent" else None
        if tid is None:
            out.append(event)
            continue
        first = groups.get(tid)
        if first is None:
            groups[tid] = event
            out.append(event)
            continue
        first.inputs += event.inputs
        first.input_classes += event.input_classes
        first.outputs += event.outputs
        first.output_classes += event.output_classes
    out.reverse()
    return out


def _made(events: Iterable[_Event]) -> set[str]:
    """Ids of the lots a document makes: transformation outputs and quantities added."""
    made: set[str] = set()
    for event in events:
        if event.kind == "TransformationEvent":
            made.update(i.id for _, i, _ in event.output_classes if i.type is None)
        elif (
            event.kind == "ObjectEvent"
            and event.action == "ADD"
            and event.step not in RECEIVING
            and event.step not in (SHIPPING, REPAIRING)
        ):
            made.update(i.id for _, i, _ in event.classes if i.type is None)
    return made


# --------------------------------------------------------------------------- master data


def _prefixes(document: Mapping[str, Any]) -> dict[str, str]:
    """Compact IRI prefixes the document's @context defines (``tg`` → ``urn:…``)."""
    context = document.get("@context")
    items = context if isinstance(context, list) else [context]
    out = {"cbvmda": _CBV_MDA}
    for item in items:
        if isinstance(item, dict):
            out.update({k: v for k, v in item.items() if isinstance(v, str)})
    return out


def _master_data(document: Mapping[str, Any], name: str | None) -> tuple[list[_Master], list[Raw]]:
    """The master data in ``epcisHeader.epcisMasterData`` that names TraceGraph fields."""
    where = f"{name}: epcisHeader" if name else "epcisHeader"
    header = document.get("epcisHeader")
    if header is None:
        return [], []
    problems: list[Raw] = []

    def bad(place: str, message: str) -> None:
        problems.append(Raw(where, None, f"field '{place}': {message}"))

    if not isinstance(header, dict):
        bad("epcisHeader", "must be a JSON object")
        return [], problems
    data = header.get("epcisMasterData")
    if data is None:
        return [], []
    if not isinstance(data, dict) or not isinstance(data.get("vocabularyList", []), list):
        bad("epcisMasterData", "must be an object with a vocabularyList (an array)")
        return [], problems
    prefixes = _prefixes(document)
    out: list[_Master] = []
    for v, vocabulary in enumerate(data.get("vocabularyList", [])):
        place = f"epcisMasterData.vocabularyList[{v}]"
        if not isinstance(vocabulary, dict):
            bad(place, "must be an object with type and vocabularyElementList")
            continue
        vtype = vocabulary.get("type")
        elements = vocabulary.get("vocabularyElementList", [])
        if not isinstance(vtype, str) or not isinstance(elements, list):
            bad(place, "must have a type (a URI) and a vocabularyElementList (an array)")
            continue
        type_: EntityType | None = None
        if vtype.startswith(VTYPE):
            if vtype[len(VTYPE) :] not in E.__members__:
                bad(f"{place}.type", f"{_said(vtype)}: not a TraceGraph entity type")
                continue
            type_ = E(vtype[len(VTYPE) :])
        for n, element in enumerate(elements):
            here = f"{place}.vocabularyElementList[{n}]"
            if not isinstance(element, dict):
                bad(here, "must be an object with an id")
                continue
            try:
                ident = _identity(element.get("id"))
            except ValueError as exc:
                bad(f"{here}.id", str(exc))
                continue
            if type_ is not None and ident.type not in (None, type_):
                bad(f"{here}.id", f"{ident.text!r} names a {ident.type}, not a {type_}")
                continue
            attributes = element.get("attributes", [])
            if not isinstance(attributes, list):
                bad(f"{here}.attributes", "must be an array")
                continue
            fields: dict[str, Any] = {}
            materials: list[_Id] = []
            for a, attribute in enumerate(attributes):
                if not isinstance(attribute, dict) or not isinstance(attribute.get("id"), str):
                    bad(f"{here}.attributes[{a}]", "must be an object with an id")
                    continue
                aid = str(attribute["id"])
                prefix, colon, local = aid.partition(":")
                if colon and prefix in prefixes and not local.startswith("//"):
                    aid = prefixes[prefix] + local
                value = attribute.get("attribute")
                if aid.startswith(FIELD):
                    fname = aid[len(FIELD) :]
                    if fname == MATERIAL_ATTRIBUTE:
                        for m, text in enumerate(value if isinstance(value, list) else [value]):
                            try:
                                materials.append(_identity(text))
                            except ValueError as exc:
                                bad(f"{here}.attributes[{a}].attribute[{m}]", str(exc))
                    else:
                        fields[fname] = value
                elif aid.startswith(_CBV_MDA) and aid[len(_CBV_MDA) :] in _CBV_FIELDS:
                    fields.setdefault(_CBV_FIELDS[aid[len(_CBV_MDA) :]], value)
            out.append(_Master(type_, ident, fields, materials, f"{where} {ident.text!r}"))
    return out, problems


# --------------------------------------------------------------------------- reading: entry


def is_document(path: str | Path) -> bool:
    """Whether a file is to be read as EPCIS: a ``.jsonld`` file, or a ``.json`` file that is
    one JSON object of type EPCISDocument (a file of JSON Lines is not)."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".jsonld":
        return True
    if suffix != ".json":
        return False
    try:
        with open(file, "rb") as handle:
            head = handle.read(1 << 20)
    except OSError:
        return False
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"{"):
        return False
    first, newline, _ = text.partition(b"\n")
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        # Not one object on the first line: a document spread over lines (or broken JSON
        # Lines, which the JSON Lines reader reports line by line).
        return re.search(rb'"type"\s*:\s*"EPCISDocument"|"epcisBody"\s*:', head) is not None
    return (
        isinstance(record, dict)
        and record.get("type") == "EPCISDocument"
        and (not newline or not text.partition(b"\n")[2].strip())
    )


def read(path: str | Path) -> Iterator[Raw]:
    """The records an EPCIS 2.0 document file maps to (problems as Raw with a message)."""
    name = str(path)
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed below, before the records are made
    except OSError as exc:
        yield Raw(name, None, f"cannot read: {exc.strerror}")
        return
    with file:
        document = _loads(name, file.read())
    # The text is let go here and each event once it is read: a document of a million records
    # is held once, as Python objects, not also as text.
    yield from document if isinstance(document, list) else _read(name, document, consume=True)


def read_bytes(name: str | None, data: bytes) -> Iterator[Raw]:
    """The records of an EPCIS document given as bytes; ``name`` prefixes every place."""
    document = _loads(name or "document", data)
    yield from document if isinstance(document, list) else _read(name, document, consume=True)


def _loads(name: str, data: bytes) -> Any:
    """The parsed document, or a list of the one Raw that says it is not JSON."""
    try:
        return orjson.loads(data.removeprefix(codecs.BOM_UTF8))
    except orjson.JSONDecodeError as exc:
        return [Raw(name, None, f"not valid JSON ({exc.msg}, line {exc.lineno})")]


def read_document(name: str | None, document: Any) -> Iterator[Raw]:
    """The records of a parsed EPCIS document: every problem, or the mapped records."""
    return _read(name, document, consume=False)


def _read(name: str | None, document: Any, *, consume: bool) -> Iterator[Raw]:
    """`read_document`; with ``consume``, each event is taken out of the document once read."""
    top = name or "document"
    if not isinstance(document, dict):
        yield Raw(top, None, "not an EPCIS document: the top level must be a JSON object")
        return
    problems = _check_document(document)
    if problems:
        yield from (Raw(top, None, p) for p in problems)
        return
    body = document["epcisBody"]
    seen: dict[str, int] = {}
    events: list[_Event] = []
    failed: list[Raw] = []
    listed: list[Any] = body["eventList"]
    for number, raw in enumerate(listed, start=1):
        if consume:
            listed[number - 1] = None
        checked = _check_event(number, raw, name, seen)
        if isinstance(checked, Raw):
            failed.append(checked)
        elif checked.given_id is None or seen[checked.given_id] == number:
            events.append(checked)  # an eventID seen before is that event, sent again
    masters, header_problems = _master_data(document, name)
    failed += header_problems
    if failed:
        yield from failed
        return
    mapper = _Mapper()
    mapper.made = _made(events)
    merged = _merge_transformations(events)
    events.clear()
    while merged:  # each event let go once mapped
        event = merged.pop()
        if event.kind == "ObjectEvent":
            mapper.object_event(event)
        elif event.kind in ("AggregationEvent", "AssociationEvent"):
            mapper.aggregation(event)
        elif event.kind == "TransactionEvent":
            mapper.transaction(event)
        else:
            mapper.transformation(event)
    if mapper.problems:
        yield from mapper.problems
        return
    yield from _records(mapper, masters)


def _check_document(document: Mapping[str, Any]) -> list[str]:
    problems = []
    kind = document.get("type")
    if kind != "EPCISDocument":
        problems.append(
            f"field 'type': {_said(kind)} is not EPCISDocument (an EPCIS 2.0 document is expected)"
            if kind is not None
            else "field 'type': required (EPCISDocument)"
        )
    if "@context" not in document:
        problems.append("field '@context': required (the EPCIS 2.0 JSON-LD context)")
    version = document.get("schemaVersion")
    if version is None:
        problems.append("field 'schemaVersion': required (\"2.0\")")
    elif not isinstance(version, str) or not version.startswith("2."):
        problems.append(f"field 'schemaVersion': {_said(version)} is not \"2.0\" (EPCIS 2.0)")
    created = document.get("creationDate")
    if created is None:
        problems.append("field 'creationDate': required")
    elif not isinstance(created, str) or not _DATE_TIME.match(created.strip()):
        problems.append(
            f"field 'creationDate': not a date-time with a UTC offset: {_said(created)}"
        )
    body = document.get("epcisBody")
    if not isinstance(body, dict):
        problems.append("field 'epcisBody': required (an object with an eventList)")
    elif not isinstance(body.get("eventList"), list):
        problems.append("field 'epcisBody.eventList': required (an array of events)")
    return problems


def _records(mapper: _Mapper, masters: list[_Master]) -> Iterator[Raw]:
    """Nodes (as their events give them), edges, then master data (whose fields win); every
    record stands alone, so each problem is reported at the place that caused it."""
    emitted: dict[str, dict[str, Any]] = {}
    for key, (fields, where) in mapper.named.items():
        if key not in mapper.defs:
            emitted[key] = fields
            # a name made from an identifier stands in for one the store may know already
            yield _node(key, fields, where, provisional=frozenset(fields))
    for key, held in mapper.defs.items():
        emitted[key] = held.fields
        # (a weaker event's fields — a packing event's time for a shipment — only stand in)
        guessed = frozenset(held.fields) if held.rank < 2 else frozenset()
        yield _node(key, held.fields, held.where, provisional=guessed)
    edges = mapper.edges
    edges.reverse()
    while edges:  # each let go once made a record
        rel, src, dst, props, where = edges.pop()
        yield Raw(where, {"type": str(rel), "from": src, "to": dst, **props})
    by_id: dict[str, list[str]] = defaultdict(list)
    for key in emitted:
        by_id[key.partition(":")[2]].append(key)
    targets = [
        [_key(m.type, m.ident.id)] if m.type is not None else by_id.get(m.ident.id, [])
        for m in masters
    ]
    described = {key for keys in targets for key in keys}
    for master, keys in zip(masters, targets, strict=True):
        for material in master.materials:
            found = material.epc
            if material.type not in (None, E.Material) or (
                found is not None and found.kind != "gtin"
            ):
                message = f"{material.text!r} is not a Material"
                yield Raw(master.where, None, f"field '{MATERIAL_ATTRIBUTE}': {message}")
                continue
            mkey = _key(E.Material, material.id)
            if mkey not in emitted and mkey not in described:
                emitted[mkey] = {"name": found.element_string if found else material.id}
                yield _node(mkey, emitted[mkey], master.where)
            for key in keys:
                yield Raw(master.where, {"type": "HAS_LOT", "from": mkey, "to": key})
    for master, keys in zip(masters, targets, strict=True):
        for key in keys:
            type_ = key_type(key)
            fields = master.fields
            if master.type is None:
                fields = {k: v for k, v in fields.items() if k in _FIELDS[type_]}
            given = emitted.get(key, {})
            standing = {f: given[f] for f in _REQUIRED[type_] if f in given and f not in fields}
            if fields or key not in emitted:
                yield _node(key, {**standing, **fields}, master.where)


def dangling(store: GraphStore, raws: Iterable[Raw]) -> list[str]:
    """Each node the records' edges name that neither they nor the store hold, once, at the
    first place that names it (the import would name it at every edge): what a capture
    reports before it imports."""
    defined = set()
    first: dict[str, str] = {}
    for raw in raws:
        record = raw.record
        if record is None:
            continue
        if "id" in record:
            defined.add(f"{record['type']}:{record['id']}")
        else:
            for end in ("from", "to"):
                first.setdefault(str(record[end]), f"{raw.where}: field '{end}'")
    outside = set(first) - defined
    missing = outside - store.existing(outside) if outside else set()
    return [
        f"{first[key]}: {key} exists neither in the store nor in this import"
        for key in sorted(missing, key=list(first).index)
    ]


def _node(
    key: str, fields: Mapping[str, Any], where: str, *, provisional: frozenset[str] = frozenset()
) -> Raw:
    kind, _, ident = key.partition(":")
    return Raw(where, {"type": kind, "id": ident, **fields}, provisional=provisional)


# --------------------------------------------------------------------------- export


@dataclass
class Scope:
    """What an export writes: nodes, and the genealogy edges among them."""

    nodes: dict[str, Mapping[str, Any]]
    edges: list[tuple[RelType, str, str, Mapping[str, Any]]]


@dataclass(frozen=True)
class ExportReport:
    events: int
    nodes: int
    #: nodes of types EPCIS cannot carry, by type
    left_out: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events, "nodes": self.nodes, "left_out": self.left_out}


def scope(
    store: GraphStore,
    keys: Sequence[str],
    *,
    direction: Direction | None = None,
    depth: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Scope:
    """The nodes of the recall scope of ``keys`` (``direction`` None), or of their traces in
    that direction, with the genealogy edges among them, and the products and materials their
    GS1 identities imply, when the store holds them."""
    if direction is None:
        chosen = set(recall(store, keys, start, end).fields)
    else:
        chosen = set()
        for key in keys:
            chosen |= set(trace(store, key, direction, depth).depths)
    implied = set()
    for key in chosen:
        found = epc.from_canonical(key.partition(":")[2])
        if found is not None and found.gtin is not None:
            kind = E.Material if key_type(key) is E.MaterialLot else E.Product
            implied.add(_key(kind, f"01/{found.gtin}"))
    stored: dict[str, StoredNode] = store.nodes(chosen | implied)
    edges: list[StoredEdge] = store.edges(chosen, GENEALOGY, None)
    return Scope(
        {k: n.props for k, n in sorted(stored.items())},
        [(e.type, e.src, e.dst, e.props) for e in edges],
    )


class _Writer:
    """An EPCIS document written as it goes: events one per line, master data at the end."""

    def __init__(self, out: IO[bytes], created: dt.datetime | None) -> None:
        self.out = out
        self.count = 0
        self.spools: dict[EntityType, IO[bytes]] = {}
        when = iso(created or dt.datetime.now(dt.UTC))
        head = {
            "@context": [CONTEXT],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": when,
        }
        out.write(orjson.dumps(head)[:-1] + b',"epcisBody":{"eventList":[')

    def event(
        self, kind: str, time: Any, body: dict[str, Any], event_id: str | None = None
    ) -> None:
        event: dict[str, Any] = {
            "type": kind,
            "eventTime": iso(time),
            "eventTimeZoneOffset": "+00:00",
            **body,
        }
        if event_id is None:
            event_id = _event_id(event)
        event = {
            "type": kind,
            "eventID": event_id,
            **{k: v for k, v in event.items() if k != "type"},
        }
        self.out.write((b"\n" if self.count == 0 else b",\n") + orjson.dumps(event, default=iso))
        self.count += 1

    def master(self, type_: EntityType, key: str, fields: Mapping[str, Any]) -> None:
        attributes = [
            {"id": f"{FIELD}{name}", "attribute": value} for name, value in sorted(fields.items())
        ]
        element = {"id": identity_uri(key), "attributes": attributes}
        spool = self.spools.get(type_)
        if spool is None:
            spool = self.spools[type_] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close
        else:
            spool.write(b",\n")
        spool.write(orjson.dumps(element, default=iso))

    def close(self) -> None:
        out = self.out
        out.write(b"\n]}")
        if self.spools:
            out.write(b',\n"epcisHeader":{"epcisMasterData":{"vocabularyList":[')
            for n, (type_, spool) in enumerate(sorted(self.spools.items())):
                vocabulary = orjson.dumps({"type": f"{VTYPE}{type_}"})[:-1]
                out.write((b",\n" if n else b"\n") + vocabulary + b',"vocabularyElementList":[\n')
                spool.seek(0)
                shutil.copyfileobj(spool, out)
                spool.close()
                out.write(b"\n]}")
            out.write(b"\n]}}")
        out.write(b"}\n")


_Edges = Sequence[tuple[RelType, str, str, Mapping[str, Any]]]


def _by(
    edges: _Edges, rel: RelType, by_src: bool
) -> dict[str, list[tuple[str, Mapping[str, Any]]]]:
    """Edges of one type grouped by one end (by_src: the from end), each with its other end."""
    out: dict[str, list[tuple[str, Mapping[str, Any]]]] = defaultdict(list)
    for kind, src, dst, props in edges:
        if kind is rel:
            if by_src:
                out[src].append((dst, props))
            else:
                out[dst].append((src, props))
    for items in out.values():
        items.sort(key=lambda item: item[0])
    return out


def _quantity(key: str, props: Mapping[str, Any]) -> dict[str, Any]:
    element: dict[str, Any] = {"epcClass": identity_uri(key)}
    if props.get("quantity") is not None:
        element["quantity"] = props["quantity"]
    return element


def _events(
    writer: _Writer,
    nodes: Mapping[str, Mapping[str, Any]],
    edges: _Edges,
) -> dict[str, int]:
    """Write the events of these nodes (those an event defines) and of the edges among them,
    and their master data; the count of nodes left out, by type."""
    by_type: dict[EntityType, list[str]] = defaultdict(list)
    for key in sorted(nodes):
        by_type[key_type(key)].append(key)
    when: Callable[[str, str], Any] = lambda key, name: nodes[key].get(name)  # noqa: E731
    supplied = _by(edges, R.SUPPLIED, by_src=False)
    consumed = _by(edges, R.CONSUMED_IN, by_src=False)
    produced = _by(edges, R.PRODUCED, by_src=True)
    shipped = _by(edges, R.SHIPPED_IN, by_src=False)
    delivered = _by(edges, R.DELIVERED_TO, by_src=True)
    serviced = _by(edges, R.HAS_SERVICE, by_src=False)
    materials = _by(edges, R.HAS_LOT, by_src=False)
    more: dict[str, dict[str, Any]] = {}  # master data beyond the node's fields

    for lot in by_type[E.MaterialLot]:
        found = epc.from_canonical(lot.partition(":")[2])
        body: dict[str, Any] = {
            "action": "OBSERVE",
            "bizStep": "receiving",
            "quantityList": [_quantity(lot, nodes[lot])],
        }
        if supplied.get(lot):
            body["sourceList"] = [
                {"type": "owning_party", "source": identity_uri(s)} for s, _ in supplied[lot]
            ]
        writer.event("ObjectEvent", when(lot, "received_at"), body)
        implied = _key(E.Material, f"01/{found.gtin}") if found and found.gtin else None
        extra = [m for m, _ in materials.get(lot, []) if m != implied]
        if extra:
            more[lot] = {MATERIAL_ATTRIBUTE: [identity_uri(m) for m in extra]}
    for batch in sorted(by_type[E.Batch], key=lambda b: (iso(when(b, "started_at")), b)):
        started = iso(when(batch, "started_at"))
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for src, props in consumed.get(batch, []):
            at = iso(props.get("at")) if props.get("at") is not None else started
            groups[at].append(_quantity(src, props))
        body = {"bizStep": "commissioning"}
        if groups.get(started):
            body["inputQuantityList"] = groups.pop(started)
        body["outputQuantityList"] = [{"epcClass": identity_uri(batch)}]
        devices = [d for d, _ in produced.get(batch, [])]
        if devices:
            body["outputEPCList"] = [identity_uri(d) for d in devices]
        writer.event("TransformationEvent", started, body)
        for at in sorted(groups):
            writer.event(
                "TransformationEvent",
                at,
                {
                    "bizStep": "commissioning",
                    "inputQuantityList": groups[at],
                    "outputQuantityList": [{"epcClass": identity_uri(batch)}],
                },
            )
    made: dict[str, list[str]] = defaultdict(list)
    for device in by_type[E.Device]:
        made[iso(when(device, "manufactured_at"))].append(device)
    for moment in sorted(made):
        epcs = [identity_uri(d) for d in made[moment]]
        writer.event(
            "ObjectEvent", moment, {"epcList": epcs, "action": "ADD", "bizStep": "commissioning"}
        )
    for shipment in by_type[E.Shipment]:
        devices = [identity_uri(d) for d, _ in shipped.get(shipment, [])]
        customers = [
            {"type": "owning_party", "destination": identity_uri(c)}
            for c, _ in delivered.get(shipment, [])
        ]
        moment = when(shipment, "shipped_at")
        body = {"action": "OBSERVE", "bizStep": SHIPPING}
        if identity_uri(shipment).startswith(epc.DIGITAL_LINK_HOST):  # an SSCC
            if devices:
                packing = {"parentID": identity_uri(shipment), "childEPCs": devices}
                writer.event(
                    "AggregationEvent", moment, {**packing, "action": "ADD", "bizStep": "packing"}
                )
            body["epcList"] = [identity_uri(shipment)]
        else:
            body["epcList"] = devices
            body["bizTransactionList"] = [
                {"type": "desadv", "bizTransaction": identity_uri(shipment)}
            ]
        if customers:
            body["destinationList"] = customers
        writer.event("ObjectEvent", moment, body)
    installed: dict[tuple[str, str], list[str]] = defaultdict(list)
    processed: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rel, src, dst, props in edges:
        if rel is R.INSTALLED_IN:
            at = props.get("at")
            if at is None:
                at = nodes.get(dst, {}).get("manufactured_at") or nodes.get(src, {}).get(
                    "manufactured_at"
                )
            if at is not None:
                installed[(dst, iso(at))].append(src)
        elif rel is R.PROCESSED:
            processed[(src, iso(props.get("at")))].append(dst)
    for (parent, at), children in sorted(installed.items()):
        assembly = {
            "parentID": identity_uri(parent),
            "childEPCs": [identity_uri(c) for c in sorted(children)],
        }
        writer.event("AggregationEvent", at, {**assembly, "action": "ADD", "bizStep": "assembling"})
    for (equipment, at), batches in sorted(processed.items()):
        writer.event(
            "AssociationEvent",
            at,
            {
                "parentID": identity_uri(equipment),
                "childQuantityList": [{"epcClass": identity_uri(b)} for b in sorted(batches)],
                "action": "ADD",
            },
        )
    for service in by_type[E.ServiceEvent]:
        devices = [identity_uri(d) for d, _ in serviced.get(service, [])]
        writer.event(
            "ObjectEvent",
            when(service, "performed_at"),
            {"epcList": devices, "action": "OBSERVE", "bizStep": REPAIRING},
            event_id=identity_uri(service),
        )
    left_out: dict[str, int] = {}
    for type_, keys in sorted(by_type.items()):
        if type_ not in EXPORTED:
            left_out[str(type_)] = len(keys)
            continue
        skip = _EVENT_FIELDS.get(type_, frozenset())
        carried = _FIELDS[type_] - skip - {"id"}  # not the fields derived on import (udi_di, …)
        for key in keys:
            fields = {k: v for k, v in nodes[key].items() if k in carried and v is not None}
            fields.update(more.get(key, {}))
            if fields:
                writer.master(type_, key, fields)
    return left_out


def export(scope_: Scope, out: IO[bytes], *, created: dt.datetime | None = None) -> ExportReport:
    """Write a scope as an EPCIS 2.0 document (JSON-LD)."""
    writer = _Writer(out, created)
    exportable = {k: v for k, v in scope_.nodes.items() if key_type(k) in EXPORTED}
    left_out = _events(writer, scope_.nodes, scope_.edges)
    writer.close()
    return ExportReport(writer.count, len(exportable), left_out)


def write_records(
    records: Iterable[Mapping[str, Any]], out: IO[bytes], *, created: dt.datetime | None = None
) -> int:
    """Write records of the import format as an EPCIS document, as they come: the records
    from one Batch to the next are written together, so a stream that gives each batch with
    its lots, devices and shipments before the next batch (as `tracegraph generate` does) is
    written in memory bounded by a batch. Returns how many events were written."""
    writer = _Writer(out, created)
    nodes: dict[str, Mapping[str, Any]] = {}
    edges: list[tuple[RelType, str, str, Mapping[str, Any]]] = []
    rels = {str(r): r for r in GENEALOGY}

    def flush() -> None:
        _events(writer, nodes, edges)
        nodes.clear()
        edges.clear()

    for record in records:
        kind = str(record.get("type"))
        if "id" in record and kind in E.__members__:
            if kind == "Batch" and any(key_type(k) is E.Batch for k in nodes):
                flush()
            nodes[f"{kind}:{record['id']}"] = {
                k: v for k, v in record.items() if k not in ("type", "id")
            }
        elif kind in rels:
            props = {k: v for k, v in record.items() if k not in ("type", "from", "to")}
            edges.append((rels[kind], str(record["from"]), str(record["to"]), props))
    flush()
    writer.close()
    return writer.count


# --------------------------------------------------------------------------- schema


def document_schema() -> dict[str, Any]:
    """JSON Schema of the documents capture reads (what the API's OpenAPI document shows)."""
    uri = {"type": "string", "format": "uri", "pattern": r"^[A-Za-z][A-Za-z0-9+.\-]*:\S*$"}
    uris = {"type": "array", "items": uri}
    quantity = {
        "type": "object",
        "required": ["epcClass"],
        "properties": {
            "epcClass": uri,
            "quantity": {"type": "number"},
            "uom": {"type": "string"},
        },
    }
    quantities = {"type": "array", "items": quantity}
    text = {"type": "string", "minLength": 1}

    def end(member: str) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["type", member],
            "properties": {"type": text, member: uri},
        }

    transactions: dict[str, Any] = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["bizTransaction"],
            "properties": {"type": {"type": "string"}, "bizTransaction": uri},
        },
    }
    common: dict[str, Any] = {
        "eventTime": {"type": "string", "format": "date-time"},
        "eventTimeZoneOffset": {
            "type": "string",
            "pattern": r"^[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)$",
        },
        "eventID": uri,
        "errorDeclaration": False,
        "bizStep": text,
        "disposition": text,
        "readPoint": {"type": "object", "required": ["id"], "properties": {"id": uri}},
        "bizLocation": {"type": "object", "required": ["id"], "properties": {"id": uri}},
        "bizTransactionList": transactions,
        "sourceList": {"type": "array", "items": end("source")},
        "destinationList": {"type": "array", "items": end("destination")},
        "ilmd": {"type": "object"},
    }
    action = {"type": "string", "enum": ["ADD", "OBSERVE", "DELETE"]}

    def event(kind: str, required: list[str], more: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["type", "eventTime", "eventTimeZoneOffset", *required],
            "properties": {"type": {"const": kind}, **common, **more},
            **extra,
        }

    children = {
        "anyOf": [
            {"required": ["childEPCs"], "properties": {"childEPCs": {"minItems": 1}}},
            {
                "required": ["childQuantityList"],
                "properties": {"childQuantityList": {"minItems": 1}},
            },
        ]
    }
    io_lists = ["inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList"]
    events = [
        event(
            "ObjectEvent",
            ["action"],
            {"action": action, "epcList": uris, "quantityList": quantities},
            anyOf=[
                {"required": ["epcList"]},
                {"required": ["quantityList"], "properties": {"quantityList": {"minItems": 1}}},
            ],
        ),
        event(
            "AggregationEvent",
            ["action", "parentID"],
            {"action": action, "parentID": uri, "childEPCs": uris, "childQuantityList": quantities},
            **children,
        ),
        event(
            "AssociationEvent",
            ["action", "parentID"],
            {"action": action, "parentID": uri, "childEPCs": uris, "childQuantityList": quantities},
            **children,
        ),
        event(
            "TransactionEvent",
            ["action", "bizTransactionList"],
            {
                "action": action,
                "parentID": uri,
                "epcList": uris,
                "quantityList": quantities,
            },
        ),
        event(
            "TransformationEvent",
            [],
            {
                "inputEPCList": uris,
                "inputQuantityList": quantities,
                "outputEPCList": uris,
                "outputQuantityList": quantities,
                "transformationID": uri,
            },
            anyOf=[{"required": [n], "properties": {n: {"minItems": 1}}} for n in io_lists],
        ),
    ]
    events[3]["properties"]["bizTransactionList"] = {**transactions, "minItems": 1}
    return {
        "type": "object",
        "required": ["@context", "type", "schemaVersion", "creationDate", "epcisBody"],
        "properties": {
            "@context": {
                "oneOf": [
                    {"type": "string", "const": CONTEXT},
                    {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
                ]
            },
            "type": {"const": "EPCISDocument"},
            "schemaVersion": {"const": "2.0"},
            "creationDate": {"type": "string", "format": "date-time"},
            "epcisHeader": {"type": "object"},
            "epcisBody": {
                "type": "object",
                "required": ["eventList"],
                "properties": {"eventList": {"type": "array", "items": {"oneOf": events}}},
            },
        },
    }
