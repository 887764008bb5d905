"""UDIs in every form they are printed or scanned in, read into the same parts; the problems of
a bad one named in a sentence."""

from __future__ import annotations

import datetime as dt

import biip
import pytest
from biip.gs1_messages import GS1Message

from tracegraph.errors import BadInput
from tracegraph.udi import Udi, UdiError, check_gtin, gtin_check_digit, parse_udi

GS = "\x1d"
GTIN = "09501101530003"  # GS1's own example GTIN: check digit 3
EXPECTED = Udi(
    "GS1", GTIN, lot="LOT1", serial="SN1", expires=dt.date(2026, 12, 31),
    manufactured=dt.date(2026, 1, 5),
)  # fmt: skip

#: One UDI, in every form a label or a scanner gives it.
SAME_UDI = {
    "hri": f"(01){GTIN}(11)260105(17)261231(10)LOT1(21)SN1",
    "hri, spaced, other order": f"(01) {GTIN} (21) SN1 (10) LOT1 (17) 261231 (11) 260105",
    "Data Matrix ]d2 with GS": f"]d201{GTIN}112601051726123110LOT1{GS}21SN1",
    "GS1-128 ]C1": f"]C101{GTIN}112601051726123110LOT1{GS}21SN1",
    "GS1 QR ]Q3": f"]Q301{GTIN}10LOT1{GS}112601051726123121SN1",
    "DataBar ]e0": f"]e001{GTIN}112601051726123121SN1{GS}10LOT1",
    "raw, no symbology": f"01{GTIN}112601051726123110LOT1{GS}21SN1",
    "raw, leading FNC1": f"{GS}01{GTIN}112601051726123110LOT1{GS}21SN1",
    "raw, GS as pasted (U+241D)": f"01{GTIN}112601051726123110LOT1\u241d21SN1",
    "raw, GS as <GS>": f"01{GTIN}112601051726123110LOT1<GS>21SN1",
    "Digital Link": f"https://id.gs1.org/01/{GTIN}/10/LOT1/21/SN1?17=261231&11=260105",
    "Digital Link, other host, path prefix, GTIN-13, extra query": (
        "https://labels.example.com/udi/01/9501101530003/10/LOT1/21/SN1"
        "?11=260105&17=261231&linkType=gs1:pip"
    ),
}


@pytest.mark.parametrize("form", SAME_UDI)
def test_every_form_reads_into_the_same_parts(form: str) -> None:
    assert parse_udi(SAME_UDI[form]) == EXPECTED


@pytest.mark.parametrize("form", SAME_UDI)
def test_every_form_reads_as_biips_own_parsers_read_it(form: str) -> None:
    text = SAME_UDI[form]
    for stand_in in ("\u241d", "<GS>"):
        text = text.replace(stand_in, GS)
    if text.startswith("("):
        elements = GS1Message.parse_hri(text).element_strings
    else:
        found = biip.parse(text.lstrip(GS))
        message = found.gs1_message or found.gs1_digital_link_uri
        assert message is not None, found
        elements = message.element_strings
    by_ai = {e.ai.ai: e for e in elements}
    udi = parse_udi(SAME_UDI[form])
    assert udi.di == by_ai["01"].value
    assert (udi.lot, udi.serial) == (by_ai["10"].value, by_ai["21"].value)
    assert (udi.expires, udi.manufactured) == (by_ai["17"].date, by_ai["11"].date)


def test_derived_fields_are_iso_dates_and_only_the_present_ones() -> None:
    assert EXPECTED.derived() == {
        "udi_di": GTIN,
        "udi_lot": "LOT1",
        "udi_serial": "SN1",
        "udi_expires": "2026-12-31",
        "udi_manufactured": "2026-01-05",
    }
    assert parse_udi(f"(01){GTIN}(21)X").derived() == {"udi_di": GTIN, "udi_serial": "X"}


def test_a_di_alone_is_a_udi_with_no_production_identifiers() -> None:
    for text in (f"(01){GTIN}", f"]d201{GTIN}", f"https://id.gs1.org/01/{GTIN}"):
        assert parse_udi(text) == Udi("GS1", GTIN)


def test_digital_link_values_are_percent_decoded() -> None:
    udi = parse_udi(f"https://id.gs1.org/01/{GTIN}/10/A%2FB/21/S%2BN%25")
    assert (udi.lot, udi.serial) == ("A/B", "S+N%")


def _check_digit(payload: str) -> int:
    # GS1 General Specifications 7.9.1, written out: weights 3, 1, 3, … from the right.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(payload)))
    return (10 - total % 10) % 10


@pytest.mark.parametrize("gtin", ["09501101530003", "4006381333931", "96385074", "036000291452"])
def test_gtin_check_digits(gtin: str) -> None:
    assert gtin_check_digit(gtin[:-1]) == _check_digit(gtin[:-1]) == int(gtin[-1])
    assert check_gtin(gtin) == gtin.zfill(14)
    wrong = gtin[:-1] + str((int(gtin[-1]) + 1) % 10)
    with pytest.raises(UdiError, match=rf"check digit is {wrong[-1]}, expected {gtin[-1]}"):
        check_gtin(wrong)


def test_check_gtin_wants_8_12_13_or_14_digits() -> None:
    for bad in ("123", "0950110153000X", "095011015300031"):
        with pytest.raises(UdiError, match="8, 12, 13 or 14 digits"):
            check_gtin(bad)


@pytest.mark.parametrize(
    "text",
    [
        "(01)09501101530004(21)SN1",
        f"]d20109501101530004{GS}21SN1".replace(GS, ""),
        "https://id.gs1.org/01/09501101530004/21/SN1",
    ],
)
def test_a_wrong_gtin_check_digit_is_named_in_every_form(text: str) -> None:
    with pytest.raises(UdiError) as caught:
        parse_udi(text)
    assert caught.value.message == f"UDI {text!r}: GTIN check digit is 4, expected 3"
    assert isinstance(caught.value, BadInput)  # exit 2, HTTP 422
    # Read leniently, the DI is kept as written (the label carries it; a check flags it).
    assert parse_udi(text, strict=False) == Udi("GS1", "09501101530004", serial="SN1")


@pytest.mark.parametrize(
    ("date", "problem"),
    [
        ("261331", "there is no month 13"),
        ("260031", "there is no month 00"),
        ("260230", "February 2026 has 28 days, not 30"),
        ("2612", "six digits are needed"),
    ],
)
def test_dates_that_do_not_exist_are_refused(date: str, problem: str) -> None:
    for text in (f"(01){GTIN}(17){date}(21)SN1", f"https://id.gs1.org/01/{GTIN}/21/SN1?17={date}"):
        with pytest.raises(UdiError, match=f"\\(17\\) '{date}' is not a date YYMMDD: {problem}"):
            parse_udi(text)
        # Leniently: the date is left out, the rest kept.
        assert parse_udi(text, strict=False) == Udi("GS1", GTIN, serial="SN1")


def test_the_date_in_a_raw_string_is_named_before_what_follows_it() -> None:
    with pytest.raises(UdiError, match="there is no month 13"):
        parse_udi(f"01{GTIN}17261331junk")


def test_day_00_is_the_last_day_of_the_month() -> None:
    assert parse_udi(f"(01){GTIN}(17)260200").expires == dt.date(2026, 2, 28)
    assert parse_udi(f"(01){GTIN}(17)280200").expires == dt.date(2028, 2, 29)
    assert parse_udi(f"]d201{GTIN}11261100").manufactured == dt.date(2026, 11, 30)


def test_the_century_follows_the_gs1_sliding_window() -> None:
    # Up to 49 years back and 50 ahead of the current year (GS1 General Specifications 7.12).
    this_year = dt.datetime.now(dt.UTC).year
    back = (this_year - 49) % 100
    ahead = (this_year + 50) % 100
    assert parse_udi(f"(01){GTIN}(11){back:02d}0101").manufactured == dt.date(this_year - 49, 1, 1)
    assert parse_udi(f"(01){GTIN}(17){ahead:02d}0101").expires == dt.date(this_year + 50, 1, 1)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"(01){GTIN}(10){'L' * 21}", r"\(10\) 'L{21}' does not fit BATCH/LOT, format N2\+X..20"),
        (f"(01){GTIN}(10)LOT1(21)", r"\(21\) '' does not fit SERIAL"),
        (f"(01){GTIN[:-1]}", r"\(01\) '0950110153000': a GTIN in a UDI is 14 digits"),
        (f"(01){GTIN}(23)X", r"\(23\) is not a GS1 application identifier"),
        (f"(01){GTIN}(10)A(10)B", r"\(10\) is given twice, as 'A' and 'B'"),
        (f"(01){GTIN}(", r"not in the form \(AI\)value"),
        (f"(01){GTIN}xyz", r"\(01\) '09501101530003xyz': a GTIN in a UDI is 14 digits"),
        (f"01{GTIN}10LOT1{GS}X", "no GS1 application identifier at 'X'"),
        (
            f"https://id.gs1.org/01/{GTIN}/21/SN1/10/LOT1",
            "takes /22/, /10/ and /21/ in that order",
        ),
        (f"https://id.gs1.org/01/{GTIN}/21", "not in /AI/value pairs"),
    ],
)
def test_malformed_gs1_is_named(text: str, problem: str) -> None:
    with pytest.raises(UdiError, match=problem):
        parse_udi(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "not a UDI"),
        ("   ", "not a UDI"),
        ("D-000117", "not a UDI"),
        ("SN000117", "not a UDI"),
        ("hello world", "not a UDI"),
        ("]!x01", "is not a symbology identifier"),
        ("(00)106141412345678908", r"an SSCC \(00\) names a logistic unit"),
        ("(10)LOT1(21)SN1", r"no \(01\) GTIN"),
        ("https://id.gs1.org/00/106141412345678908", "names a device by /01/"),
        ("https://example.com/", "names a device by /01/"),
    ],
)
def test_text_that_is_no_udi_is_refused_even_leniently(text: str, problem: str) -> None:
    for strict in (True, False):
        with pytest.raises(UdiError, match=problem) as caught:
            parse_udi(text, strict=strict)
        assert caught.value.message.startswith(f"UDI {text!r}: ")


def test_lenient_reading_keeps_what_it_can() -> None:
    text = f"(01){GTIN}(11)999999(99)X(10){'L' * 21}(21)SN000117"
    with pytest.raises(UdiError, match=r"\(11\) '999999' is not a date"):
        parse_udi(text)
    assert parse_udi(text, strict=False) == Udi("GS1", GTIN, serial="SN000117")


# --------------------------------------------------------------------------- HIBCC

HIBC_SET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"


def hibc(data: str) -> str:
    """HIBC data with its mod-43 check character (ANSI/HIBC 2.6, written out here)."""
    return data + HIBC_SET[sum(HIBC_SET.index(c) for c in data) % 43]


def test_the_hibc_check_character_of_the_standards_example() -> None:
    assert hibc("+A123BJC5D6E71") == "+A123BJC5D6E71G"
    assert parse_udi("+A123BJC5D6E71G") == Udi("HIBCC", "A123BJC5D6E71")


@pytest.mark.parametrize(
    ("secondary", "expected"),
    [
        ("$LOT9", {"lot": "LOT9"}),
        ("$$3261231LOT1/SSN1", {"lot": "LOT1", "serial": "SN1", "expires": dt.date(2026, 12, 31)}),
        ("$$0527LOT2", {"lot": "LOT2", "expires": dt.date(2027, 5, 31)}),
        ("$$1226LOT2", {"lot": "LOT2", "expires": dt.date(2026, 12, 31)}),
        ("$$2123126LOT3", {"lot": "LOT3", "expires": dt.date(2026, 12, 31)}),
        ("$$426123115LOT4", {"lot": "LOT4", "expires": dt.date(2026, 12, 31)}),
        ("$$526032LOT5", {"lot": "LOT5", "expires": dt.date(2026, 2, 1)}),
        ("$$62636514LOT6", {"lot": "LOT6", "expires": dt.date(2026, 12, 31)}),
        ("$$7LOT7", {"lot": "LOT7"}),
        ("$+SER8", {"serial": "SER8"}),
        ("$$+0527SER9", {"serial": "SER9", "expires": dt.date(2027, 5, 31)}),
        ("26032LOTX", {"lot": "LOTX", "expires": dt.date(2026, 2, 1)}),
        (
            "$+SER1/16D20251103/14D20301231",
            {
                "serial": "SER1",
                "manufactured": dt.date(2025, 11, 3),
                "expires": dt.date(2030, 12, 31),
            },
        ),
    ],
)
def test_hibcc_secondary_data(secondary: str, expected: dict[str, object]) -> None:
    want = Udi("HIBCC", "A123BJC5D6E71", **expected)  # type: ignore[arg-type]
    # One symbol, primary and secondary joined by '/' ...
    assert parse_udi(hibc(f"+A123BJC5D6E71/{secondary}")) == want
    # ... or two symbols, the secondary linked to the primary by its check character.
    primary = hibc("+A123BJC5D6E71")
    assert parse_udi(f"{primary} {hibc(f'+{secondary}{primary[-1]}')}") == want


def test_hibcc_problems_are_named() -> None:
    with pytest.raises(UdiError, match="HIBC check character is 'H', expected 'G'"):
        parse_udi("+A123BJC5D6E71H")
    assert parse_udi("+A123BJC5D6E71H", strict=False).di == "A123BJC5D6E71"
    other = hibc("+$LOT9Q")  # linked to a primary whose check character is Q
    with pytest.raises(UdiError, match="from different labels"):
        parse_udi(f"+A123BJC5D6E71G {other}")
    with pytest.raises(UdiError, match="without its primary"):
        parse_udi(hibc("+$$3261231LOT1"))
    with pytest.raises(UdiError, match="quantity fields"):
        parse_udi(hibc("+A123BJC5D6E71/$$8051227LOT"))
    with pytest.raises(UdiError, match="supplemental field /Q5 is not supported"):
        parse_udi(hibc("+A123BJC5D6E71/$LOT9/Q5"))
    with pytest.raises(UdiError, match="there is no month 13"):
        parse_udi(hibc("+A123BJC5D6E71/$$3261331LOT1"))
    with pytest.raises(UdiError, match="is not LIC"):
        parse_udi(hibc("+A12"))
    with pytest.raises(UdiError, match="'#' is not an HIBC character"):
        parse_udi("+A123#BC1X")


def test_hibcc_as_typed_in_lower_case_reads_the_same() -> None:
    assert parse_udi("+a123bjc5d6e71g") == parse_udi("+A123BJC5D6E71G")


def test_a_space_check_character_may_be_kept_or_trimmed_away() -> None:
    primary = hibc("+H123PUMP1")
    assert primary.endswith(" ")  # the check character of this primary is a space
    want = Udi("HIBCC", "H123PUMP1", lot="LOT5")
    secondary = hibc(f"+$LOT5{primary[-1]}")
    for scan in (f"{primary} {secondary}", f"{primary.rstrip()} {secondary}"):
        assert parse_udi(scan) == want
    assert parse_udi(primary.rstrip()) == Udi("HIBCC", "H123PUMP1")
    # Another symbol with its last character lost is still refused.
    with pytest.raises(UdiError, match="HIBC check character"):
        parse_udi("+A123BJC5D6E71")
