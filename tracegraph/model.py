"""The graph model: entity and relationship types, their fields, and the data dictionary.

Everything that names a label, a relationship type or a field comes from here; the stores and
the Cypher files are checked against it. Records are validated by one pydantic model per type
(``extra="forbid"``), so an unknown field, a missing required field, a bad enum value or a bad
date is reported by the same machinery everywhere.
"""

from __future__ import annotations

import datetime as dt
import functools
import keyword
import math
import operator
import re
import reprlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import UnionType
from typing import Annotated, Any, Final, Literal, TypeVar, Union, get_args, get_origin

import msgspec
import orjson
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

#: The edges a common-cause exposure is counted over. Edges are never removed, so a write
#: that creates none of them (complaints, service events, shipments, fields of any record)
#: leaves every exposure as it was.
EXPOSURE: Final[tuple[RelType, ...]] = MAKING + OUTPUT

#: The same, to look a type up in.
EXPOSURE_SET: Final[frozenset[RelType]] = frozenset(EXPOSURE)

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

#: Limits on what one record may hold, so that every record that passes validation can be
#: written and read back by both stores (orjson refuses JSON nested deeper than 255 levels)
#: and typed at the command line; docs/import-format.md states them.
MAX_ID: Final = 200
MAX_TEXT: Final = 10_000
MAX_OBJECT_DEPTH: Final = 8
MAX_OBJECT_BYTES: Final = 65_536

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHOWN: Final = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlevel = 3


def _shown(value: Any) -> str:
    """The value as a message quotes it: its repr, cut short (a value may be megabytes)."""
    return _SHOWN.repr(value)


def id_problem(ident: str) -> str | None:
    """What is wrong with an id (None: nothing): too long, or a control character in it (it
    could not be typed at the command line, and NUL is cut short by some systems)."""
    if len(ident) > MAX_ID:
        return f"an id is at most {MAX_ID} characters ({len(ident):,})"
    if (found := _CONTROL.search(ident)) is not None:
        return f"an id may not hold a control character (U+{ord(found.group()):04X})"
    return None


def _object_problem(value: dict[str, Any]) -> str | None:
    """What is wrong with a free-form object (None: nothing): nested too deep, or too large
    as JSON. The object is level 1; each object or array in it one more."""
    level: list[Any] = [value]
    for depth in range(1, MAX_OBJECT_DEPTH + 1):
        inner = [
            item
            for container in level
            for item in (container.values() if isinstance(container, dict) else container)
            if isinstance(item, dict | list)
        ]
        if not inner:
            break
        if depth == MAX_OBJECT_DEPTH:
            return f"nested deeper than {MAX_OBJECT_DEPTH} levels"
        level = inner
    try:
        size = len(orjson.dumps(value))
    except TypeError as exc:
        return f"not JSON ({exc})"
    if size > MAX_OBJECT_BYTES:
        return f"larger than {MAX_OBJECT_BYTES:,} bytes as JSON ({size:,})"
    return None


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
            raise ValueError(f"not an ISO 8601 date or date-time: {_shown(value)}") from None
        except OverflowError:  # 0001-01-01T00:00+01:00 is in the year 0 in UTC
            raise ValueError(f"outside the years 1 to 9999 in UTC: {_shown(value)}") from None
    raise ValueError(f"not an ISO 8601 date or date-time: {_shown(value)}")


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
            raise ValueError(f"not a date (YYYY-MM-DD): {_shown(value)}") from None
    raise ValueError(f"not a date (YYYY-MM-DD): {_shown(value)}")


def _parse_text(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"not text: {_shown(value)}")
    text = str(value).strip()
    if not text:
        raise ValueError("empty")
    if len(text) > MAX_TEXT:
        raise ValueError(f"longer than {MAX_TEXT:,} characters ({len(text):,})")
    return text


def _parse_id(value: Any) -> Any:
    text: str = _parse_text(value)
    if (problem := id_problem(text)) is not None:
        raise ValueError(problem)
    return text


def _parse_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"not a number: {_shown(value)}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"not a number: {_shown(value)}")


def _parse_object(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"not a JSON object: {_shown(value)}")
    if (problem := _object_problem(value)) is not None:
        raise ValueError(problem)
    return value


_TRUE: Final = frozenset({"true", "yes", "1"})
_FALSE: Final = frozenset({"false", "no", "0"})


def _parse_flag(value: Any) -> Any:
    """true / false; as text (a CSV cell) also yes / no / 1 / 0, in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"not true or false: {value!r}")


def _parse_text_list(value: Any) -> Any:
    """A list of text; as one text (a CSV cell), its parts between semicolons. Blank parts
    are dropped, and so is a part given twice (the first place counts)."""
    if isinstance(value, str):
        value = value.split(";")
    if not isinstance(value, list):
        raise ValueError(f"not a list of text: {value!r}")
    parts: list[str] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError(f"not text: {item!r}")
        text = str(item).strip()
        if text and text not in parts:
            parts.append(text)
    return parts


#: The most days a count of days may be (a century: a calibration interval is months).
MAX_DAYS: Final = 36_500


def _parse_days(value: Any) -> Any:
    """A whole number of days, at least 1 (as a number or as text)."""
    if isinstance(value, bool):
        raise ValueError(f"not a whole number of days: {value!r}")
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"not a whole number of days: {value!r}") from None
    if (
        not isinstance(number, int | float)
        or not math.isfinite(number)  # (infinity has no int; NaN equals nothing)
        or number != int(number)
        or not 1 <= number <= MAX_DAYS
    ):
        raise ValueError(f"not a whole number of days from 1 to {MAX_DAYS:,}: {value!r}")
    return int(number)


def _text_list_of_text(value: str) -> list[str]:
    """A list given as one text, on the fast path: blank text is absent (pydantic decides)."""
    if not value.strip():
        raise ValueError("empty")
    parts: list[str] = _parse_text_list(value)
    return parts


Instant = Annotated[dt.datetime, BeforeValidator(_parse_instant)]
Flag = Annotated[bool, BeforeValidator(_parse_flag)]
TextList = Annotated[list[str], BeforeValidator(_parse_text_list)]
Days = Annotated[int, BeforeValidator(_parse_days)]
Number = Annotated[float, BeforeValidator(_parse_number)]
FreeForm = Annotated[dict[str, Any], BeforeValidator(_parse_object)]
Day = Annotated[dt.date, BeforeValidator(_parse_date)]
Text = Annotated[str, BeforeValidator(_parse_text)]
Ident = Annotated[str, BeforeValidator(_parse_id)]


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


class ComplaintStatus(StrEnum):
    open = "open"
    investigating = "investigating"
    closed = "closed"


class Severity(StrEnum):
    death = "death"
    serious_injury = "serious_injury"
    malfunction = "malfunction"
    other = "other"


# --------------------------------------------------------------------------- records


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)


class NodeFields(_Record):
    id: Ident = Field(description="unique within its type; the key is Type:id")
    source: Text | None = Field(None, description="system of record, e.g. MES")
    source_ref: Text | None = Field(None, description="the record's id in its system of record")
    attributes: FreeForm | None = Field(None, description="free-form object")


class Supplier(NodeFields):
    name: Text
    status: SupplierStatus | None = Field(
        None, description="qualification; lots received while `blocked` are a finding"
    )
    country: Text | None = None


class Certificate(NodeFields):
    kind: Text = Field(description="e.g. ISO 13485")
    valid_from: Day = Field(description="first day of validity (inclusive)")
    valid_to: Day = Field(description="last day of validity (inclusive)")


class Material(NodeFields):
    name: Text
    category: Text | None = None
    revision: Text | None = None
    required_certificates: TextList | None = Field(
        None,
        description="certificate kinds a supplier of it must hold (in CSV: separated by ;)",
    )


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
    calibration_interval_days: Days | None = Field(
        None, description="a calibration is due this many days after the last passing one"
    )


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
    approved_by: Text | None = Field(None, description="who approved the change")
    approved_at: Instant | None = Field(None, description="when the change was approved")


class Document(NodeFields):
    title: Text
    revision: Text


class Shipment(NodeFields):
    shipped_at: Instant


class Customer(NodeFields):
    name: Text
    country: Text | None = None
    address: Text | None = Field(None, description="postal address (recall notices go there)")
    phone: Text | None = None
    contact: Text | None = Field(None, description="the person a recall notice is for")


class ServiceEvent(NodeFields):
    kind: Text
    performed_at: Instant


class Complaint(NodeFields):
    reported_at: Instant
    severity: Severity
    description: Text | None = None
    status: ComplaintStatus | None = None
    reportable: Flag | None = Field(
        None, description="reportable to the authority (21 CFR 803 / MDR vigilance)"
    )
    report_number: Text | None = Field(None, description="the authority's report number")


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
            raise BadInput(f"{_shown(text)}: not a key; write Type:id, e.g. MaterialLot:L-42")
        try:
            return cls(EntityType(kind), ident)
        except ValueError:
            raise BadInput(
                f"{_shown(text)}: unknown type {_shown(kind)}; one of {', '.join(EntityType)}"
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


@dataclass(frozen=True, slots=True)
class Node:
    """A validated node: its key and its field values (Python types, no None)."""

    type: EntityType
    id: str
    props: dict[str, Any] = field(default_factory=dict)
    #: ``Type:id``, made once: an import asks each of a million nodes for it more than once.
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.type}:{self.id}")


@dataclass(frozen=True, slots=True)
class Edge:
    """A validated edge; its identity is (type, src, dst)."""

    type: RelType
    src: str
    dst: str
    props: dict[str, Any] = field(default_factory=dict)
    #: (type, src, dst), made once, as the key is.
    ident: tuple[str, str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ident", (self.type, self.src, self.dst))


# A frozen dataclass sets each field through object.__setattr__, most of the cost of making
# one; the fast path, which makes one per record of a bulk import, fills the slots directly.
_NODE_SLOTS: Final = tuple(vars(Node)[f].__set__ for f in ("type", "id", "props", "key"))
_EDGE_SLOTS: Final = tuple(vars(Edge)[f].__set__ for f in ("type", "src", "dst", "props", "ident"))


def _node(etype: EntityType, ident: str, props: dict[str, Any], key: str) -> Node:
    """``Node(etype, ident, props)``, made the fast way by a caller that knows its key."""
    node: Node = object.__new__(Node)
    set_type, set_id, set_props, set_key = _NODE_SLOTS
    set_type(node, etype)
    set_id(node, ident)
    set_props(node, props)
    set_key(node, key)
    return node


def _edge(rtype: RelType, src: str, dst: str, props: dict[str, Any]) -> Edge:
    """``Edge(rtype, src, dst, props)``, made the fast way."""
    edge: Edge = object.__new__(Edge)
    set_type, set_src, set_dst, set_props, set_ident = _EDGE_SLOTS
    set_type(edge, rtype)
    set_src(edge, src)
    set_dst(edge, dst)
    set_props(edge, props)
    set_ident(edge, (rtype, src, dst))
    return edge


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
        raise RecordError(f"field 'type': {_shown(kind)} is not a type name")
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
                problem = id_problem(Key.parse(text).id)
            except BadInput as exc:
                problem = str(exc)
            if problem is not None:
                problems.append(f"field '{end}': {problem}")
        if problems:
            raise RecordError("; ".join(problems))
        pair = (key_type(src), key_type(dst))
        if pair not in ENDPOINTS[rtype]:
            allowed = ", ".join(sorted(f"{a} → {b}" for a, b in ENDPOINTS[rtype]))
            raise RecordError(f"{rtype} cannot go from {pair[0]} to {pair[1]}; allowed: {allowed}")
        return Edge(rtype, src, dst, props)
    raise RecordError(
        f"field 'type': unknown type {_shown(kind)}; expected an entity type "
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
#
# It comes in two forms: one checks a record read into a dict (CSV, the API, anything handed
# to `parse_record`); the other reads JSON Lines text straight into one msgspec struct per type
# (`_fast_json_lines`), which spares the dict and leaves msgspec, in C, most of the checking.


class _Declined(ValueError):
    """The fast path does not vouch for a value: pydantic decides."""


def _declined(value: Any) -> Any:
    raise _Declined


def _date_of_text(value: str) -> dt.date:
    return dt.date.fromisoformat(value.strip())


def _number_of_text(value: str) -> float:
    return float(value.strip())


def _number(value: Any) -> float:
    # pydantic's float turns the int `_parse_number` lets through into a float
    if value.__class__ is int or value.__class__ is float:
        return float(value)
    raise _Declined


def _object(value: Any) -> dict[str, Any]:
    if (
        value.__class__ is dict
        and all(k.__class__ is str for k in value)
        and _object_problem(value) is None
    ):
        return dict(value)
    raise _Declined


def _object_of_json(value: dict[str, msgspec.Raw]) -> dict[str, Any]:
    """An object whose values msgspec kept as JSON text, read by orjson as the rest of the
    line would be, so that numbers, say, come out as orjson makes them."""
    out = {}
    for key, raw in value.items():
        text = bytes(raw)
        # orjson refuses a line nested deeper than 1024; this value is two levels into one
        if text.count(b"[") + text.count(b"{") > 1000:
            raise _Declined
        out[key] = orjson.loads(text)
    if _object_problem(out) is not None:
        raise _Declined
    return out


#: Stands for text among the converters of what msgspec gives (the text is stripped in line).
_TEXT: Final = str.strip

#: BeforeValidator function → (the type it feeds; its fast equivalent for a str (None: text,
#: checked in line, as most fields are text), and for any other value; how a msgspec struct
#: declares the field, and what makes the model's value of what msgspec gives (None: that is
#: it; `_TEXT`: text, stripped in line))
_FAST_KINDS: Final[
    Mapping[
        Callable[[Any], Any],
        tuple[
            Any,
            Callable[[str], Any] | None,
            Callable[[Any], Any],
            Any,
            Callable[[Any], Any] | None,
        ],
    ]
] = {
    _parse_text: (str, None, _declined, str, _TEXT),
    _parse_id: (str, None, _declined, str, _TEXT),  # an identity field: checked in line
    _parse_instant: (dt.datetime, _instant_from_text, _declined, str, _instant_from_text),
    _parse_date: (dt.date, _date_of_text, _declined, str, _date_of_text),
    _parse_number: (float, _number_of_text, _number, float, None),
    _parse_object: (dict[str, Any], _declined, _object, dict[str, msgspec.Raw], _object_of_json),
    _parse_flag: (bool, _parse_flag, _parse_flag, bool, None),
    _parse_text_list: (
        list[str],
        _text_list_of_text,
        _parse_text_list,
        list[str],
        _parse_text_list,
    ),
    _parse_days: (int, _parse_days, _parse_days, int, _parse_days),
}

#: (input key, field name, required, convert a str (None: text), convert any other value)
_FastField = tuple[str, str, bool, Callable[[str], Any] | None, Callable[[Any], Any]]
#: (input key, field name, required, how a struct declares it, convert what msgspec gives
#: (None: as is))
_JsonField = tuple[str, str, bool, Any, Callable[[Any], Any] | None]


def _fast_field(name: str, info: Any, model: type[_Record]) -> tuple[_FastField, _JsonField] | None:
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
    key, required = info.alias or name, info.is_required()
    if isinstance(annotation, type) and issubclass(annotation, StrEnum) and not metadata:
        if not model.model_config.get("use_enum_values"):
            return None
        # use_enum_values: the model keeps the value, a plain str (another is a KeyError)
        values = {m.value: m.value for m in annotation}
        literal: Any = Literal.__getitem__(tuple(values))
        return (
            (key, name, required, values.__getitem__, _declined),
            (key, name, required, literal, None),
        )
    funcs: list[Any] = [m.func for m in metadata if isinstance(m, BeforeValidator)]
    kind = _FAST_KINDS.get(funcs[0]) if len(funcs) == 1 == len(metadata) else None
    if kind is None or kind[0] != annotation:
        return None
    _, of_text, of_other, declared, of_json = kind
    return (key, name, required, of_text, of_other), (key, name, required, declared, of_json)


def _fast_fields(
    model: type[_Record], identity: tuple[str, ...]
) -> tuple[frozenset[str], tuple[_FastField, ...], tuple[_JsonField, ...]] | None:
    """The input keys a record of the model may have, and its fields but the identity ones
    (which must be required text, and which the fast path reads first, itself): as a dict's
    are checked, and as msgspec reads them."""
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
    if None in specs:
        return None
    both = [s for s in specs if s is not None]
    ids = [(f[0], f[2], f[3]) for f, _ in both if f[0] in identity]
    if ids != [(key, True, None) for key in identity]:
        return None
    keys = frozenset(["type", *(f[0] for f, _ in both)])
    rest = [(f, j) for f, j in both if f[0] not in identity]
    return keys, tuple(f for f, _ in rest), tuple(j for _, j in rest)


#: node type name → (type, the keys a record may have, the fields but ``id``)
_FAST_NODES: Final[dict[str, tuple[EntityType, frozenset[str], tuple[_FastField, ...]]]] = {}
#: relationship type name → (type, allowed (from, to) type names, keys, fields but from/to)
_FAST_EDGES: Final[
    dict[
        str,
        tuple[RelType, frozenset[tuple[str, str]], frozenset[str], tuple[_FastField, ...]],
    ]
] = {}
#: What gives the props the model would dump of a struct msgspec read (raising ValueError
#: when the fast path cannot tell).
_JsonProps = Callable[[Any], dict[str, Any]]

#: struct a record of a node type is read into → (type, ``Type:``, its props)
_JSON_NODES: Final[dict[type, tuple[EntityType, str, _JsonProps]]] = {}
#: struct a record of a relationship type is read into → (type, ``Type:`` of the types it may
#: go from, and to, the allowed (from, to) type names if not every pair of those (or None),
#: its props)
_JSON_EDGES: Final[
    dict[
        type,
        tuple[
            RelType,
            tuple[str, ...],
            tuple[str, ...],
            frozenset[tuple[str, str]] | None,
            _JsonProps,
        ],
    ]
] = {}


def _json_struct(kind: str, identity: tuple[str, ...], fields: tuple[_JsonField, ...]) -> type:
    """The struct msgspec reads a record of the type into: its identity fields (required
    text), then the others, as the model orders them."""
    declared: list[tuple[str, Any, Any]] = [
        ("from_" if key == "from" else key, str, msgspec.field(name=key)) for key in identity
    ]
    for key, name, required, of_type, _ in fields:
        if required:
            declared.append((name, of_type, msgspec.field(name=key)))
        else:
            declared.append((name, of_type | None, msgspec.field(default=None, name=key)))
    return msgspec.defstruct(
        f"{kind}Record",
        declared,
        tag_field="type",
        tag=kind,
        forbid_unknown_fields=True,
        kw_only=True,
        gc=False,
    )


def _json_props(kind: str, fields: tuple[_JsonField, ...]) -> _JsonProps:
    """The props of a struct of the type, written out field by field and compiled, the way
    dataclasses writes an __init__: a loop over the fields that asks each one's kind costs
    twice as much, and this runs once per record of a bulk import."""
    code = ["def props_of(record):", "    props = {}"]
    scope: dict[str, Any] = {"_Declined": _Declined, "_MAX_TEXT": MAX_TEXT}
    for n, (_, name, required, _, convert) in enumerate(fields):
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"{kind}.{name}: not a name a struct can have")
        code += [f"    value = record.{name}", "    if value is not None:"]
        if convert is _TEXT:  # blank: absent, as in `_validate_record` (unless required)
            code += ["        value = value.strip()", "        if value:"]
            code += ["            if len(value) > _MAX_TEXT:", "                raise _Declined"]
            code += [f"            props[{name!r}] = value"]
            code += ["        else:", "            raise _Declined"] if required else []
        elif convert is None:
            code += [f"        props[{name!r}] = value"]
        else:
            scope[f"convert_{n}"] = convert
            code += [f"        props[{name!r}] = convert_{n}(value)"]
    code += ["    return props"]
    exec(compile("\n".join(code), f"<props of a {kind} record>", "exec"), scope)
    props_of: _JsonProps = scope["props_of"]
    return props_of


for _etype, _model in NODE_MODELS.items():
    if (_spec := _fast_fields(_model, ("id",))) is not None:
        _keys, _fields, _json = _spec
        _FAST_NODES[_etype.value] = (_etype, _keys, _fields)
        _struct = _json_struct(_etype.value, ("id",), _json)
        _JSON_NODES[_struct] = (_etype, f"{_etype.value}:", _json_props(_etype.value, _json))
for _rtype in RelType:
    if (_spec := _fast_fields(EDGE_MODELS[_rtype], ("from", "to"))) is not None:
        _keys, _fields, _json = _spec
        _pairs = frozenset((a.value, b.value) for a, b in ENDPOINTS[_rtype])
        _FAST_EDGES[_rtype.value] = (_rtype, _pairs, _keys, _fields)
        _froms, _tos = sorted({a for a, _ in _pairs}), sorted({b for _, b in _pairs})
        _every = {(a, b) for a in _froms for b in _tos}
        _JSON_EDGES[_json_struct(_rtype.value, ("from", "to"), _json)] = (
            _rtype,
            tuple(f"{a}:" for a in _froms),
            tuple(f"{b}:" for b in _tos),
            None if _pairs == _every else _pairs,
            _json_props(_rtype.value, _json),
        )
_JSON_RECORD: Final[msgspec.json.Decoder[Any]] = msgspec.json.Decoder(
    functools.reduce(operator.or_, [*_JSON_NODES, *_JSON_EDGES])
)


def _fast_props(get: Callable[[str], Any], fields: tuple[_FastField, ...]) -> dict[str, Any] | None:
    """The props the model would dump for these fields, or None when the fast path cannot
    tell. (A field given as null, or as blank text, is absent, as in `_validate_record`.)"""
    props: dict[str, Any] = {}
    try:
        for key, name, required, of_text, of_other in fields:
            value = get(key)
            if value.__class__ is str:
                if of_text is not None:
                    props[name] = of_text(value)  # blank: it raises, and pydantic decides
                elif text := value.strip():
                    if len(text) > MAX_TEXT:
                        return None
                    props[name] = text
                elif required:
                    return None
            elif value is None:
                if required:
                    return None
            else:
                props[name] = of_other(value)
    except (ValueError, OverflowError, LookupError):
        return None
    return props


def _fast_record(raw: Mapping[str, Any]) -> Node | Edge | None:
    """The record `_validate_record` would return, or None when this path cannot tell."""
    kind = raw.get("type")
    if kind.__class__ is not str:
        return None
    get = raw.get
    # A field the model does not have is an error (unless it is null): pydantic says which.
    if (edge := _FAST_EDGES.get(kind)) is not None:
        rtype, pairs, keys, fields = edge
        src, dst = get("from"), get("to")
        if not raw.keys() <= keys or src.__class__ is not str or dst.__class__ is not str:
            return None
        src, dst = src.strip(), dst.strip()
        src_type, sep, src_id = src.partition(":")
        if not sep or not src_id.strip():
            return None
        dst_type, sep, dst_id = dst.partition(":")
        if not sep or not dst_id.strip() or (src_type, dst_type) not in pairs:
            return None
        # an id that may be too long, or hold a control character: pydantic decides
        if len(src_id) > MAX_ID or len(dst_id) > MAX_ID or not (src + dst).isprintable():
            return None
        props = _fast_props(get, fields)
        return None if props is None else _edge(rtype, src, dst, props)
    if (node := _FAST_NODES.get(kind)) is not None:
        etype, keys, fields = node
        ident = get("id")
        if not raw.keys() <= keys or ident.__class__ is not str or not (ident := ident.strip()):
            return None
        if len(ident) > MAX_ID or not ident.isprintable():
            return None
        props = _fast_props(get, fields)
        return None if props is None else _node(etype, ident, props, kind + ":" + ident)
    return None


#: What `_fast_json_made`'s callers make of a node and of an edge.
_N = TypeVar("_N")
_E = TypeVar("_E")


def _fast_json_lines(
    lines: Iterable[bytes | str],
) -> tuple[list[Node | Edge | None], list[int]]:
    """For each line of JSON, the record ``parse_record(orjson.loads(line))`` would give, or
    None where the fast path cannot tell (a blank line, bad JSON, no object, a record for
    pydantic to judge); and where those Nones are.

    msgspec checks what it reads against the struct of the record's type (the type, the fields
    the model has and those it requires, text where text is due, enum values, numbers), and
    the rest is checked here as `_fast_record` checks a dict. The two readers agree on JSON
    (UTF-8 only, no BOM, no NaN; a key given twice: the last wins), which a test holds them
    to; anything msgspec refuses is read by orjson, as it was before.
    """
    return _fast_json_made(lines, _node, _edge)


def _fast_json_made(
    lines: Iterable[bytes | str],
    node: Callable[[EntityType, str, dict[str, Any], str], _N],
    edge: Callable[[RelType, str, str, dict[str, Any]], _E],
) -> tuple[list[_N | _E | None], list[int]]:
    """`_fast_json_lines`, each record checked made by ``node(type, id, props, key)`` or
    ``edge(type, from, to, props)`` rather than as a `Node` or an `Edge`: a first load makes
    its staged rows straight away (`tracegraph.bulkload`)."""
    decode, nodes, edges = _JSON_RECORD.decode, _JSON_NODES, _JSON_EDGES
    items: list[_N | _E | None] = []
    declined: list[int] = []
    for line in lines:
        try:
            record = decode(line)
            if (edge_of := edges.get(record.__class__)) is not None:
                rtype, froms, tos, pairs, props_of = edge_of
                src, dst = record.from_.strip(), record.to.strip()
                # Of an allowed type (the prefix ends at the key's first colon), and an id that
                # is not blank: it ends in what the stripped key ends in, unless that is the colon.
                if (
                    not src.startswith(froms)
                    or not dst.startswith(tos)
                    or src[-1] == ":"
                    or dst[-1] == ":"
                    or (pairs and (src.partition(":")[0], dst.partition(":")[0]) not in pairs)
                    # an id that may be too long, or hold a control character: pydantic decides
                    or len(src) > MAX_ID
                    or len(dst) > MAX_ID
                    or not (src + dst).isprintable()
                ):
                    raise _Declined
                items.append(edge(rtype, src, dst, props_of(record)))
            else:
                etype, prefix, props_of = nodes[record.__class__]
                ident = record.id.strip()
                if not ident or len(ident) > MAX_ID or not ident.isprintable():
                    raise _Declined
                items.append(node(etype, ident, props_of(record), prefix + ident))
        except (ValueError, TypeError, OverflowError, RecursionError):
            # msgspec's errors are ValueErrors
            declined.append(len(items))
            items.append(None)
    return items, declined


# --------------------------------------------------------------------------- data dictionary


def _field_kind(annotation: Any) -> str:
    base = _base(annotation)
    named = {
        dt.datetime: "date-time (ISO 8601; no offset = UTC; a date = 00:00 UTC)",
        dt.date: "date (YYYY-MM-DD)",
        float: "number",
        bool: "true / false",
        int: "whole number of days",
        list[str]: "list of text",
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
        ComplaintStatus,
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


#: What a JSON Schema pattern says of an id: no control character, and not blank.
_ID_CHARS: Final = r"[^\x00-\x1f\x7f-\x9f]"
_ID_PATTERN: Final = rf"^{_ID_CHARS}*[^\s\x00-\x1f\x7f-\x9f]{_ID_CHARS}*$"


def _key_schema(types: Iterable[str]) -> dict[str, Any]:
    """A key of one of these types, its id as `_ID_PATTERN` says."""
    return {
        "anyOf": [
            {
                "type": "string",
                "pattern": f"^{t}:{_ID_PATTERN[1:]}",
                "maxLength": len(t) + 1 + MAX_ID,
            }
            for t in sorted(types)
        ]
    }


def _limit_schema(model: type[_Record], schema: dict[str, Any]) -> None:
    """Say in the schema what validation holds a field to beyond its type: the limits of text,
    ids and objects, that blank text is absent, and which keys an edge may join."""
    properties = schema.get("properties", {})
    for name, info in model.model_fields.items():
        annotation, metadata = info.annotation, list(info.metadata)
        if get_origin(annotation) in (Union, UnionType):  # X | None
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        if get_origin(annotation) is Annotated:
            metadata += get_args(annotation)[1:]
        funcs = {m.func for m in metadata if isinstance(m, BeforeValidator)}
        extra: dict[str, Any] = {}
        if _parse_id in funcs:
            extra = {"pattern": _ID_PATTERN, "maxLength": MAX_ID}
        elif _parse_text in funcs and name not in ("from_", "to"):
            extra = {"pattern": r"[^\s\x1c-\x1f\x85]", "maxLength": MAX_TEXT}  # not all blank
        elif _parse_days in funcs:
            extra = {"minimum": 1, "maximum": MAX_DAYS}
        elif _parse_object in funcs:
            extra = {"description": f"{info.description}; nested at most {MAX_OBJECT_DEPTH} "
                     f"levels, at most {MAX_OBJECT_BYTES:,} bytes as JSON"}  # fmt: skip
        prop = properties.get(info.alias or name, {})
        for variant in prop.get("anyOf", [prop]):
            if variant.get("type") in ("string", "object", "integer"):
                variant.update({k: v for k, v in extra.items() if k != "description"})
        if "description" in extra:
            prop["description"] = extra["description"]


def _edge_schema(rtype: RelType, schema: dict[str, Any]) -> None:
    """The keys an edge of this type may join: each end of its type, in allowed pairs."""
    pairs = sorted((str(a), str(b)) for a, b in ENDPOINTS[rtype])
    froms, tos = sorted({a for a, _ in pairs}), sorted({b for _, b in pairs})
    properties = schema["properties"]
    properties["from"] = {**_key_schema(froms), "description": properties["from"].get(
        "description", "")}  # fmt: skip
    properties["to"] = {**_key_schema(tos), "description": properties["to"].get("description", "")}
    if len(pairs) < len(froms) * len(tos):
        schema["anyOf"] = [
            {"properties": {"from": _key_schema([a]), "to": _key_schema([b])}} for a, b in pairs
        ]


def json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of one interchange record: a oneOf over every type."""
    variants: list[dict[str, Any]] = []
    defs: dict[str, Any] = {}
    models: list[tuple[str, type[_Record]]] = [(t.value, m) for t, m in NODE_MODELS.items()]
    models += [(r.value, EDGE_MODELS[r]) for r in RelType]
    for name, model in models:
        schema = model.model_json_schema(by_alias=True, mode="validation")
        _limit_schema(model, schema)
        if name in RelType.__members__:
            _edge_schema(RelType(name), schema)
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

#: Which fields hold instants, per type: what an answer rewrites in UTC with a Z.
INSTANT_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    name: frozenset(f for f, kind in kinds.items() if kind == "instant")
    for name, kinds in TEMPORAL_FIELDS.items()
}
