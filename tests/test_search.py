"""Search by key, id, device serial, full UDI or text, on both stores with the demo data."""

from __future__ import annotations

import pytest

from tracegraph.demo import load_demo
from tracegraph.errors import BadInput
from tracegraph.search import search, udi_parts
from tracegraph.store.base import GraphStore

UDI_117 = "(01)09501101530003(11)260113(21)SN000117"


@pytest.fixture
def demo(store: GraphStore) -> GraphStore:
    load_demo(store)
    return store


def found(store: GraphStore, query: str, type_: str | None = None) -> list[tuple[str, str]]:
    return [(m["key"], m["match"]) for m in search(store, query, type_=type_).as_json()["matches"]]


def test_udi_parts() -> None:
    assert udi_parts(UDI_117) == {"01": "09501101530003", "11": "260113", "21": "SN000117"}
    assert udi_parts(" (01)1 (21)X ") == {"01": "1", "21": "X"}
    assert udi_parts("SN000117") == {}
    assert udi_parts("(01)123junk(") == {}


def test_exact_matches_end_the_search(demo: GraphStore) -> None:
    assert found(demo, "Device:D-000117") == [("Device:D-000117", "key")]
    assert found(demo, "L-2026-0042") == [("MaterialLot:L-2026-0042", "id")]
    assert found(demo, "S-7") == [("Supplier:S-7", "id")]  # not S-7's namesakes in text
    assert found(demo, UDI_117) == [("Device:D-000117", "udi")]
    assert found(demo, f"  {UDI_117} ") == [("Device:D-000117", "udi")]


def test_serials_match_the_udi_serial_or_the_source_ref(demo: GraphStore) -> None:
    assert found(demo, "SN000117") == [("Device:D-000117", "serial")]
    assert found(demo, "sn000117") == [("Device:D-000117", "serial")]
    # A UDI whose other parts are wrong still names the serial.
    assert found(demo, "(01)09501101530003(11)999999(21)SN000117") == [
        ("Device:D-000117", "serial")
    ]
    # The GTIN names Lite 3; D-000117 is a Pro 12, so only the serial (searched across every
    # device once the product's own devices do not match) finds it.
    assert found(demo, "(01)09501101530010(21)SN000117") == [("Device:D-000117", "serial")]


def test_text_and_id_fragments(demo: GraphStore) -> None:
    assert found(demo, "baseline") == [
        ("Complaint:CMP-0431", "text contains"),
        ("Complaint:CMP-0436", "text contains"),
        ("Complaint:CMP-0442", "text contains"),
    ]
    assert found(demo, "0042") == [
        ("Inspection:I-IN-0042", "id contains"),
        ("MaterialLot:L-2026-0042", "id contains"),
    ]
    shenzhen = found(demo, "SHENZHEN")
    assert ("Supplier:S-7", "text contains") in shenzhen
    assert found(demo, "no such thing anywhere") == []


def test_type_filter_limit_and_listing(demo: GraphStore) -> None:
    assert found(demo, "", type_="ChangeOrder") == [
        ("ChangeOrder:CO-118", "type"),
        ("ChangeOrder:CO-121", "type"),
    ]
    answer = search(demo, "D-0001", type_="Device", limit=5).as_json()
    assert answer["counts"] == {"matches": 40, "shown": 5}
    assert [m["key"] for m in answer["matches"]] == [f"Device:D-00010{i}" for i in range(1, 6)]
    assert found(demo, "S-7", type_="MaterialLot") == []
    assert search(demo, "L-2026-0042").as_json()["matches"][0]["label"] == "received 2026-01-05"


def test_a_piece_of_a_serial_finds_its_devices(demo: GraphStore) -> None:
    # SN000117 is D-000117's serial; SN00011 is a piece of ten of them (SN000110 … SN000119).
    assert found(demo, "sn00011") == [(f"Device:D-00011{i}", "serial contains") for i in range(10)]
    first = search(demo, "SN00011").as_json()["matches"][0]
    assert first["why"] == "serial SN000110 (its UDI)"
    # A whole serial is still one exact match, and a UDI is never read as a piece of one.
    assert found(demo, "SN000117") == [("Device:D-000117", "serial")]
    assert found(demo, "(01)09501101530003(21)SN00011") == [("Product:P-PRO12", "udi di")]


def test_offset_pages_through_every_match(demo: GraphStore) -> None:
    every = [m["key"] for m in search(demo, "D-0001", limit=200).as_json()["matches"]]
    assert len(every) == 40
    pages = []
    for offset in range(0, 40, 15):
        answer = search(demo, "D-0001", limit=15, offset=offset).as_json()
        assert answer["counts"]["matches"] == 40
        assert answer["offset"] == offset
        pages += [m["key"] for m in answer["matches"]]
    assert pages == every
    assert search(demo, "D-0001", offset=40).as_json()["matches"] == []
    listed = search(demo, "", type_="Device", limit=3, offset=38).as_json()
    assert [m["key"] for m in listed["matches"]] == every[38:]
    with pytest.raises(BadInput, match="offset -1"):
        search(demo, "D-0001", offset=-1)


def test_bad_searches(demo: GraphStore) -> None:
    with pytest.raises(BadInput, match="q: empty"):
        search(demo, "  ")
    with pytest.raises(BadInput, match="type 'Gadget'"):
        search(demo, "x", type_="Gadget")
    with pytest.raises(BadInput, match="limit 0"):
        search(demo, "x", limit=0)
