"""EPCIS 2.0 capture and export (tracegraph/epcis.py, docs/epcis.md), on both stores.

The documents are written here to the standard (EPCIS 2.0 JSON-LD, CBV 2.0 short names), with
every event type, EPCs as URNs and as Digital Links; what they must become is spelt out key by
key, so a mapping that drifts shows here, not in a round trip that only agrees with itself.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner, Result

from cli.main import app
from tests.support.api import TestClient, bearer, make_app, put_key
from tests.support.genealogy import genealogies
from tracegraph import epcis
from tracegraph.errors import BadInput, InvalidImport
from tracegraph.generate import generate, write_jsonl
from tracegraph.importer import import_paths, import_records, read_jsonl
from tracegraph.keys import Role
from tracegraph.model import GENEALOGY, Direction, EntityType, RelType, iso
from tracegraph.recall import recall
from tracegraph.search import search
from tracegraph.store.base import GraphStore, WriteRequest
from tracegraph.store.embedded import EmbeddedStore

REQ = WriteRequest(actor="test", operation="import")
CONTEXT = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"

# The keys the plant document's objects become (canonical ids: Digital Link paths).
LOT = "MaterialLot:01/04012345123456/10/CAP-7"
MATERIAL = "Material:01/04012345123456"
SUPPLIER = "Supplier:417/4012345000016"
BATCH = "Batch:01/09501101530003/10/B-1"
PRODUCT = "Product:01/09501101530003"
SN1 = "Device:01/09501101530003/21/SN1"
SN2 = "Device:01/09501101530003/21/SN2"
MODULE = "Device:01/09501101530003/21/M%2F1"  # serial "M/1"
OVEN = "Equipment:8004/4012345OVEN-3"
PALLET = "Shipment:00/195011010000000015"
ADVICE = "Shipment:urn:epc:id:gdti:9501101.00001.DN42"
HOSPITAL = "Customer:417/9501101000995"
SITE = "Customer:414/9501101000421"
REPAIR = "ServiceEvent:urn:uuid:5f0c2a4e-0000-4000-8000-000000000009"


def event(kind: str, time: str, n: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "eventID": f"urn:uuid:5f0c2a4e-0000-4000-8000-00000000000{n}",
        "eventTime": time,
        "eventTimeZoneOffset": time[-6:] if time[-6] in "+-" else "+00:00",
        **fields,
    }


def document(events: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {
        "@context": [CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T12:00:00Z",
        "epcisBody": {"eventList": events},
        **more,
    }


def plant() -> dict[str, Any]:
    """A capacitor lot is received, consumed into a batch of monitors, a module is
    commissioned and assembled into one of them, an oven processes the batch, the monitors
    are packed, shipped and one is repaired: the five event types, URNs and Digital Links."""
    return document(
        [
            event("ObjectEvent", "2026-01-05T08:00:00+01:00", 1, action="OBSERVE",
                  bizStep="receiving",
                  quantityList=[{"epcClass": "urn:epc:class:lgtin:4012345.012345.CAP-7",
                                 "quantity": 500, "uom": "EA"}],
                  sourceList=[{"type": "owning_party",
                               "source": "urn:epc:id:pgln:4012345.00001"}]),
            event("TransformationEvent", "2026-01-06T09:00:00Z", 2, bizStep="commissioning",
                  inputQuantityList=[{"epcClass": "https://id.gs1.org/01/04012345123456/10/CAP-7",
                                      "quantity": 20}],
                  outputQuantityList=[{"epcClass": "urn:epc:class:lgtin:9501101.053000.B-1"}],
                  outputEPCList=["urn:epc:id:sgtin:9501101.053000.SN1",
                                 "https://id.gs1.org/01/09501101530003/21/SN2"]),
            event("ObjectEvent", "2026-01-06T10:00:00Z", 3, action="ADD",
                  bizStep="urn:epcglobal:cbv:bizstep:commissioning",
                  epcList=["urn:epc:id:sgtin:9501101.053000.M%2F1"],
                  ilmd={"cbvmda:lotNumber": "B-1", "cbvmda:itemExpirationDate": "2031-01-31"}),
            event("AggregationEvent", "2026-01-06T11:00:00Z", 4, action="ADD",
                  bizStep="assembling", parentID="urn:epc:id:sgtin:9501101.053000.SN1",
                  childEPCs=["https://example.com/01/09501101530003/21/M%2F1"]),
            event("AssociationEvent", "2026-01-06T09:30:00Z", 5, action="ADD",
                  parentID="urn:epc:id:giai:4012345.OVEN-3",
                  childQuantityList=[{"epcClass": "urn:epc:class:lgtin:9501101.053000.B-1"}]),
            event("AggregationEvent", "2026-01-07T08:00:00Z", 6, action="ADD", bizStep="packing",
                  parentID="urn:epc:id:sscc:9501101.1000000001",
                  childEPCs=["urn:epc:id:sgtin:9501101.053000.SN1"]),
            event("ObjectEvent", "2026-01-08T08:00:00Z", 7, action="OBSERVE",
                  bizStep="https://ref.gs1.org/cbv/BizStep-shipping",
                  epcList=["urn:epc:id:sscc:9501101.1000000001"],
                  destinationList=[
                      {"type": "location", "destination": "urn:epc:id:sgln:9501101.00042.0"},
                      {"type": "owning_party", "destination": "urn:epc:id:pgln:9501101.00099"},
                  ]),
            event("TransactionEvent", "2026-01-09T08:00:00Z", 8, action="ADD",
                  bizTransactionList=[{"type": "desadv",
                                       "bizTransaction": "urn:epc:id:gdti:9501101.00001.DN42"}],
                  epcList=["urn:epc:id:sgtin:9501101.053000.SN2"],
                  destinationList=[{"type": "location",
                                    "destination": "https://id.gs1.org/414/9501101000421"}]),
            event("ObjectEvent", "2026-06-01T08:00:00Z", 9, action="OBSERVE",
                  bizStep="repairing", epcList=["https://id.gs1.org/01/09501101530003/21/SN2"]),
        ]
    )  # fmt: skip


#: (type, from, to) of every edge the plant document makes
PLANT_EDGES = {
    ("SUPPLIED", SUPPLIER, LOT),
    ("HAS_LOT", MATERIAL, LOT),
    ("CONSUMED_IN", LOT, BATCH),
    ("HAS_BATCH", PRODUCT, BATCH),
    ("PRODUCED", BATCH, SN1),
    ("PRODUCED", BATCH, SN2),
    ("PRODUCED", BATCH, MODULE),  # by the module's lot number (ILMD)
    ("INSTALLED_IN", MODULE, SN1),
    ("PROCESSED", OVEN, BATCH),
    ("SHIPPED_IN", SN1, PALLET),
    ("DELIVERED_TO", PALLET, HOSPITAL),  # the owning party, before the location
    ("SHIPPED_IN", SN2, ADVICE),
    ("DELIVERED_TO", ADVICE, SITE),
    ("HAS_SERVICE", SN2, REPAIR),
}


def write(path: Path, doc: Any) -> Path:
    path.write_bytes(orjson.dumps(doc))
    return path


def load(store: GraphStore, path: Path) -> dict[str, Any]:
    return import_paths(store, [path], REQ).as_json()


Snapshot = tuple[dict[str, dict[str, Any]], dict[tuple[str, str, str], dict[str, Any]]]


def snapshot(store: GraphStore) -> Snapshot:
    """Every node with its fields and every edge with its fields, as JSON values."""
    keys: set[str] = set()
    for kind in EntityType:
        keys |= set(store.keys_of_type(kind))
    nodes = {k: {f: iso(v) for f, v in n.props.items()} for k, n in store.nodes(keys).items()}
    edges = {
        (str(e.type), e.src, e.dst): {f: iso(v) for f, v in e.props.items()}
        for e in store.edges(keys, list(RelType), None)
    }
    return nodes, edges


# --------------------------------------------------------------------------- capture


def test_the_five_event_types_become_the_genealogy(store: GraphStore, tmp_path: Path) -> None:
    report = load(store, write(tmp_path / "plant.jsonld", plant()))
    assert (report["nodes"], report["edges"], report["created"]) == (14, 14, 28)
    nodes, edges = snapshot(store)
    assert set(edges) == PLANT_EDGES
    assert set(nodes) == {LOT, MATERIAL, SUPPLIER, BATCH, PRODUCT, SN1, SN2, MODULE, OVEN,
                          PALLET, ADVICE, HOSPITAL, SITE, REPAIR}  # fmt: skip
    # required fields from the events: the receipt's time (08:00+01:00 is 07:00 UTC) ...
    assert nodes[LOT] == {"received_at": "2026-01-05T07:00:00Z", "quantity": 500.0}
    assert nodes[BATCH] == {"started_at": "2026-01-06T09:00:00Z"}
    assert nodes[PALLET] == {"shipped_at": "2026-01-08T08:00:00Z"}  # shipping, not packing
    assert nodes[ADVICE] == {"shipped_at": "2026-01-09T08:00:00Z"}
    assert nodes[REPAIR] == {"kind": "repairing", "performed_at": "2026-06-01T08:00:00Z"}
    # ... and from the identifier where EPCIS has no value (names)
    assert nodes[SUPPLIER] == {"name": "(417)4012345000016"}
    assert nodes[OVEN] == {"name": "(8004)4012345OVEN-3"}
    assert nodes[PRODUCT] == {"name": "(01)09501101530003", "gtin": "09501101530003"}
    # devices carry their UDI (lot and expiry from the commissioning's ILMD), parsed (§7)
    assert nodes[MODULE]["manufactured_at"] == "2026-01-06T10:00:00Z"
    assert nodes[MODULE]["udi"] == "(01)09501101530003(17)310131(10)B-1(21)M/1"
    assert nodes[MODULE]["udi_serial"] == "M/1"
    assert nodes[SN1]["udi"] == "(01)09501101530003(10)B-1(21)SN1"
    assert nodes[SN1]["manufactured_at"] == "2026-01-06T09:00:00Z"
    assert edges[("CONSUMED_IN", LOT, BATCH)] == {"quantity": 20.0, "at": "2026-01-06T09:00:00Z"}
    assert edges[("INSTALLED_IN", MODULE, SN1)] == {"at": "2026-01-06T11:00:00Z"}
    assert edges[("PROCESSED", OVEN, BATCH)] == {"at": "2026-01-06T09:30:00Z"}
    # and it answers as genealogy: a recall of the capacitor lot reaches every device
    scope = recall(store, [LOT]).as_json()
    assert [d["key"] for d in scope["devices"]] == sorted([SN1, SN2, MODULE])
    assert {c["key"]: c["devices"] for c in scope["customers"]} == {HOSPITAL: 1, SITE: 1}
    assert [e.actor for e in store.audit_entries()] == ["test"]


def test_urns_and_digital_links_name_one_node(store: GraphStore, tmp_path: Path) -> None:
    doc = document(
        [
            event("ObjectEvent", "2026-01-06T10:00:00Z", 1, action="ADD",
                  epcList=["urn:epc:id:sgtin:0614141.812345.A%2FB"]),
            event("ObjectEvent", "2026-01-07T10:00:00Z", 2, action="OBSERVE", bizStep="shipping",
                  epcList=["https://scan.example.org/01/80614141123458/21/A%2FB",
                           "https://id.gs1.org/gtin/80614141123458/ser/A%2FB"],
                  bizTransactionList=[{"type": "urn:epcglobal:cbv:btt:desadv",
                                       "bizTransaction": "urn:example:dn:1"}]),
        ]
    )  # fmt: skip
    load(store, write(tmp_path / "doc.jsonld", doc))
    nodes, edges = snapshot(store)
    device = "Device:01/80614141123458/21/A%2FB"
    assert sorted(nodes) == [device, "Product:01/80614141123458", "Shipment:urn:example:dn:1"]
    assert nodes[device]["udi_serial"] == "A/B"
    assert set(edges) == {("SHIPPED_IN", device, "Shipment:urn:example:dn:1")}
    # `search` finds the node by the URN and by either Digital Link, as scanned.
    for scanned in (
        "urn:epc:id:sgtin:0614141.812345.A%2FB",
        "https://scan.example.org/01/80614141123458/21/A%2FB",
        "https://id.gs1.org/01/80614141123458/21/A%2FB",
    ):
        found = search(store, scanned).as_json()["matches"]
        assert [m["key"] for m in found][:1] == [device], scanned


def test_transformations(store: GraphStore, tmp_path: Path) -> None:
    """A work order (no lot out) is a batch named by its transformationID; the events of one
    transformationID are one transformation; a lot made in the document and consumed by a
    later transformation is a batch; devices go from the output lot of their GTIN; serialised
    inputs are installed in the outputs."""
    lot_a = "urn:epc:class:lgtin:4012345.012345.A"
    sub = "urn:epc:class:lgtin:4012345.099999.SUB-1"
    doc = document(
        [
            event("ObjectEvent", "2026-01-01T00:00:00Z", 1, action="OBSERVE", bizStep="receiving",
                  quantityList=[{"epcClass": lot_a, "quantity": 10}]),
            # a sub-assembly lot made from lot A ...
            event("TransformationEvent", "2026-01-02T00:00:00Z", 2,
                  inputQuantityList=[{"epcClass": lot_a, "quantity": 4}],
                  outputQuantityList=[{"epcClass": sub}]),
            # ... a work order's inputs (the sub-assembly and a serialised part) ...
            event("TransformationEvent", "2026-01-03T00:00:00Z", 3,
                  transformationID="urn:example:wo:77",
                  inputQuantityList=[{"epcClass": sub, "quantity": 2}],
                  inputEPCList=["urn:epc:id:sgtin:4012345.012345.PART-1"]),
            event("ObjectEvent", "2026-01-01T00:00:00Z", 4, action="ADD",
                  epcList=["urn:epc:id:sgtin:4012345.012345.PART-1"]),
            # ... and its outputs, reported apart under the same transformationID
            event("TransformationEvent", "2026-01-04T00:00:00Z", 5,
                  transformationID="urn:example:wo:77",
                  outputEPCList=["urn:epc:id:sgtin:9501101.053000.X1"]),
            # two lots out: each device from the lot of its own GTIN
            event("TransformationEvent", "2026-01-05T00:00:00Z", 6,
                  inputQuantityList=[{"epcClass": lot_a, "quantity": 1}],
                  outputQuantityList=[{"epcClass": "urn:epc:class:lgtin:9501101.053000.L1"},
                                      {"epcClass": "urn:epc:class:lgtin:9501101.053001.L2"}],
                  outputEPCList=["urn:epc:id:sgtin:9501101.053000.Y1",
                                 "urn:epc:id:sgtin:9501101.053001.Y2"]),
        ]
    )  # fmt: skip
    load(store, write(tmp_path / "doc.jsonld", doc))
    nodes, edges = snapshot(store)
    a, s = "MaterialLot:01/04012345123456/10/A", "Batch:01/04012345999990/10/SUB-1"
    wo, part = "Batch:urn:example:wo:77", "Device:01/04012345123456/21/PART-1"
    x1, y1 = "Device:01/09501101530003/21/X1", "Device:01/09501101530003/21/Y1"
    l1, l2 = "Batch:01/09501101530003/10/L1", "Batch:01/09501101530010/10/L2"
    y2 = "Device:01/09501101530010/21/Y2"
    genealogy = {(t, f, to) for t, f, to in edges if t != "HAS_BATCH"}
    assert genealogy == {
        ("HAS_LOT", "Material:01/04012345123456", a),
        ("CONSUMED_IN", a, s),
        ("CONSUMED_IN", s, wo),  # made here, so a Batch, not a MaterialLot
        ("PRODUCED", wo, x1),
        ("INSTALLED_IN", part, x1),
        ("CONSUMED_IN", a, l1),
        ("CONSUMED_IN", a, l2),
        ("PRODUCED", l1, y1),
        ("PRODUCED", l2, y2),
    }
    assert nodes[wo] == {"started_at": "2026-01-03T00:00:00Z"}  # the first event of the two
    # a quantity goes on the edge only when one batch took it all
    assert edges[("CONSUMED_IN", s, wo)]["quantity"] == 2.0
    assert "quantity" not in edges[("CONSUMED_IN", a, l1)]
    assert ("HAS_BATCH", "Product:01/09501101530003", wo) in edges


def test_an_sscc_shipped_under_a_despatch_advice_is_the_shipment(
    store: GraphStore, tmp_path: Path
) -> None:
    """The despatch advice names the logistic units shipped: no second, empty shipment."""
    packed = event("AggregationEvent", "2026-01-07T08:00:00Z", 1, action="ADD",
                   parentID="urn:epc:id:sscc:9501101.1000000001",
                   childEPCs=["urn:epc:id:sgtin:9501101.053000.SN1"])  # fmt: skip
    shipped = event("ObjectEvent", "2026-01-08T08:00:00Z", 2, action="OBSERVE",
                    bizStep="shipping", epcList=["urn:epc:id:sscc:9501101.1000000001"],
                    bizTransactionList=[{"type": "po", "bizTransaction": "urn:example:po:1"},
                                        {"type": "desadv", "bizTransaction": "urn:example:dn:1"}],
                    destinationList=[{"type": "owning_party",
                                      "destination": "urn:epc:id:pgln:9501101.00099"}])  # fmt: skip
    made = event("ObjectEvent", "2026-01-06T08:00:00Z", 3, action="ADD",
                 epcList=["urn:epc:id:sgtin:9501101.053000.SN1"])  # fmt: skip
    load(store, write(tmp_path / "doc.json", document([made, packed, shipped])))
    nodes, edges = snapshot(store)
    assert sorted(k for k in nodes if k.startswith("Shipment:")) == [PALLET]
    assert set(edges) == {("SHIPPED_IN", SN1, PALLET), ("DELIVERED_TO", PALLET, HOSPITAL)}


def test_what_is_not_mapped_writes_nothing(store: GraphStore, tmp_path: Path) -> None:
    doc = document(
        [
            event("ObjectEvent", "2026-01-01T00:00:00Z", 1, action="OBSERVE", bizStep="storing",
                  epcList=["urn:epc:id:sgtin:0614141.812345.1"]),
            event("ObjectEvent", "2026-01-01T00:00:00Z", 2, action="DELETE",
                  bizStep="decommissioning", epcList=["urn:epc:id:sgtin:0614141.812345.1"]),
            event("AggregationEvent", "2026-01-01T00:00:00Z", 3, action="DELETE",
                  parentID="urn:epc:id:sscc:0614141.1234567890"),
            event("ObjectEvent", "2026-01-01T00:00:00Z", 4, action="OBSERVE",
                  bizStep="receiving",
                  quantityList=[{"epcClass": "urn:epc:idpat:sgtin:0614141.812345.*",
                                 "quantity": 3}]),
            event("TransactionEvent", "2026-01-01T00:00:00Z", 5, action="ADD",
                  bizTransactionList=[{"type": "po", "bizTransaction": "urn:example:po:1"}],
                  epcList=["urn:epc:id:sgtin:0614141.812345.1"]),
        ]
    )  # fmt: skip
    raws = list(epcis.read_document("doc.json", doc))
    assert raws == []
    with pytest.raises(BadInput, match="holds no records"):
        load(store, write(tmp_path / "doc.json", doc))
    assert store.audit_entries() == []


def test_master_data_names_parties_and_carries_fields(store: GraphStore, tmp_path: Path) -> None:
    header = {
        "epcisMasterData": {
            "vocabularyList": [
                {"type": "urn:epcglobal:epcis:vtype:BusinessLocation",
                 "vocabularyElementList": [
                     {"id": "urn:epc:id:pgln:9501101.00099",
                      "attributes": [{"id": "urn:epcglobal:cbv:mda#name",
                                      "attribute": "St. Elsewhere Hospital"},
                                     {"id": "cbvmda:countryCode", "attribute": "DE"}]}]},
                {"type": "urn:tracegraph:vtype:Customer",
                 "vocabularyElementList": [
                     {"id": "urn:tracegraph:Customer:C-9",
                      "attributes": [{"id": "tg:name", "attribute": "Clinic Nine"},
                                     {"id": "tg:country", "attribute": "FR"}]}]},
            ]
        }
    }  # fmt: skip
    doc = plant()
    doc["@context"].append({"tg": "urn:tracegraph:field:"})
    load(store, write(tmp_path / "doc.jsonld", {**doc, "epcisHeader": header}))
    nodes, _ = snapshot(store)
    assert nodes[HOSPITAL] == {"name": "St. Elsewhere Hospital", "country": "DE"}
    assert nodes["Customer:C-9"] == {"name": "Clinic Nine", "country": "FR"}
    assert nodes[SITE] == {"name": "(414)9501101000421"}  # no master data: the identifier


# --------------------------------------------------------------------------- refusals


def _minus(doc: dict[str, Any], n: int, field: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    del doc["epcisBody"]["eventList"][n - 1][field]
    return doc


def _with(doc: dict[str, Any], n: int, **fields: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["epcisBody"]["eventList"][n - 1].update(fields)
    return doc


REFUSALS = [
    (_minus(plant(), 3, "action"), ["event 3 (ObjectEvent): field 'action': required"]),
    (_with(plant(), 2, eventTime="2026-01-06"),
     ["event 2 (TransformationEvent): field 'eventTime': not a date-time with a UTC offset: "
      "'2026-01-06'"]),
    (_with(plant(), 4, childEPCs=["urn:epc:id:sgtin:9501101.05300.M1"]),
     ["event 4 (AggregationEvent): field 'childEPCs[0]': "
      "'urn:epc:id:sgtin:9501101.05300.M1': company prefix and item reference must have 13 "
      "digits together (they have 12)"]),
    (_with(plant(), 7, epcList=["urn:epc:class:lgtin:9501101.053000.B-1"]),
     ["event 7 (ObjectEvent): field 'epcList[0]': 'urn:epc:class:lgtin:9501101.053000.B-1' is "
      "a class of objects (lgtin), not one object"]),
    (_with(plant(), 1, type="ObservationEvent"),
     ["event 1: field 'type': 'ObservationEvent' is not an EPCIS 2.0 event type "
      "(ObjectEvent, AggregationEvent, TransformationEvent, AssociationEvent, "
      "TransactionEvent)"]),
    (_with(plant(), 3, ilmd={"cbvmda:lotNumber": "B 1", "cbvmda:itemExpirationDate": "20310131"}),
     ["event 3 (ObjectEvent): field 'ilmd.cbvmda:lotNumber': not a GS1 lot number (20 "
      "characters of CSET 82): 'B 1'; field 'ilmd.cbvmda:itemExpirationDate': not a date "
      "(YYYY-MM-DD): '20310131'"]),
    (_with(plant(), 5, errorDeclaration={"declarationTime": "2026-02-01T00:00:00Z"}),
     ["event 5 (AssociationEvent): field 'errorDeclaration': corrections of earlier events "
      "are not mapped; correct the graph with an import"]),
    (_with(plant(), 8, eventTimeZoneOffset="+1:00", destinationList=[{"type": "location"}]),
     ["event 8 (TransactionEvent): field 'eventTimeZoneOffset': not an offset like +01:00: "
      "'+1:00'; field 'destinationList[0].destination': required"]),
    ({**plant(), "schemaVersion": "1.2"},
     ["field 'schemaVersion': '1.2' is not \"2.0\" (EPCIS 2.0)"]),
    # an event that names an object no event defined, in the store or in the document
    (document([event("AggregationEvent", "2026-01-06T11:00:00Z", 1, action="ADD",
                     parentID="urn:epc:id:sgtin:9501101.053000.SN1",
                     childEPCs=["urn:epc:id:sgtin:9501101.053000.SN7"])]),
     [f"event 1 (AggregationEvent), childEPCs[0]: field 'from': "
      f"{SN1.replace('SN1', 'SN7')} exists neither in the store nor in this import",
      f"event 1 (AggregationEvent), childEPCs[0]: field 'to': {SN1} exists neither in the "
      "store nor in this import"]),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "expected"), REFUSALS)
def test_a_bad_document_is_refused_naming_event_and_field_and_nothing_is_written(
    store: GraphStore, tmp_path: Path, doc: dict[str, Any], expected: list[str]
) -> None:
    path = write(tmp_path / "doc.json", doc)
    with pytest.raises(InvalidImport) as refused:
        load(store, path)
    assert refused.value.details == [f"{path}: {line}" for line in expected]
    assert "nothing written" in refused.value.message
    assert snapshot(store) == ({}, {})
    assert store.audit_entries() == []


def test_a_file_that_is_not_json_is_refused(store: GraphStore, tmp_path: Path) -> None:
    path = tmp_path / "doc.jsonld"
    path.write_text('{"type": "EPCISDocument", ')
    with pytest.raises(InvalidImport) as refused:
        load(store, path)
    assert refused.value.details[0].startswith(f"{path}: not valid JSON")


# --------------------------------------------------------------------------- idempotency


def test_a_document_or_an_event_sent_again_changes_nothing(
    store: GraphStore, tmp_path: Path
) -> None:
    doc = plant()
    load(store, write(tmp_path / "plant.json", doc))
    before, entries = snapshot(store), len(store.audit_entries())
    again = load(store, write(tmp_path / "again.json", doc))
    assert (again["created"], again["updated"], again["audit_seq"]) == (0, 0, None)
    # Each event sent again alone changes nothing either, the packing event (6) included: its
    # time only stands in for a shipment's shipping time when it makes the shipment.
    for n, sent in enumerate(doc["epcisBody"]["eventList"], start=1):
        alone = load(store, write(tmp_path / f"event-{n}.json", document([sent])))
        assert (alone["created"], alone["updated"]) == (0, 0), f"event {n}: {alone}"
    assert snapshot(store) == before
    assert snapshot(store)[0][PALLET] == {"shipped_at": "2026-01-08T08:00:00Z"}  # shipping's
    assert len(store.audit_entries()) == entries


def test_a_packing_event_alone_makes_its_shipment_with_its_own_time(
    store: GraphStore, tmp_path: Path
) -> None:
    # Sent before the shipping (in its own document), packing makes the shipment, whose
    # required time it gives provisionally; the shipping event sent next replaces it.
    events = plant()["epcisBody"]["eventList"]
    first = document(events[:6])
    load(store, write(tmp_path / "first.json", first))
    assert snapshot(store)[0][PALLET] == {"shipped_at": "2026-01-07T08:00:00Z"}  # packing's
    load(store, write(tmp_path / "rest.json", document(events[6:])))
    assert snapshot(store)[0][PALLET] == {"shipped_at": "2026-01-08T08:00:00Z"}  # shipping's


def test_a_name_made_from_an_identifier_never_replaces_a_known_one(
    store: GraphStore, tmp_path: Path
) -> None:
    product = "Product:01/80614141123458"
    known = tmp_path / "products.jsonl"
    record = {"type": "Product", "id": "01/80614141123458", "name": "ECG-Monitor Pro 12"}
    known.write_bytes(orjson.dumps({**record, "gtin": "80614141123458"}))
    load(store, known)
    doc = document([event("ObjectEvent", "2026-01-06T10:00:00Z", 1, action="ADD",
                          epcList=["urn:epc:id:sgtin:0614141.812345.SN9"])])  # fmt: skip
    done = load(store, write(tmp_path / "doc.jsonld", doc))
    assert done["updated"] == 0  # the product is as the store knew it
    assert snapshot(store)[0][product]["name"] == "ECG-Monitor Pro 12"
    # Into an empty store, the same document names the product from its identifier.
    fresh = EmbeddedStore(tmp_path / "fresh.tgdb")
    load(fresh, write(tmp_path / "doc2.jsonld", doc))
    assert snapshot(fresh)[0][product]["name"] == "(01)80614141123458"


def test_an_event_id_given_twice_in_a_document_is_the_first_event(
    store: GraphStore, tmp_path: Path
) -> None:
    first = plant()["epcisBody"]["eventList"][0]
    changed = copy.deepcopy(first)
    changed["quantityList"][0]["quantity"] = 999
    load(store, write(tmp_path / "doc.json", document([first, changed])))
    assert snapshot(store)[0][LOT]["quantity"] == 500.0


# --------------------------------------------------------------------------- export


def export_bytes(store: GraphStore, keys: list[str], **how: Any) -> bytes:
    out = io.BytesIO()
    created = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    epcis.export(epcis.scope(store, keys, **how), out, created=created)
    return out.getvalue()


def test_round_trip_epcis_graph_epcis_graph(store: GraphStore, tmp_path: Path) -> None:
    doc = plant()
    named = {"id": "urn:epcglobal:cbv:mda#name", "attribute": "Hospital"}
    location = {"id": "urn:epc:id:pgln:9501101.00099", "attributes": [named]}
    vocabulary = {"type": "urn:epcglobal:epcis:vtype:BusinessLocation",
                  "vocabularyElementList": [location]}  # fmt: skip
    doc["epcisHeader"] = {"epcisMasterData": {"vocabularyList": [vocabulary]}}
    load(store, write(tmp_path / "plant.json", doc))
    first = snapshot(store)
    everything = sorted(first[0])
    exported = export_bytes(store, everything, direction=Direction.down)
    # valid EPCIS by the schema capture documents, and deterministic
    jsonschema_rs.validator_for(epcis.document_schema()).validate(orjson.loads(exported))
    assert exported == export_bytes(store, everything, direction=Direction.down)
    again = EmbeddedStore(tmp_path / "empty.tgdb")
    load(again, write(tmp_path / "exported.jsonld", orjson.loads(exported)))
    assert snapshot(again) == first
    # and once more: graph → EPCIS → graph is a fixed point
    twice = EmbeddedStore(tmp_path / "twice.tgdb")
    exported_again = export_bytes(again, everything, direction=Direction.down)
    load(twice, write(tmp_path / "twice.jsonld", orjson.loads(exported_again)))
    assert snapshot(twice) == first


def test_the_export_of_a_recall_scope_imports_as_that_scope(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, write(tmp_path / "plant.json", plant()))
    nodes, edges = snapshot(store)
    exported = export_bytes(store, [LOT])
    target = EmbeddedStore(tmp_path / "scope.tgdb")
    load(target, write(tmp_path / "scope.jsonld", orjson.loads(exported)))
    got_nodes, got_edges = snapshot(target)
    # the lot and everything downstream, with the product and material their GTINs name;
    # not the supplier or the oven (upstream of the scope)
    assert set(got_nodes) == {LOT, BATCH, SN1, SN2, MODULE, PALLET, ADVICE, HOSPITAL, SITE,
                              REPAIR, PRODUCT, MATERIAL}  # fmt: skip
    assert got_nodes == {k: nodes[k] for k in got_nodes}
    assert got_edges == {e: p for e, p in edges.items() if e[1] in got_nodes and e[2] in got_nodes}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(records=genealogies())
def test_any_genealogy_exports_and_imports_as_itself(records: list[dict[str, Any]]) -> None:
    """Stores filled by the import format (ids that are no EPCs: private URNs), on random
    genealogies with cycles, several producing batches per device and so on. Complaints
    have no EPCIS event, and an `at` a record leaves out comes back as its event's time."""
    with tempfile.TemporaryDirectory() as folder:
        source = EmbeddedStore(Path(folder) / "a.tgdb")
        import_records(source, read_jsonl("g", [orjson.dumps(r) for r in records]), REQ)
        nodes, edges = snapshot(source)
        out = io.BytesIO()
        keys = list(nodes)
        stored = source.nodes(keys)
        scope = epcis.Scope(
            {k: n.props for k, n in stored.items()},
            [(e.type, e.src, e.dst, e.props) for e in source.edges(keys, GENEALOGY, None)],
        )
        report = epcis.export(scope, out)
        assert report.left_out == (
            {"Complaint": sum(1 for k in nodes if k.startswith("Complaint:"))}
            if any(k.startswith("Complaint:") for k in nodes)
            else {}
        )
        target = EmbeddedStore(Path(folder) / "b.tgdb")
        path = write(Path(folder) / "g.jsonld", orjson.loads(out.getvalue()))
        if report.events or report.nodes:
            load(target, path)
        got_nodes, got_edges = snapshot(target)
    assert got_nodes == {k: v for k, v in nodes.items() if not k.startswith("Complaint:")}
    expected = {e: p for e, p in edges.items() if e[0] != "HAS_COMPLAINT"}
    assert set(got_edges) == set(expected)
    for edge, props in expected.items():
        assert {k: v for k, v in got_edges[edge].items() if k in props} == props, edge


def test_the_generator_writes_its_genealogy_as_epcis(tmp_path: Path) -> None:
    jsonl, doc = tmp_path / "g.jsonl", tmp_path / "g.jsonld"
    with open(jsonl, "wb") as handle:
        write_jsonl(generate(300, 5), handle)
    with open(doc, "wb") as handle:
        assert epcis.write_records(generate(300, 5), handle) > 300
    a, b = EmbeddedStore(tmp_path / "a.tgdb"), EmbeddedStore(tmp_path / "b.tgdb")
    load(a, jsonl)
    load(b, doc)
    (na, ea), (nb, eb) = snapshot(a), snapshot(b)
    carried = {k: v for k, v in na.items() if EntityType(k.partition(":")[0]) in epcis.EXPORTED}
    assert nb == carried
    unmapped = {"FOLLOWED", "IMPLEMENTED_IN", "HAS_COMPLAINT"}  # no EPCIS event for these
    genealogy = {str(r) for r in GENEALOGY} - unmapped
    assert {e: p for e, p in eb.items() if e[0] in genealogy} == {
        e: p for e, p in ea.items() if e[0] in genealogy
    }
    assert sum(1 for k in nb if k.startswith("Device:")) == 300


# --------------------------------------------------------------------------- command line


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_cli_imports_and_exports_epcis(cli_db: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    db, env = cli_db
    pretty = tmp_path / "plant.json"  # .json, spread over lines: sniffed as EPCIS
    pretty.write_text(json.dumps(plant(), indent=2))
    done = run("import", str(pretty), "--db", db, "--format", "json", "--no-check", env=env)
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["created"] == 28
    out = tmp_path / "scope.jsonld"
    exported = run("export", "epcis", LOT, "--out", str(out), "--db", db, env=env)
    assert exported.exit_code == 0, exported.stderr
    assert exported.stdout.startswith(f"{out}: ")
    assert "events of 12 nodes" in exported.stdout
    other = str(tmp_path / "other.tgdb")
    assert run("import", str(out), "--db", other, "--no-check").exit_code == 0
    assert EmbeddedStore(other).existing([SN1, SN2, MODULE, HOSPITAL]) == {SN1, SN2, MODULE,
                                                                           HOSPITAL}  # fmt: skip
    # upstream traces instead, to stdout
    traced = run("export", "epcis", SN2, "--up", "--db", db, env=env)
    assert traced.exit_code == 0, traced.stderr
    body = json.loads(traced.stdout)
    assert body["type"] == "EPCISDocument"
    named = json.dumps(body)
    assert "https://id.gs1.org/417/4012345000016" in named  # the supplier, upstream
    assert "https://id.gs1.org/00/195011010000000015" not in named  # SN1's pallet: not SN2's
    bad = run("export", "epcis", SN2, "--up", "--from", "2026-01-01", "--db", db, env=env)
    assert bad.exit_code == 2
    assert "bound a recall scope" in bad.stderr


def test_cli_import_names_the_event_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "doc.json", _minus(plant(), 3, "action"))
    result = run("import", str(path), "--db", str(tmp_path / "x.tgdb"))
    assert result.exit_code == 2
    assert f"{path}: event 3 (ObjectEvent): field 'action': required" in result.stderr
    assert (
        not (tmp_path / "x.tgdb").exists()
        or EmbeddedStore(tmp_path / "x.tgdb").audit_entries() == []
    )


def test_json_files_are_read_as_epcis_only_when_they_are_a_document(tmp_path: Path) -> None:
    one_line = tmp_path / "one.json"  # one line, and a byte order mark
    one_line.write_bytes(b"\xef\xbb\xbf" + orjson.dumps(plant()))
    record = tmp_path / "record.json"  # JSON Lines of one record, named .json
    record.write_text('{"type": "Supplier", "id": "S-1", "name": "Acme"}\n')
    assert epcis.is_document(one_line)
    assert epcis.is_document(tmp_path / "anything.jsonld")
    assert not epcis.is_document(record)
    db = str(tmp_path / "s.tgdb")
    assert run("import", str(record), str(one_line), "--db", db, "--no-check").exit_code == 0
    assert EmbeddedStore(db).existing(["Supplier:S-1", SN1]) == {"Supplier:S-1", SN1}


def test_cli_generate_writes_epcis(tmp_path: Path) -> None:
    out = tmp_path / "g.jsonld"
    result = run("generate", "--devices", "50", "--seed", "3", "--format", "epcis", "--out",
                 str(out))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "events to" in result.stderr
    db = str(tmp_path / "g.tgdb")
    assert run("import", str(out), "--db", db, "--no-check").exit_code == 0
    assert len(EmbeddedStore(db).keys_of_type(EntityType.Device)) == 50
    assert run("generate", "--format", "xml").exit_code == 2


# --------------------------------------------------------------------------- HTTP


@pytest.fixture
def client(request: pytest.FixtureRequest, store: GraphStore) -> Iterator[TestClient]:
    with TestClient(make_app(request, store, max_body_bytes=100_000)) as made:
        yield made


CAPTURE = "/v1/epcis/capture"
LD = {"Content-Type": "application/ld+json"}


def test_http_capture_by_an_integrator(client: TestClient, store: GraphStore) -> None:
    key = put_key(store, Role.integrator, "mes")
    body = orjson.dumps(plant())
    done = client.post(CAPTURE, content=body, headers={**bearer(key), **LD})
    assert done.status_code == 200, done.text
    assert (done.json()["created"], done.json()["edges"]) == (28, 14)
    assert set(snapshot(store)[1]) == PLANT_EDGES
    entry = store.audit_entries()[-1]
    assert (entry.actor, entry.operation, entry.source) == ("mes", "api epcis capture", "EPCIS")
    again = client.post(CAPTURE, content=body, headers={**bearer(key), **LD})
    assert (again.json()["created"], again.json()["updated"]) == (0, 0)


def test_http_capture_refusals(client: TestClient, store: GraphStore) -> None:
    body = orjson.dumps(plant())
    assert client.post(CAPTURE, content=body, headers=LD).status_code == 401
    for role in (Role.analyst, Role.auditor):
        refused = client.post(CAPTURE, content=body, headers={**bearer(put_key(store, role)), **LD})
        assert refused.status_code == 403, role
        assert refused.headers["content-type"] == "application/problem+json"
    key = bearer(put_key(store, Role.integrator))
    bad = client.post(CAPTURE, content=orjson.dumps(_minus(plant(), 3, "action")), headers=key)
    assert bad.status_code == 422
    assert bad.json()["errors"] == ["event 3 (ObjectEvent): field 'action': required"]
    # an object nobody defined is named once, however many edges go to it
    orphans = document([event("AggregationEvent", "2026-01-06T11:00:00Z", 1, action="ADD",
                              parentID="urn:epc:id:sgtin:9501101.053000.P",
                              childEPCs=["urn:epc:id:sgtin:9501101.053000.C1",
                                         "urn:epc:id:sgtin:9501101.053000.C2"])])  # fmt: skip
    missing = client.post(CAPTURE, content=orjson.dumps(orphans), headers=key).json()["errors"]
    assert [m.split(": field")[0] for m in missing] == [
        "event 1 (AggregationEvent), childEPCs[0]",
        "event 1 (AggregationEvent), childEPCs[0]",
        "event 1 (AggregationEvent), childEPCs[1]",
    ]
    assert len({m.split(": ")[2] for m in missing}) == 3  # C1, P and C2, once each
    too_big = client.post(CAPTURE, content=b" " * 100_001 + body, headers=key)
    assert too_big.status_code == 413
    assert snapshot(store) == ({}, {})
