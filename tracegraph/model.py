"""The graph model: entity and relationship types, their fields, and the data dictionary.

Everything that names a label, a relationship type or a field comes from here; the stores and
the Cypher files are checked against it. Records are validated by one pydantic model per type
(``extra="forbid"``), so an unknown field, a missing required field, a bad enum value or a bad
date is reported by the same machinery everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import UnionType
from typing import Annotated, Any, Final, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from tracegraph.errors import BadInput

# --------------------------------------------------------------------------- types


class EntityType(StrEnum):
    Supplier = "Supplier"
    Certificate = "Certificate"
    Material = "Material"
    MaterialLot = "MaterialLot"
    Product = "Product"
    Batch = "Batch"
    Device = "Device"
    Process = "Process"
    Equipment = "Equipment"
    MaintenanceEvent = "MaintenanceEvent"
    Inspection = "Inspection"
    ChangeOrder = "ChangeOrder"
    Document = "Document"
    Shipment = "Shipment"
    Customer = "Customer"
    ServiceEvent = "ServiceEvent"
    Complaint = "Complaint"


class RelType(StrEnum):
    # genealogy
    SUPPLIED = "SUPPLIED"
    HAS_LOT = "HAS_LOT"
    CONSUMED_IN = "CONSUMED_IN"
    PRODUCED = "PRODUCED"
    INSTALLED_IN = "INSTALLED_IN"
    PROCESSED = "PROCESSED"
    FOLLOWED = "FOLLOWED"
    IMPLEMENTED_IN = "IMPLEMENTED_IN"
    SHIPPED_IN = "SHIPPED_IN"
    DELIVERED_TO = "DELIVERED_TO"
    HAS_SERVICE = "HAS_SERVICE"
    HAS_COMPLAINT = "HAS_COMPLAINT"
    # design
    COMPONENT_OF = "COMPONENT_OF"
    HAS_BATCH = "HAS_BATCH"
    GOVERNS = "GOVERNS"
    CHANGES = "CHANGES"
    # evidence
    CERTIFIES = "CERTIFIES"
    INSPECTED = "INSPECTED"
    MAINTAINS = "MAINTAINS"


class Family(StrEnum):
    genealogy = "genealogy"
    design = "design"
    evidence = "evidence"


class Direction(StrEnum):
    up = "up"
    down = "down"


#: The longest chain of hops a closure follows ("no depth limit" means this many). Cypher needs
#: a finite bound for its breadth-first expand, and both stores must give the same answer; a
#: real genealogy (supplier → lot → sub-assemblies → device → shipment → customer) is a few
#: dozen hops at most, so a longer chain is a data error, not a deeper trace.
MAX_HOPS: Final = 100

E = EntityType
R = RelType

FAMILY: Final[Mapping[RelType, Family]] = {
    **{
        r: Family.genealogy
        for r in (
            R.SUPPLIED,
            R.HAS_LOT,
            R.CONSUMED_IN,
            R.PRODUCED,
            R.INSTALLED_IN,
            R.PROCESSED,
            R.FOLLOWED,
            R.IMPLEMENTED_IN,
            R.SHIPPED_IN,
            R.DELIVERED_TO,
            R.HAS_SERVICE,
            R.HAS_COMPLAINT,
        )
    },
    **{r: Family.design for r in (R.COMPONENT_OF, R.HAS_BATCH, R.GOVERNS, R.CHANGES)},
    **{r: Family.evidence for r in (R.CERTIFIES, R.INSPECTED, R.MAINTAINS)},
}

GENEALOGY: Final[tuple[RelType, ...]] = tuple(r for r in RelType if FAMILY[r] is Family.genealogy)
DESIGN: Final[tuple[RelType, ...]] = tuple(r for r in RelType if FAMILY[r] is Family.design)
EVIDENCE: Final[tuple[RelType, ...]] = tuple(r for r in RelType if FAMILY[r] is Family.evidence)

#: The genealogy edges that make a batch: everything upstream of PRODUCED. In the genealogy the
#: only edge into a Device from anything else is PRODUCED (Batch → Device), so every device
#: downstream of a lot, supplier, equipment, process or change order is downstream of a batch
#: it reaches over these edges alone (common cause counts exposure that way).
MAKING: Final[tuple[RelType, ...]] = (
    R.SUPPLIED,
    R.HAS_LOT,
    R.CONSUMED_IN,
    R.PROCESSED,
    R.FOLLOWED,
    R.IMPLEMENTED_IN,
)

#: The genealogy edges into a device: from the batch that produced it, and from the devices
#: installed in it. From a batch they reach the devices it made, as they are delivered (common
#: cause counts a candidate's devices as those its batches made).
OUTPUT: Final[tuple[RelType, ...]] = (R.PRODUCED, R.INSTALLED_IN)

ENDPOINTS: Final[Mapping[RelType, frozenset[tuple[EntityType, EntityType]]]] = {
    R.SUPPLIED: frozenset({(E.Supplier, E.MaterialLot)}),
    R.HAS_LOT: frozenset({(E.Material, E.MaterialLot)}),
    R.CONSUMED_IN: frozenset({(E.MaterialLot, E.Batch), (E.Batch, E.Batch)}),
    R.PRODUCED: frozenset({(E.Batch, E.Device)}),
    R.INSTALLED_IN: frozenset({(E.Device, E.Device)}),
    R.PROCESSED: frozenset({(E.Equipment, E.Batch)}),
    R.FOLLOWED: frozenset({(E.Process, E.Batch)}),
    R.IMPLEMENTED_IN: frozenset({(E.ChangeOrder, E.Batch)}),
    R.SHIPPED_IN: frozenset({(E.Device, E.Shipment)}),
    R.DELIVERED_TO: frozenset({(E.Shipment, E.Customer)}),
    R.HAS_SERVICE: frozenset({(E.Device, E.ServiceEvent)}),
    R.HAS_COMPLAINT: frozenset({(E.Device, E.Complaint)}),
    R.COMPONENT_OF: frozenset({(E.Material, E.Product), (E.Product, E.Product)}),
    R.HAS_BATCH: frozenset({(E.Product, E.Batch)}),
    R.GOVERNS: frozenset({(E.Document, E.Process), (E.Process, E.Product)}),
    R.CHANGES: frozenset(
        {
            (E.ChangeOrder, E.Material),
            (E.ChangeOrder, E.Product),
            (E.ChangeOrder, E.Process),
            (E.ChangeOrder, E.Document),
            (E.ChangeOrder, E.Supplier),
        }
    ),
    R.CERTIFIES: frozenset({(E.Certificate, E.Supplier)}),
    R.INSPECTED: frozenset(
        {(E.Inspection, E.MaterialLot), (E.Inspection, E.Batch), (E.Inspection, E.Device)}
    ),
    R.MAINTAINS: frozenset({(E.MaintenanceEvent, E.Equipment)}),
}

MEANING: Final[Mapping[str, str]] = {
    E.Supplier: "an approved supplier",
    E.Certificate: "a supplier's qualification (ISO 13485, ...)",
    E.Material: "a purchased part or raw material",
    E.MaterialLot: "a received lot of one material",
    E.Product: "a device model (UDI-DI / GTIN)",
    E.Batch: "a production lot / work order",
    E.Device: "one serialised unit",
    E.Process: "a manufacturing process at a revision",
    E.Equipment: "a machine, tool or fixture",
    E.MaintenanceEvent: "calibration, repair or preventive maintenance",
    E.Inspection: "a quality-control record",
    E.ChangeOrder: "an engineering / process / supplier change",
    E.Document: "a controlled document",
    E.Shipment: "a delivery",
    E.Customer: "a hospital, distributor or site",
    E.ServiceEvent: "field service on a device",
    E.Complaint: "a complaint or adverse event",
    R.SUPPLIED: "the supplier delivered the lot",
    R.HAS_LOT: "the lot is of this material",
    R.CONSUMED_IN: "the lot (or sub-assembly batch) went into the batch",
    R.PRODUCED: "the batch produced the device",
    R.INSTALLED_IN: "a serialised component was installed in the device",
    R.PROCESSED: "the equipment processed the batch",
    R.FOLLOWED: "the batch was built to this process revision",
    R.IMPLEMENTED_IN: "the batch was built under the change",
    R.SHIPPED_IN: "the device left in the shipment",
    R.DELIVERED_TO: "the shipment went to the customer",
    R.HAS_SERVICE: "field service on the device",
    R.HAS_COMPLAINT: "a complaint about the device",
    R.COMPONENT_OF: "the material or sub-assembly model is part of the product",
    R.HAS_BATCH: "the batch builds this product",
    R.GOVERNS: "the document governs the process / the process governs the product",
    R.CHANGES: "the change order changes this item",
    R.CERTIFIES: "the certificate qualifies the supplier",
    R.INSPECTED: "the inspection examined this lot, batch or device",
    R.MAINTAINS: "maintenance performed on the equipment",
}

# --------------------------------------------------------------------------- values


def _parse_instant(value: Any) -> Any:
    """A date-time with no offset is UTC; a date alone is 00:00 UTC that day."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            return _instant_from_text(value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date or date-time: {value!r}") from None
    raise ValueError(f"not an ISO 8601 date or date-time: {value!r}")


def _instant_from_text(value: str) -> dt.datetime:
    text = value.strip()
    if len(text) == 10:
        day = dt.date.fromisoformat(text)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(text)
    # Stored in UTC so that equal instants compare (and dedupe) equal in every store.
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _parse_date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        raise ValueError(f"not a date (YYYY-MM-DD): {value.isoformat()!r}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not a date (YYYY-MM-DD): {value!r}") from None
    raise ValueError(f"not a date (YYYY-MM-DD): {value!r}")


def _parse_text(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"not text: {value!r}")
    text = str(value).strip()
    if not text:
        raise ValueError("empty")
    return text


def _parse_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"not a number: {value!r}")


def _parse_object(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"not a JSON object: {value!r}")
    return value


Instant = Annotated[dt.datetime, BeforeValidator(_parse_instant)]
Number = Annotated[float, BeforeValidator(_parse_number)]
FreeForm = Annotated[dict[str, Any], BeforeValidator(_parse_object)]
Day = Annotated[dt.date, BeforeValidator(_parse_date)]
Text = Annotated[str, BeforeValidator(_parse_text)]


def utc(value: str | dt.date | dt.datetime) -> dt.datetime:
    """Parse a time given by a user (CLI option, API field) the way the model reads one."""
    try:
        result: dt.datetime = _parse_instant(value)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    return result.astimezone(dt.UTC)


def bound_end(value: str | dt.date | dt.datetime) -> dt.datetime:
    """An upper bound: a date alone covers that whole day (its last microsecond)."""
    if isinstance(value, str) and len(value.strip()) == 10:
        return utc(value) + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return utc(value) + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return utc(value)


def iso(value: Any) -> Any:
    """Render a stored value as JSON: instants as ISO 8601 in UTC with a Z. (It runs for every
    property of every node an answer shows: text, the common case, is let through first.)"""
    if isinstance(value, str) or not isinstance(value, dt.date):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not dt.UTC:
            value = value.astimezone(dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    return value.isoformat()


# --------------------------------------------------------------------------- enums


class SupplierStatus(StrEnum):
    approved = "approved"
    conditional = "conditional"
    blocked = "blocked"


class BatchStatus(StrEnum):
    in_process = "in_process"
    released = "released"
    quarantined = "quarantined"
    rejected = "rejected"


class BatchKind(StrEnum):
    subassembly = "subassembly"
    finished = "finished"


class MaintenanceKind(StrEnum):
    calibration = "calibration"
    repair = "repair"
    preventive = "preventive"


class Result(StrEnum):
    passed = "pass"
    failed = "fail"


class InspectionKind(StrEnum):
    incoming = "incoming"
    in_process = "in_process"
    final = "final"


class ChangeKind(StrEnum):
    design = "design"
    process = "process"
    material = "material"
    supplier = "supplier"
    software = "software"
    document = "document"


class ChangeStatus(StrEnum):
    proposed = "proposed"
    approved = "approved"
    implemented = "implemented"
    cancelled = "cancelled"


class Severity(StrEnum):
    death = "death"
    serious_injury = "serious_injury"
    malfunction = "malfunction"
    other = "other"


# --------------------------------------------------------------------------- records


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)


class NodeFields(_Record):
    id: Text = Field(description="unique within its type; the key is Type:id")
    source: Text | None = Field(None, description="system of record, e.g. MES")
    source_ref: Text | None = Field(None, description="the record's id in its system of record")
    attributes: FreeForm | None = Field(None, description="free-form object")


class Supplier(NodeFields):
    name: Text
    status: SupplierStatus | None = None
    country: Text | None = None


class Certificate(NodeFields):
    kind: Text = Field(description="e.g. ISO 13485")
    valid_from: Day = Field(description="first day of validity (inclusive)")
    valid_to: Day = Field(description="last day of validity (inclusive)")


class Material(NodeFields):
    name: Text
    category: Text | None = None
    revision: Text | None = None


class MaterialLot(NodeFields):
    received_at: Instant
    quantity: Number | None = None


class Product(NodeFields):
    name: Text
    gtin: Text | None = Field(None, description="GS1 GTIN (UDI-DI)")
    risk_class: Text | None = None


class Batch(NodeFields):
    started_at: Instant
    completed_at: Instant | None = None
    status: BatchStatus | None = None
    kind: BatchKind | None = None


class Device(NodeFields):
    manufactured_at: Instant
    udi: Text | None = Field(None, description="full GS1 UDI string")
    status: Text | None = None


class Process(NodeFields):
    name: Text
    revision: Text


class Equipment(NodeFields):
    name: Text


class MaintenanceEvent(NodeFields):
    kind: MaintenanceKind
    performed_at: Instant
    result: Result


class Inspection(NodeFields):
    kind: InspectionKind
    performed_at: Instant
    result: Result


class ChangeOrder(NodeFields):
    kind: ChangeKind
    status: ChangeStatus
    effective_at: Instant | None = None
    title: Text | None = None


class Document(NodeFields):
    title: Text
    revision: Text


class Shipment(NodeFields):
    shipped_at: Instant


class Customer(NodeFields):
    name: Text
    country: Text | None = None


class ServiceEvent(NodeFields):
    kind: Text
    performed_at: Instant


class Complaint(NodeFields):
    reported_at: Instant
    severity: Severity
    description: Text | None = None


NODE_MODELS: Final[Mapping[EntityType, type[NodeFields]]] = {
    E.Supplier: Supplier,
    E.Certificate: Certificate,
    E.Material: Material,
    E.MaterialLot: MaterialLot,
    E.Product: Product,
    E.Batch: Batch,
    E.Device: Device,
    E.Process: Process,
    E.Equipment: Equipment,
    E.MaintenanceEvent: MaintenanceEvent,
    E.Inspection: Inspection,
    E.ChangeOrder: ChangeOrder,
    E.Document: Document,
    E.Shipment: Shipment,
    E.Customer: Customer,
    E.ServiceEvent: ServiceEvent,
    E.Complaint: Complaint,
}


class EdgeFields(_Record):
    from_: Text = Field(alias="from", description="key of the upstream node, Type:id")
    to: Text = Field(description="key of the downstream node, Type:id")
    source: Text | None = Field(None, description="system of record")
    source_ref: Text | None = Field(None, description="the record's id in its system of record")


class ConsumedIn(EdgeFields):
    quantity: Number | None = None
    at: Instant | None = None


class InstalledIn(EdgeFields):
    at: Instant | None = None


class Processed(EdgeFields):
    at: Instant


_EDGE_SPECIAL: Final[Mapping[RelType, type[EdgeFields]]] = {
    R.CONSUMED_IN: ConsumedIn,
    R.INSTALLED_IN: InstalledIn,
    R.PROCESSED: Processed,
}
EDGE_MODELS: Final[Mapping[RelType, type[EdgeFields]]] = {
    r: _EDGE_SPECIAL.get(r, EdgeFields) for r in RelType
}

# --------------------------------------------------------------------------- keys


@dataclass(frozen=True, order=True)
class Key:
    """A node's identity: ``Type:id``."""

    type: EntityType
    id: str

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Key:
        kind, sep, ident = str(text).partition(":")
        if not sep or not ident.strip():
            raise BadInput(f"{text!r}: not a key; write Type:id, e.g. MaterialLot:L-42")
        try:
            return cls(EntityType(kind), ident)
        except ValueError:
            raise BadInput(
                f"{text!r}: unknown type {kind!r}; one of {', '.join(EntityType)}"
            ) from None


_ENTITY_TYPES: Final[Mapping[str, EntityType]] = {str(t): t for t in EntityType}


def key_type(key: str) -> EntityType:
    """The entity type a key names (ValueError for none): a dict lookup, as it runs per node."""
    kind = key.partition(":")[0]
    try:
        return _ENTITY_TYPES[kind]
    except KeyError:
        raise ValueError(f"{kind!r} is not a valid EntityType") from None


# --------------------------------------------------------------------------- validated records


@dataclass(frozen=True)
class Node:
    """A validated node: its key and its field values (Python types, no None)."""

    type: EntityType
    id: str
    props: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.type}:{self.id}"


@dataclass(frozen=True)
class Edge:
    """A validated edge; its identity is (type, src, dst)."""

    type: RelType
    src: str
    dst: str
    props: dict[str, Any] = field(default_factory=dict)

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.type, self.src, self.dst)


class RecordError(ValueError):
    """One record is invalid; the message names the field and the problem."""


def _describe(error: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ()) if p != "from_") or "record"
    if error.get("loc", ())[:1] == ("from_",):
        loc = "from"
    kind = error.get("type", "")
    if kind == "missing":
        return f"field '{loc}': required"
    if kind == "extra_forbidden":
        return f"field '{loc}': unknown field"
    msg = str(error.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        msg = f"not one of {expected}"
    return f"field '{loc}': {msg}"


def parse_record(raw: Mapping[str, Any]) -> Node | Edge:
    """Validate one interchange record (§3 of the contract) into a Node or an Edge.

    Raises RecordError with a one-line reason (all problems of the record, joined by "; ").
    A field given as null is kept out of the result; to the store it means "leave as is".
    """
    return _fast_record(raw) or _validate_record(raw)


def _validate_record(raw: Mapping[str, Any]) -> Node | Edge:
    """`parse_record` by the pydantic models: the judge of every record, and of every message."""
    kind = raw.get("type")
    if kind is None or kind == "":
        raise RecordError("field 'type': required (an entity or relationship type)")
    if not isinstance(kind, str):
        raise RecordError(f"field 'type': {kind!r} is not a type name")
    body = {
        k: v
        for k, v in raw.items()
        if k != "type" and v is not None and not (isinstance(v, str) and not v.strip())
    }
    if kind in EntityType.__members__:
        etype = EntityType(kind)
        try:
            model = NODE_MODELS[etype].model_validate(body)
        except ValidationError as exc:
            raise RecordError("; ".join(_describe(e) for e in exc.errors())) from None
        props = model.model_dump(exclude_none=True)
        ident = props.pop("id")
        return Node(etype, ident, props)
    if kind in RelType.__members__:
        rtype = RelType(kind)
        try:
            edge = EDGE_MODELS[rtype].model_validate(body)
        except ValidationError as exc:
            raise RecordError("; ".join(_describe(e) for e in exc.errors())) from None
        props = edge.model_dump(exclude_none=True, by_alias=False)
        src, dst = props.pop("from_"), props.pop("to")
        problems = []
        for end, text in (("from", src), ("to", dst)):
            try:
                Key.parse(text)
            except BadInput as exc:
                problems.append(f"field '{end}': {exc}")
        if problems:
            raise RecordError("; ".join(problems))
        pair = (key_type(src), key_type(dst))
        if pair not in ENDPOINTS[rtype]:
            allowed = ", ".join(sorted(f"{a} → {b}" for a, b in ENDPOINTS[rtype]))
            raise RecordError(f"{rtype} cannot go from {pair[0]} to {pair[1]}; allowed: {allowed}")
        return Edge(rtype, src, dst, props)
    raise RecordError(
        f"field 'type': unknown type {kind!r}; expected an entity type "
        f"({', '.join(EntityType)}) or a relationship type ({', '.join(RelType)})"
    )


# --------------------------------------------------------------------------- fast path

# A bulk import validates hundreds of thousands of records, and one pydantic call per record
# (a model built, then dumped) was most of its time. For the value kinds this model uses, a
# record can be checked with a few look-ups instead. The fast path only ever accepts: a record
# it cannot vouch for, valid or not, goes to the pydantic models, so they stay the one judge of
# what is wrong and every message is theirs. It is built from the models' own fields, and a
# model with a field kind it does not know is left to pydantic entirely, so a new field cannot
# be half-checked. tests/test_import_fast.py holds the two paths to the same answers.

_ABSENT: Final = object()


class _Declined(ValueError):
    """The fast path does not vouch for a value: pydantic decides."""


def _fast_text(value: Any) -> str:
    if value.__class__ is str:
        text: str = value.strip()
        if text:
            return text
    raise _Declined


def _fast_instant(value: Any) -> dt.datetime:
    if value.__class__ is str:
        return _instant_from_text(value)
    raise _Declined


def _fast_date(value: Any) -> dt.date:
    if value.__class__ is str:
        return dt.date.fromisoformat(value.strip())
    raise _Declined


def _fast_number(value: Any) -> float:
    # pydantic's float turns the int `_parse_number` lets through into a float
    if value.__class__ is int or value.__class__ is float:
        return float(value)
    if value.__class__ is str:
        return float(value.strip())
    raise _Declined


def _fast_object(value: Any) -> dict[str, Any]:
    if value.__class__ is dict and all(k.__class__ is str for k in value):
        return dict(value)
    raise _Declined


def _fast_enum(enum: type[StrEnum]) -> Callable[[Any], str]:
    values = frozenset(m.value for m in enum)

    def convert(value: Any) -> str:
        if value.__class__ is str and value in values:
            return value  # use_enum_values: the model keeps the value, a plain str
        raise _Declined

    return convert


#: BeforeValidator function → (the type it feeds, its fast equivalent)
_FAST_KINDS: Final[Mapping[Callable[[Any], Any], tuple[Any, Callable[[Any], Any]]]] = {
    _parse_text: (str, _fast_text),
    _parse_instant: (dt.datetime, _fast_instant),
    _parse_date: (dt.date, _fast_date),
    _parse_number: (float, _fast_number),
    _parse_object: (dict[str, Any], _fast_object),
}

#: (input key, field name, required, convert)
_FastField = tuple[str, str, bool, Callable[[Any], Any]]


def _fast_field(name: str, info: Any, model: type[_Record]) -> _FastField | None:
    annotation, metadata = info.annotation, list(info.metadata)
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            return None
        annotation = args[0]
    if get_origin(annotation) is Annotated:
        annotation, *more = get_args(annotation)
        metadata += more
    if not info.is_required() and info.default is not None:
        return None  # a default model_dump would show
    convert: Callable[[Any], Any]
    if isinstance(annotation, type) and issubclass(annotation, StrEnum) and not metadata:
        if not model.model_config.get("use_enum_values"):
            return None
        convert = _fast_enum(annotation)
    else:
        funcs: list[Any] = [m.func for m in metadata if isinstance(m, BeforeValidator)]
        kind = _FAST_KINDS.get(funcs[0]) if len(funcs) == 1 == len(metadata) else None
        if kind is None or kind[0] != annotation:
            return None
        convert = kind[1]
    return (info.alias or name, name, info.is_required(), convert)


def _fast_fields(model: type[_Record]) -> tuple[_FastField, ...] | None:
    found = model.__pydantic_decorators__
    if model.model_config.get("extra") != "forbid" or any(
        (
            found.validators,
            found.field_validators,
            found.root_validators,
            found.model_validators,
            found.field_serializers,
            found.model_serializers,
            found.computed_fields,
        )
    ):
        return None
    specs = [_fast_field(name, info, model) for name, info in model.model_fields.items()]
    return None if None in specs else tuple(s for s in specs if s is not None)


#: type name → (node type or (relationship type, allowed (from, to) type names), fields)
_FAST: Final[
    dict[
        str, tuple[EntityType | tuple[RelType, frozenset[tuple[str, str]]], tuple[_FastField, ...]]
    ]
] = {}
for _etype, _model in NODE_MODELS.items():
    if (_specs := _fast_fields(_model)) is not None:
        _FAST[_etype.value] = (_etype, _specs)
for _rtype in RelType:
    if (_specs := _fast_fields(EDGE_MODELS[_rtype])) is not None:
        _pairs = frozenset((a.value, b.value) for a, b in ENDPOINTS[_rtype])
        _FAST[_rtype.value] = ((_rtype, _pairs), _specs)


def _fast_record(raw: Mapping[str, Any]) -> Node | Edge | None:
    """The record `_validate_record` would return, or None when this path cannot tell."""
    kind = raw.get("type")
    spec = _FAST.get(kind) if kind.__class__ is str else None
    if spec is None:
        return None
    what, fields = spec
    props: dict[str, Any] = {}
    given = 1  # "type"
    try:
        for key, name, required, convert in fields:
            value = raw.get(key, _ABSENT)
            if value is _ABSENT:
                if required:
                    return None
                continue
            given += 1
            if value is None or (value.__class__ is str and not value.strip()):
                if required:
                    return None
                continue
            props[name] = convert(value)
    except (ValueError, OverflowError):
        return None
    if given != len(raw):
        return None  # a field the model does not have (an error, unless it is null)
    if isinstance(what, EntityType):
        return Node(what, props.pop("id"), props)
    rtype, pairs = what
    src, dst = props.pop("from_"), props.pop("to")
    src_type, sep, src_id = src.partition(":")
    if not sep or not src_id.strip():
        return None
    dst_type, sep, dst_id = dst.partition(":")
    if not sep or not dst_id.strip() or (src_type, dst_type) not in pairs:
        return None
    return Edge(rtype, src, dst, props)


# --------------------------------------------------------------------------- data dictionary


def _field_kind(annotation: Any) -> str:
    base = _base(annotation)
    named = {
        dt.datetime: "date-time (ISO 8601; no offset = UTC; a date = 00:00 UTC)",
        dt.date: "date (YYYY-MM-DD)",
        float: "number",
    }
    if base in named:
        return named[base]
    if get_origin(base) is dict or base is dict:
        return "object"
    text = str(annotation)
    for enum in (
        SupplierStatus,
        BatchStatus,
        BatchKind,
        MaintenanceKind,
        Result,
        InspectionKind,
        ChangeKind,
        ChangeStatus,
        Severity,
    ):
        if enum.__name__ in text:
            return "one of " + " / ".join(m.value for m in enum)
    return "text"


def dictionary() -> dict[str, Any]:
    """The data dictionary as plain data: the source of `tracegraph schema`."""
    entities = {}
    for etype, model in NODE_MODELS.items():
        entities[etype.value] = {
            "meaning": MEANING[etype],
            "fields": {
                name: {
                    "required": info.is_required(),
                    "kind": _field_kind(info.annotation),
                    "description": info.description or "",
                }
                for name, info in model.model_fields.items()
            },
        }
    relationships = {}
    for rtype in RelType:
        edge_model = EDGE_MODELS[rtype]
        relationships[rtype.value] = {
            "family": FAMILY[rtype].value,
            "meaning": MEANING[rtype],
            "endpoints": sorted([a.value, b.value] for a, b in ENDPOINTS[rtype]),
            "fields": {
                (info.alias or name): {
                    "required": info.is_required(),
                    "kind": "key (Type:id)"
                    if name in ("from_", "to")
                    else _field_kind(info.annotation),
                    "description": info.description or "",
                }
                for name, info in edge_model.model_fields.items()
            },
        }
    return {"entities": entities, "relationships": relationships}


def json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of one interchange record: a oneOf over every type."""
    variants: list[dict[str, Any]] = []
    defs: dict[str, Any] = {}
    models: list[tuple[str, type[_Record]]] = [(t.value, m) for t, m in NODE_MODELS.items()]
    models += [(r.value, EDGE_MODELS[r]) for r in RelType]
    for name, model in models:
        schema = model.model_json_schema(by_alias=True, mode="validation")
        schema.setdefault("properties", {})["type"] = {"const": name}
        schema["required"] = ["type", *schema.get("required", [])]
        schema["title"] = name
        for sub_name, sub in schema.pop("$defs", {}).items():
            defs[sub_name] = sub
        defs[name] = schema
        variants.append({"$ref": f"#/$defs/{name}"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "TraceGraph interchange record",
        "oneOf": variants,
        "$defs": defs,
    }


def dictionary_markdown() -> str:
    """The data dictionary as Markdown (docs/data-dictionary.md is this text)."""
    data = dictionary()
    out = [
        "# Data dictionary",
        "",
        "Generated by `tracegraph schema`; do not edit by hand (a test compares it).",
        "",
        "Every node has `id` (unique within its type; `Type:id` is its key) and may have",
        "`source`, `source_ref` and `attributes`. Relationships point downstream.",
        "",
        "## Entities",
        "",
    ]
    for name, info in data["entities"].items():
        out += [f"### {name}", "", f"{info['meaning'][0].upper()}{info['meaning'][1:]}.", ""]
        out += ["| field | required | kind | description |", "|---|---|---|---|"]
        for fname, f in info["fields"].items():
            req = "yes" if f["required"] else ""
            out.append(f"| `{fname}` | {req} | {f['kind']} | {f['description']} |")
        out.append("")
    out += ["## Relationships", ""]
    out += ["| type | family | from → to | fields | meaning |", "|---|---|---|---|---|"]
    for name, info in data["relationships"].items():
        ends = "<br>".join(f"{a} → {b}" for a, b in info["endpoints"])
        extra = [
            f"`{f}`" + (" (required)" if spec["required"] else "")
            for f, spec in info["fields"].items()
            if f not in ("from", "to", "source", "source_ref")
        ]
        out.append(
            f"| `{name}` | {info['family']} | {ends} | {', '.join(extra)} | {info['meaning']} |"
        )
    out.append("")
    return "\n".join(out)


def _base(annotation: Any) -> Any:
    """The plain type under Optional[...] / X | None (pydantic strips Annotated metadata)."""
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _base(args[0]) if len(args) == 1 else annotation
    if get_origin(annotation) is Annotated:
        return _base(get_args(annotation)[0])
    return annotation


def _kinds(model: type[_Record]) -> dict[str, str]:
    kinds = {}
    for name, info in model.model_fields.items():
        base = _base(info.annotation)
        if base is dt.datetime:
            kinds[name] = "instant"
        elif base is dt.date:
            kinds[name] = "date"
    return kinds


#: Which fields hold instants or dates, per type: what a store must turn back from text.
TEMPORAL_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
    **{str(t): _kinds(m) for t, m in NODE_MODELS.items()},
    **{str(r): _kinds(EDGE_MODELS[r]) for r in RelType},
}
