"""The fast path of record validation answers exactly as the pydantic models do.

`parse_record` first tries a path built from the models' fields that only ever accepts; any
record it cannot vouch for goes to pydantic. These tests hold the two to the same result
(same values, same types, same field order) and the same messages, on awkward values. The
fast path from JSON text (msgspec, `_fast_json_lines`) is held to what orjson and then
`parse_record` make of the same line, on awkward JSON too, and an import that reads its lines
in chunks to one that reads them record by record.
"""

from __future__ import annotations

import datetime as dt
import itertools
from enum import Enum
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracegraph import importer, model
from tracegraph.generate import generate
from tracegraph.model import (
    EDGE_MODELS,
    ENDPOINTS,
    NODE_MODELS,
    EntityType,
    RecordError,
    RelType,
    SupplierStatus,
    parse_record,
)

KEYS = [
    "MaterialLot:L-1",
    "Batch:B 1",
    " Batch:B-2 ",
    "Batch:",
    "Batch: ",
    "Device:D:1",
    "Nope:X",
    "Batch",
    "Supplier:S-1",
    "Material:M-1",
    "Product:P-1",
    "Device:D-1",
    "ChangeOrder:C-1",
    "Inspection:I-1",
]
VALUES: list[Any] = [
    None,
    "",
    "   ",
    "x",
    "  padded  ",
    "\u00a0padded\u3000",
    "\x1c",
    "\x85x",
    0,
    7,
    -3,
    2.5,
    float("inf"),
    10**400,
    True,
    False,
    "1_000",
    " 12.5 ",
    "nan",
    "approved",
    " approved",
    "APPROVED",
    "pass",
    "released",
    "finished",
    "calibration",
    "incoming",
    "design",
    "implemented",
    "death",
    SupplierStatus.approved,
    "2026-01-05",
    " 2026-01-05 ",
    "2026-01-05T10:00:00Z",
    "2026-01-05T10:00:00+02:00",
    "2026-01-05T10:00:00",
    "2026-01-05 10:00",
    "2026-13-01",
    "20260105",
    "2026-01-05T25:00:00Z",
    dt.date(2026, 1, 5),
    dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC),
    {},
    {"a": None, "b": [1, {"c": None}]},
    {1: "x"},
    [1, 2],
    *KEYS,
]
TYPES = [t.value for t in EntityType] + [r.value for r in RelType] + ["Nope", "", None, 3]


GOOD: dict[Any, list[Any]] = {
    str: ["x", "  padded  ", 7, 2.5, "Device:D-1", "Batch:B 1"],
    dt.datetime: [
        "2026-01-05",
        "2026-01-05T10:00:00Z",
        "2026-01-05T10:00:00+02:00",
        "2026-01-05T10:00",
    ],
    dt.date: ["2026-01-05", " 2026-01-05 ", dt.date(2026, 1, 5)],
    float: [0, 7, -3, 2.5, " 12.5 ", "1_000", float("inf")],
    dict[str, Any]: [{}, {"a": None, "b": [1, {"c": None}]}],
}


def fields_of(kind: Any) -> list[tuple[str, bool, list[Any]]]:
    """(input name, required, values that fit it) of each field of the type."""
    if kind in EntityType.__members__:
        found = NODE_MODELS[EntityType(kind)].model_fields
    elif kind in RelType.__members__:
        found = EDGE_MODELS[RelType(kind)].model_fields
    else:
        return [("id", True, ["x"])]
    out = []
    for name, info in found.items():
        base = model._base(info.annotation)
        fit = [m.value for m in base] if isinstance(base, type) and issubclass(base, Enum) else []
        out.append((info.alias or name, info.is_required(), fit or GOOD.get(base, ["x"])))
    return out


@st.composite
def records(draw: st.DrawFn, tidy: bool = False) -> dict[str, Any]:
    """A record, often a bad one; a ``tidy`` one has a type, its required fields, endpoints of
    allowed types and values that fit (which are not all valid)."""
    kind = draw(st.sampled_from(TYPES[:-4] if tidy else TYPES))
    names = fields_of(kind)
    untyped = not tidy and draw(st.integers(0, 20)) == 0
    record: dict[str, Any] = {} if untyped else {"type": kind}
    ends = sorted(ENDPOINTS[RelType(str(kind))]) if kind in RelType.__members__ else []
    pair: tuple[EntityType, EntityType] | None = None
    roll = draw(st.integers(0, 3))
    if ends and (roll or tidy):
        pair = draw(st.sampled_from(ends))
    for name, required, fit in draw(st.permutations(names)):
        if draw(st.integers(0, 30 if required else 2)) == 0 and not (tidy and required):
            continue  # left out
        if name in ("from", "to") and pair is not None:
            record[name] = f"{pair[name == 'to']}:{draw(st.sampled_from(['X', 'Y-1', ' z ']))}"
        elif name in ("from", "to"):
            record[name] = draw(st.sampled_from(KEYS))
        elif draw(st.integers(0, 12)) == 0 and not tidy:
            record[name] = draw(st.sampled_from(VALUES))
        else:
            record[name] = draw(st.sampled_from(fit))
    if draw(st.integers(0, 15)) == 0 and not tidy:
        record[draw(st.sampled_from(["colour", "from_", "Type"]))] = draw(st.sampled_from(VALUES))
    return record


def outcome(parse: Any, raw: dict[str, Any]) -> Any:
    """What a parse gives, down to each value's type and the fields' order."""
    try:
        item = parse(raw)
    except RecordError as exc:
        return ("error", str(exc))
    props = [(k, type(v), repr(v)) for k, v in item.props.items()]
    if isinstance(item, model.Node):
        return ("node", item.type, item.id, item.key, props)
    return ("edge", item.type, item.src, item.dst, item.ident, props)


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(raw=records())
def test_fast_path_answers_as_pydantic_does(raw: dict[str, Any]) -> None:
    expected = outcome(model._validate_record, raw)
    assert outcome(parse_record, raw) == expected
    fast = model._fast_record(raw)
    if fast is not None:
        assert expected[0] != "error"
        assert outcome(lambda _: fast, raw) == expected


def test_every_type_has_a_fast_path() -> None:
    every = {t.value for t in EntityType} | {r.value for r in RelType}
    assert set(model._FAST_NODES) | set(model._FAST_EDGES) == every


def test_generated_data_takes_the_fast_path() -> None:
    for raw in generate(devices=30, seed=3):
        fast = model._fast_record(raw)
        assert fast is not None, raw
        assert outcome(lambda _, f=fast: f, raw) == outcome(model._validate_record, raw)


def test_generated_data_takes_the_fast_path_from_json() -> None:
    raws = list(generate(devices=30, seed=3))
    items, declined = model._fast_json_lines([orjson.dumps(raw) for raw in raws])
    assert declined == []
    for raw, item in zip(raws, items, strict=True):
        assert outcome(lambda _, i=item: i, raw) == outcome(model._validate_record, raw)


# --------------------------------------------------------------------------- from JSON text

#: JSON texts that the two readers, or the two paths, might take differently: numbers past what
#: a double or an int64 holds, escapes, lone surrogates, raw bytes that are not UTF-8 or not
#: allowed in a string, Unicode spaces, nesting near orjson's limit, keys near the edge.
ODD_JSON: list[bytes] = [
    b"1e400",
    b"-1e400",
    b"1.5e-400",
    b"-0",
    b"-0.0",
    b"100000000000000000000000000000000",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"9007199254740993",
    b"0.1000000000000000055511151231257827",
    b"1E2",
    b"01",
    b"NaN",
    b"Infinity",
    b"true",
    b"null",
    b"[]",
    b"{}",
    b'"\\ud800"',
    b'"\\ud83d\\ude00"',
    b'"\\u0065"',
    b'"\\u00a0x"',
    b'"x\\u2003"',
    b'"\\u001cx"',
    b'"\\n"',
    b'"\xc2\xa0x"',
    b'"\x1c"',
    b'"\xff"',
    b'"\xed\xa0\x80"',
    b'"2026-01-05T10:00:00.1234567Z"',
    b'"2026-01-05t10:00:00z"',
    b'"2026-01-05 10:00"',
    b'"0001-01-01T00:00:00+01:00"',
    b'"9999-12-31T23:59:59-01:00"',
    b'{"a": 1e400}',
    b'{"a": 100000000000000000000000000000000, "a": [1, {"b": null}], "\\u0062": "\\ud83d\\ude00"}',
    b'{"a":' + b"[" * 1010 + b"]" * 1010 + b"}",
    b'{"a":' + b"[" * 1030 + b"]" * 1030 + b"}",
    b'"Batch:B-1"',
    b'"Batch: "',
    b'" Batch:B-1"',
    b'"Batch:B-1\\t"',
    b'"Batch::"',
    b'"Batch:\\u3000"',
    b'"MaterialLot:L-1"',
    b'"Process:P-1"',
    b'"Product:P-1"',
    b'"Document:DOC-1"',
]


def json_text(value: Any) -> bytes | None:
    try:
        return orjson.dumps(value)
    except TypeError:
        return None  # not JSON (an int past 64 bits, a key that is no str)


def rarely(draw: st.DrawFn, odd: list[bytes], usual: list[bytes]) -> bytes:
    return draw(st.sampled_from(odd if draw(st.integers(0, 9)) == 0 else usual))


@st.composite
def json_lines(draw: st.DrawFn) -> bytes:
    """A line of JSON Lines: a record (as `records` draws them), written out with awkward
    values, keys written as escapes or given twice, odd spacing, odd starts and ends."""
    fields: list[tuple[bytes, bytes]] = []
    for key, value in draw(records(tidy=draw(st.booleans()))).items():
        text = json_text(value)
        if text is None or draw(st.integers(0, 8)) == 0:
            text = draw(st.sampled_from(ODD_JSON))
        fields.append((orjson.dumps(key), text))
    if fields and draw(st.integers(0, 6)) == 0:
        twice, _ = draw(st.sampled_from(fields))
        fields.insert(draw(st.integers(0, len(fields))), (twice, draw(st.sampled_from(ODD_JSON))))
    if draw(st.integers(0, 10)) == 0:
        fields = [(b'"typ\\u0065"' if k == b'"type"' else k, v) for k, v in fields]
    space = draw(st.sampled_from([b"", b"", b" ", b"\t", b"\r"]))
    body = (b"," + space).join(k + b":" + space + v for k, v in fields)
    start = rarely(draw, [b" ", b"\xef\xbb\xbf", b"\x0c"], [b""])
    end = rarely(draw, [b" x", b",", b"}"], [b"", b"\n", b"\r\n", b" \n"])
    return start + b"{" + body + b"}" + end


def as_before(line: bytes) -> Any:
    """What the import made of a line before the fast path from JSON: orjson, then a record."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ("not JSON",)
    if not isinstance(raw, dict):
        return ("not an object",)
    return outcome(parse_record, raw)


@settings(max_examples=4000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(line=json_lines())
def test_fast_path_from_json_answers_as_orjson_and_pydantic_do(line: bytes) -> None:
    (item,), declined = model._fast_json_lines([line])
    assert declined == ([] if item is not None else [0])
    if item is not None:
        assert outcome(lambda _: item, {}) == as_before(line)
    # the text as str, as read_jsonl may be given it, is read the same way
    try:
        text = line.decode()
    except UnicodeDecodeError:
        return
    (again,), _ = model._fast_json_lines([text])
    assert (again is None) == (item is None)
    if again is not None:
        assert outcome(lambda _: again, {}) == outcome(lambda _: item, {})


#: Valid records, and fields of them to give the odd JSON texts to (one kind of value each).
ODD_PLACES: list[tuple[dict[str, Any], list[str]]] = [
    (
        {"type": "CONSUMED_IN", "from": "Batch:B-1", "to": "Batch:B-2", "quantity": 1},
        ["quantity", "from", "to", "type"],
    ),
    ({"type": "GOVERNS", "from": "Document:DOC-1", "to": "Process:P-1"}, ["from", "to"]),
    (
        {"type": "Device", "id": "D-1", "manufactured_at": "2026-01-05", "attributes": {}},
        ["id", "manufactured_at", "attributes", "udi", "status"],
    ),
    (
        {
            "type": "Certificate",
            "id": "C-1",
            "kind": "ISO 13485",
            "valid_from": "2025-01-01",
            "valid_to": "2026-12-31",
        },
        ["valid_to", "kind"],
    ),
    ({"type": "Supplier", "id": "S-1", "name": "Acme"}, ["status", "name", "source"]),
]


def test_odd_json_in_any_kind_of_field_is_read_as_orjson_reads_it() -> None:
    accepted = 0
    for record, fields in ODD_PLACES:
        for field, odd in itertools.product(fields, ODD_JSON):
            parts = [
                orjson.dumps(k) + b":" + orjson.dumps(v) for k, v in record.items() if k != field
            ]
            line = b"{" + b",".join([*parts, orjson.dumps(field) + b":" + odd]) + b"}"
            (item,), _ = model._fast_json_lines([line])
            if item is not None:
                accepted += 1
                assert outcome(lambda _, i=item: i, {}) == as_before(line), line
    assert accepted > 50


def test_fast_path_from_json_reads_most_records() -> None:
    # (else the test above would hold nothing)
    lines = [orjson.dumps(r) for r in generate(devices=5, seed=1)]
    lines += [b'{"type":"Supplier","id":"S-1","name":"Acme","source":""}', b"{}"]
    items, declined = model._fast_json_lines(lines)
    assert declined == [len(lines) - 1]
    assert items[-2] == model.Node(EntityType.Supplier, "S-1", {"name": "Acme"})


def summary(parsed: importer.Parsed) -> Any:
    """All that an import makes of its records, down to each value's type and the order."""

    def props(item: Any) -> Any:
        return [(k, type(v), repr(v)) for k, v in item.props.items()]

    return (
        parsed.records,
        sorted(parsed.errors),
        [(k, n.type, n.id, n.key, props(n)) for k, n in parsed.nodes.items()],
        [(i, e.type, e.src, e.dst, e.ident, props(e)) for i, e in parsed.edges.items()],
        [(n, where or f"{name}:{line}") for n, where, name, line in parsed.edge_origin],
    )


FILLERS: list[bytes] = [b"", b"  ", b"\t\r", b"[1]", b"{", b"42", b'{"type": "Batch"}']


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    lines=st.lists(st.one_of(json_lines(), st.sampled_from(FILLERS)), max_size=30),
    again=st.lists(st.integers(0, 29), max_size=6),
    chunk=st.sampled_from([1, 2, 7, 1024]),
)
def test_reading_in_chunks_gives_what_reading_record_by_record_does(
    lines: list[bytes], again: list[int], chunk: int
) -> None:
    lines = [line.replace(b"\n", b"") for line in lines]  # one line each
    lines += [lines[i] for i in again if i < len(lines)]  # records given twice are merged
    by_record = importer.parse(list(importer.read_jsonl("data.jsonl", lines)))
    saved, importer._CHUNK_LINES = importer._CHUNK_LINES, chunk
    try:
        in_chunks = importer.parse(importer.read_jsonl("data.jsonl", lines))
    finally:
        importer._CHUNK_LINES = saved
    assert summary(in_chunks) == summary(by_record)


def test_records_already_being_read_one_by_one_are_read_so_to_the_end() -> None:
    lines = [*(orjson.dumps(r) for r in generate(devices=2, seed=1))][:5]
    lines.append(b"{")
    records = importer.read_jsonl("data.jsonl", lines)
    next(records)
    parsed = importer.parse(records)
    assert parsed.records == 5
    assert parsed.errors == [(5, "data.jsonl:6: not valid JSON (unexpected end of data, column 2)")]


@pytest.mark.parametrize("value", [float("inf"), "inf", float("nan"), "-inf", 1e300, 36_501, 0])
def test_a_count_of_days_out_of_range_is_refused_not_a_crash(value: object) -> None:
    # Found by the agreement test above: infinity crashed validation, and 1e300 days passed
    # it to fail at write time (a JSON integer beyond 64 bits).
    record = {"type": "Equipment", "id": "E", "name": "Oven", "calibration_interval_days": value}
    with pytest.raises(model.RecordError, match="calibration_interval_days': not a whole number"):
        model.parse_record(record)
