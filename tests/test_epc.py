"""EPC identity (tracegraph/epc.py): URNs and GS1 Digital Links name one canonical id.

The pairs are the worked examples of GS1's Tag Data Standard and of the EPCIS 2.0 examples,
so a wrong indicator-digit move or check digit shows as a mismatch with the standard, not
with this module's own idea of it.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracegraph import epc
from tracegraph.epc import EpcError

#: (URN, company prefix length, canonical id, element string): one per scheme.
STANDARD = [
    # TDS: urn:epc:id:sgtin:0614141.812345.6789 is (01) 80614141123458 (21) 6789
    ("urn:epc:id:sgtin:0614141.812345.6789", 7, "01/80614141123458/21/6789",
     "(01)80614141123458(21)6789"),
    # EPCIS 2.0 examples pair this LGTIN with https://id.gs1.org/01/04012345123456/10/998877
    ("urn:epc:class:lgtin:4012345.012345.998877", 7, "01/04012345123456/10/998877",
     "(01)04012345123456(10)998877"),
    ("urn:epc:idpat:sgtin:4012345.012345.*", 7, "01/04012345123456", "(01)04012345123456"),
    # TDS: urn:epc:id:sscc:0614141.1234567890 is (00) 106141412345678908
    ("urn:epc:id:sscc:0614141.1234567890", 7, "00/106141412345678908",
     "(00)106141412345678908"),
    # TDS: urn:epc:id:grai:0614141.12345.400 is (8003) 00614141123452400
    ("urn:epc:id:grai:0614141.12345.400", 7, "8003/00614141123452400",
     "(8003)00614141123452400"),
    # TDS: urn:epc:id:giai:0614141.12345400 is (8004) 061414112345400
    ("urn:epc:id:giai:0614141.12345400", 7, "8004/061414112345400", "(8004)061414112345400"),
    # TDS: urn:epc:id:sgln:0614141.12345.400 is (414) 0614141123452 (254) 400
    ("urn:epc:id:sgln:0614141.12345.400", 7, "414/0614141123452/254/400",
     "(414)0614141123452(254)400"),
    ("urn:epc:id:sgln:0614141.12345.0", 7, "414/0614141123452", "(414)0614141123452"),
    ("urn:epc:id:pgln:0614141.12345", 7, "417/0614141123452", "(417)0614141123452"),
    # a 9-digit company prefix moves the indicator digit just the same
    ("urn:epc:id:sgtin:950110153.0000.SN-1", 9, "01/09501101530003/21/SN-1",
     "(01)09501101530003(21)SN-1"),
]  # fmt: skip


@pytest.mark.parametrize(("urn", "length", "canonical", "hri"), STANDARD)
def test_urn_and_digital_link_are_one_identity(
    urn: str, length: int, canonical: str, hri: str
) -> None:
    from_urn = epc.parse(urn)
    assert from_urn.canonical == canonical
    assert from_urn.element_string == hri
    link = from_urn.digital_link
    assert link == f"https://id.gs1.org/{canonical}"
    from_link = epc.parse(link)
    assert from_link == from_urn
    # the other way needs the company prefix length, which only the URN carried
    assert from_link.urn(length) == urn
    assert epc.from_canonical(canonical) == from_urn


def test_any_host_short_names_and_shorter_gtins_name_the_same_item() -> None:
    expected = "01/09501101530003/21/SN1"
    for link in (
        "https://id.gs1.org/01/09501101530003/21/SN1",
        "https://example.com/01/09501101530003/21/SN1",
        "http://example.com/shop/items/01/9501101530003/21/SN1/",  # path prefix, GTIN-13
        "https://example.com/gtin/09501101530003/ser/SN1",  # Digital Link 1.0 short names
        "https://example.com/01/09501101530003/10/LOT-9/21/SN1?17=270131",  # lot: an attribute
    ):
        assert epc.canonical(link) == expected, link
    assert epc.canonical("https://id.gs1.org/01/12345670") == "01/00000012345670"  # GTIN-8


def test_check_digits() -> None:
    assert epc.check_digit("950110153000") == "3"  # GTIN-13 9501101530003
    assert epc.check_digit("0950110153000") == "3"  # the same as GTIN-14
    assert epc.check_digit("10614141234567890") == "8"  # SSCC of the TDS example
    # a URN has no check digit: it is computed; a Digital Link's is checked
    with pytest.raises(EpcError, match=r"wrong check digit \(expected 3\)"):
        epc.parse("https://id.gs1.org/01/09501101530004/21/SN1")
    with pytest.raises(EpcError, match=r"SSCC 106141412345678907 has a wrong check digit"):
        epc.parse("https://id.gs1.org/00/106141412345678907")
    with pytest.raises(EpcError, match=r"GLN 0614141123453 has a wrong check digit"):
        epc.parse("https://id.gs1.org/414/0614141123453")


def test_percent_encoding_round_trips() -> None:
    # '/', '%', '&' and '?' are escaped in a URN and in a Digital Link path; '.' and ':' are not
    urn = "urn:epc:id:sgtin:9501101.053000.A%2FB%25C%26D%3FE.F:G"
    item = epc.parse(urn)
    assert item.value("21") == "A/B%C&D?E.F:G"
    assert item.canonical == "01/09501101530003/21/A%2FB%25C%26D%3FE.F%3AG"
    assert epc.parse(item.digital_link) == item
    assert item.urn(7) == urn
    lot = epc.parse("https://id.gs1.org/01/04012345123456/10/L%2F7%2A")
    assert lot.value("10") == "L/7*"
    assert lot.urn(7) == "urn:epc:class:lgtin:4012345.012345.L%2F7*"
    assert epc.parse(lot.urn(7)) == lot


@given(st.text(alphabet="!\"%&'()*+,-./0123456789:;<=>?ABCXYZ_abcxyz", min_size=1, max_size=20))
def test_every_serial_of_the_gs1_character_set_round_trips(serial: str) -> None:
    item = epc.Epc("sgtin", (("01", "09501101530003"), ("21", serial)))
    assert epc.parse(item.digital_link) == item
    assert epc.parse(item.urn(7)) == item
    assert epc.from_canonical(item.canonical) == item


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("urn:epc:id:sgtin:0614141.71234.5", "must have 13 digits together (they have 12)"),
        ("urn:epc:id:sgtin:0614141.812345", "expected 3 parts"),
        ("urn:epc:id:sgtin:06141.8123456.1", "company prefix '06141' must have 6 to 12 digits"),
        ("urn:epc:id:sgtin:0614141.812345.A/B", "holds '/', which a URN writes as %2F"),
        ("urn:epc:id:sgtin:0614141.812345.A%20B", "holds ' ', not a GS1 character"),
        ("urn:epc:id:sgtin:0614141.812345.%G1", "a % not followed by two hex digits"),
        ("urn:epc:id:sgtin:0614141.812345.123456789012345678901", "longer than 20"),
        ("urn:epc:id:sscc:0614141.123456789", "must have 17 digits together"),
        ("urn:epc:id:gdti:0614141.00001.1618034", "EPC scheme 'gdti' is not one"),
        ("urn:epc:idpat:sgtin:0614141.*.*", "a class pattern names one GTIN"),
        ("https://id.gs1.org/01/09501101530003/21", "one value is missing"),
        ("https://id.gs1.org/01/09501101530003/99/X", "'99' is not an Application Identifier"),
        ("https://id.gs1.org/01/09501101530003/21/A/10/B", "after /01/ a Digital Link may have"),
        ("https://id.gs1.org/8003/10614141123452400", "a GRAI (8003) starts with 0"),
        ("https://example.com/catalogue/item", "not an EPC URN or a GS1 Digital Link URI"),
    ],
)
def test_bad_identities_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(EpcError) as caught:
        epc.parse(text)
    assert message in str(caught.value)
    assert repr(text) in str(caught.value)


def test_what_counts_as_a_gs1_identity() -> None:
    assert epc.looks_gs1("urn:epc:id:whatever")
    assert epc.looks_gs1("https://example.com/01/09501101530004")  # the shape, wrong digit
    assert not epc.looks_gs1("https://example.com/00/about")  # not 18 digits: another URI
    assert not epc.looks_gs1("urn:uuid:8e1f3c9e-0000-4000-8000-000000000001")
    assert epc.from_canonical("01/09501101530003/21/A/B") is None  # not its canonical form
    assert epc.from_canonical("Device-7") is None
