"""A UDI as scanned finds its device (DI + serial) or its lot's devices (DI + lot), on both
stores, whatever form the scan and the stored UDI are in; and `tracegraph search` on the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from tracegraph.importer import import_records, read_jsonl
from tracegraph.search import search
from tracegraph.store.base import GraphStore, WriteRequest

GS = "\x1d"
PRO = "09501101530003"  # GS1's example GTIN
LITE = "4006381333931"  # a GTIN-13, stored as such on its product
HIBC_SET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"


def hibc(data: str) -> str:
    """HIBC data with its mod-43 check character (ANSI/HIBC 2.6)."""
    return data + HIBC_SET[sum(HIBC_SET.index(c) for c in data) % 43]


HIBC_PRIMARY = hibc("+A123BJC5D6E71")

#: Each device's UDI as stored: every form, and two devices of other products sharing the
#: Pro's lot name and serial, so that only a DI tells them apart.
UDIS = {
    "D-1": f"(01){PRO}(11)260105(17)280105(10)LOT-A(21)SN1",
    "D-2": f"https://id.gs1.org/01/{PRO}/10/LOT-A/21/SN2?11=260105&17=280105",
    "D-3": f"]d201{PRO}1126010610LOT-B{GS}21SN3",
    "D-4": f"(01)0{LITE}(10)LOT-A(21)SN1",
    "D-5": hibc("+A123BJC5D6E71/$$3280105LOTH/SSNH1"),
    "D-6": hibc("+A123BJC5D6E71/$$3280105LOTH/SSNH2"),
    "D-7": hibc("+A123BJC5D6E71/$$3280105LOTJ/SSN1"),
}


def node(type_: str, id_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "id": id_, **fields}


def edge(type_: str, src: str, dst: str) -> dict[str, Any]:
    return {"type": type_, "from": src, "to": dst}


BATCHES = {"B-PRO": ["D-1", "D-2", "D-3"], "B-LITE": ["D-4"], "B-H": ["D-5", "D-6", "D-7"]}
RECORDS: list[dict[str, Any]] = [
    node("Product", "P-PRO", name="Pro", gtin=PRO),
    node("Product", "P-LITE", name="Lite", gtin=LITE),
    node("Product", "P-H", name="HIBC-labelled pump"),
    *[node("Batch", b, started_at="2026-01-05") for b in BATCHES],
    *[node("Device", d, manufactured_at="2026-01-05", udi=u) for d, u in UDIS.items()],
    edge("HAS_BATCH", "Product:P-PRO", "Batch:B-PRO"),
    edge("HAS_BATCH", "Product:P-LITE", "Batch:B-LITE"),
    edge("HAS_BATCH", "Product:P-H", "Batch:B-H"),
    *[edge("PRODUCED", f"Batch:{b}", f"Device:{d}") for b, ds in BATCHES.items() for d in ds],
]


def load(store: GraphStore) -> GraphStore:
    lines = [orjson.dumps(r) for r in RECORDS]
    import_records(store, read_jsonl("udi.jsonl", lines), WriteRequest("test", "import"))
    return store


@pytest.fixture
def labelled(store: GraphStore) -> GraphStore:
    return load(store)


def found(store: GraphStore, query: str, type_: str | None = None) -> list[tuple[str, str]]:
    return [(m["key"], m["match"]) for m in search(store, query, type_=type_).as_json()["matches"]]


# Each device scanned in a form other than the one it is stored in.
SCANS = {
    "raw ]d2 with GS, of an HRI": (f"]d201{PRO}112601051728010510LOT-A{GS}21SN1", "D-1"),
    "Digital Link, of a raw string": (f"https://scan.example.org/01/{PRO}/10/LOT-B/21/SN3", "D-3"),
    "HRI, parts in another order, of a Digital Link": (f"(01){PRO}(21)SN2(10)LOT-A", "D-2"),
    "HIBCC primary and secondary symbols, of one symbol": (
        f"{HIBC_PRIMARY} {hibc(f'+$$3280105LOTH/SSNH2{HIBC_PRIMARY[-1]}')}",
        "D-6",
    ),
    "raw without symbology, DI and serial only": (f"01{PRO}21SN2", "D-2"),
}


@pytest.mark.parametrize("scan", SCANS)
def test_a_scanned_udi_finds_its_device_first(labelled: GraphStore, scan: str) -> None:
    text, device = SCANS[scan]
    answer = search(labelled, text).as_json()
    assert [(m["key"], m["match"]) for m in answer["matches"]] == [(f"Device:{device}", "udi")]
    assert answer["total"] == 1
    (match,) = answer["matches"]
    assert set(match) >= {"key", "type", "id", "why"}
    assert (match["type"], match["id"]) == ("Device", device)
    assert "serial" in match["why"]
    assert answer["query"] == text.strip()
    assert answer["udi"]["udi_di"] in (PRO, "A123BJC5D6E71")


def test_di_and_lot_find_the_lots_devices_and_no_namesake_of_another_di(
    labelled: GraphStore,
) -> None:
    # D-4 (another product) has lot LOT-A too, D-3 is the Pro's other lot.
    for scan in (
        f"]C101{PRO}10LOT-A",
        f"(01){PRO}(10)LOT-A",
        f"https://id.gs1.org/01/{PRO}/10/LOT-A",
    ):
        assert found(labelled, scan) == [("Device:D-1", "udi lot"), ("Device:D-2", "udi lot")]
    assert found(labelled, f"(01)0{LITE}(10)LOT-A") == [("Device:D-4", "udi lot")]
    hibc_lot = f"{HIBC_PRIMARY} {hibc(f'+$LOTH{HIBC_PRIMARY[-1]}')}"
    assert found(labelled, hibc_lot) == [("Device:D-5", "udi lot"), ("Device:D-6", "udi lot")]


def test_a_serial_not_in_the_store_falls_back_to_its_lot(labelled: GraphStore) -> None:
    assert found(labelled, f"(01){PRO}(10)LOT-B(21)SN-UNKNOWN") == [("Device:D-3", "udi lot")]


def test_the_di_tells_devices_with_the_same_serial_apart(labelled: GraphStore) -> None:
    assert found(labelled, f"(01){PRO}(21)SN1") == [("Device:D-1", "udi")]
    assert found(labelled, f"]d201{LITE.zfill(14)}21SN1") == [("Device:D-4", "udi")]
    hibc_sn1 = hibc("+A123BJC5D6E71/$+SN1")
    assert found(labelled, hibc_sn1) == [("Device:D-7", "udi")]
    # A bare serial is no UDI: every device with it.
    assert found(labelled, "SN1") == [
        ("Device:D-1", "serial"),
        ("Device:D-4", "serial"),
        ("Device:D-7", "serial"),
    ]


def test_a_udi_whose_other_parts_differ_names_only_the_serial(labelled: GraphStore) -> None:
    # D-1 expires 2028-01-05; this label says 2029: not D-1's, though its DI and serial are.
    # (The devices of other DIs with serial SN1 are not read: the product's devices matched.)
    assert found(labelled, f"(01){PRO}(17)290105(21)SN1") == [("Device:D-1", "serial")]
    # D-1 is of lot LOT-A: the label's lot (D-3's) comes first, then the device with its serial.
    assert found(labelled, f"(01){PRO}(10)LOT-B(21)SN1") == [
        ("Device:D-3", "udi lot"),
        ("Device:D-1", "serial"),
    ]


def test_an_invalid_udi_still_finds_the_serial_and_says_what_is_wrong(
    labelled: GraphStore,
) -> None:
    answer = search(labelled, f"(01){PRO[:-1]}4(21)SN2").as_json()
    assert [(m["key"], m["match"]) for m in answer["matches"]] == [("Device:D-2", "serial")]
    (note,) = answer["notes"]
    assert "GTIN check digit is 4, expected 3" in note
    month_13 = search(labelled, f"]d201{PRO}1728130521SN3").as_json()
    assert [m["key"] for m in month_13["matches"]] == ["Device:D-3"]
    assert "there is no month 13" in month_13["notes"][0]


def test_a_di_alone_finds_the_product(labelled: GraphStore) -> None:
    assert found(labelled, f"(01){PRO}") == [("Product:P-PRO", "udi di")]
    # The product stores a GTIN-13; the UDI carries it as 14 digits.
    assert found(labelled, f"https://id.gs1.org/01/0{LITE}") == [("Product:P-LITE", "udi di")]
    assert found(labelled, f"(01){PRO}", type_="Device") == []
    assert found(labelled, f"(01){PRO}(21)SN1", type_="Device") == [("Device:D-1", "udi")]
    assert found(labelled, f"(01){PRO}(21)SN1", type_="Batch") == []


def test_a_stored_udi_with_a_wrong_check_digit_is_still_found_by_serial(
    store: GraphStore,
) -> None:
    bad = [
        *RECORDS[:1],
        node("Batch", "B-X", started_at="2026-01-05"),
        node("Device", "D-X", manufactured_at="2026-01-05", udi=f"01{PRO[:-1]}921SNX"),
        edge("HAS_BATCH", "Product:P-PRO", "Batch:B-X"),
        edge("PRODUCED", "Batch:B-X", "Device:D-X"),
    ]
    import_records(
        store, read_jsonl("bad.jsonl", [orjson.dumps(r) for r in bad]), WriteRequest("t", "import")
    )
    assert found(store, "SNX") == [("Device:D-X", "serial")]
    # A valid scan of the right DI does not name it: its label is not that UDI.
    assert found(store, f"(01){PRO}(21)SNX") == [("Device:D-X", "serial")]


# --------------------------------------------------------------------------- the CLI


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def cli_loaded(cli_db: tuple[str, dict[str, str]], tmp_path: Path) -> tuple[str, dict[str, str]]:
    db, env = cli_db
    data = tmp_path / "udi.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in RECORDS))
    result = run("import", str(data), "--db", db, "--format", "json", env=env)
    assert result.exit_code == 0, result.stderr
    return db, env


def test_cli_search_finds_a_raw_scan_with_gs_separators(
    cli_loaded: tuple[str, dict[str, str]],
) -> None:
    db, env = cli_loaded
    scan = f"]d201{PRO}10LOT-B{GS}21SN3"
    result = run("search", scan, "--db", db, "--format", "json", env=env)
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["query"] == scan
    assert answer["total"] == 1
    assert [(m["key"], m["type"], m["id"]) for m in answer["matches"]] == [
        ("Device:D-3", "Device", "D-3")
    ]


def test_cli_search_says_n_of_m_when_the_list_is_cut(
    cli_loaded: tuple[str, dict[str, str]],
) -> None:
    db, env = cli_loaded
    result = run("search", "D-", "--limit", "2", "--db", db, "--format", "table", env=env)
    assert result.exit_code == 0, result.stderr
    assert f"2 of {len(UDIS)} matches" in result.stdout
    csv = run("search", "D-", "--type", "Device", "--db", db, "--format", "csv", env=env)
    lines = csv.stdout.splitlines()
    assert lines[0] == "key,type,id,match,why,label"
    assert [line.split(",")[0] for line in lines[1:]] == [f"Device:{d}" for d in UDIS]


def test_cli_search_bad_input_exits_2(cli_loaded: tuple[str, dict[str, str]]) -> None:
    db, env = cli_loaded
    result = run("search", "x", "--type", "Gadget", "--db", db, env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith("tracegraph: type 'Gadget'")
    assert len(result.stderr.strip().splitlines()) == 1
    empty = run("search", "", "--db", db, env=env)
    assert empty.exit_code == 2
    assert "q: empty" in empty.stderr


def test_cli_search_on_a_missing_store_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none.tgdb"
    result = run("search", "SN1", "--db", str(missing))
    assert result.exit_code == 2
    assert str(missing) in result.stderr
    assert not missing.exists()
