"""The fast path of record validation answers exactly as the pydantic models do.

`parse_record` first tries a path built from the models' fields that only ever accepts; any
record it cannot vouch for goes to pydantic. These tests hold the two to the same result
(same values, same types, same field order) and the same messages, on awkward values.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracegraph import model
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
def records(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(TYPES))
    names = fields_of(kind)
    record: dict[str, Any] = {} if draw(st.integers(0, 20)) == 0 else {"type": kind}
    ends = sorted(ENDPOINTS[RelType(str(kind))]) if kind in RelType.__members__ else []
    pair: tuple[EntityType, EntityType] | None = None
    roll = draw(st.integers(0, 3))
    if ends and roll:
        pair = draw(st.sampled_from(ends))
    for name, required, fit in draw(st.permutations(names)):
        if draw(st.integers(0, 30 if required else 2)) == 0:
            continue  # left out
        if name in ("from", "to") and pair is not None:
            record[name] = f"{pair[name == 'to']}:{draw(st.sampled_from(['X', 'Y-1', ' z ']))}"
        elif name in ("from", "to"):
            record[name] = draw(st.sampled_from(KEYS))
        elif draw(st.integers(0, 12)) == 0:
            record[name] = draw(st.sampled_from(VALUES))
        else:
            record[name] = draw(st.sampled_from(fit))
    if draw(st.integers(0, 15)) == 0:
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
        return ("node", item.type, item.id, props)
    return ("edge", item.type, item.src, item.dst, props)


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
    assert set(model._FAST) == {t.value for t in EntityType} | {r.value for r in RelType}


def test_generated_data_takes_the_fast_path() -> None:
    for raw in generate(devices=30, seed=3):
        fast = model._fast_record(raw)
        assert fast is not None, raw
        assert outcome(lambda _, f=fast: f, raw) == outcome(model._validate_record, raw)
