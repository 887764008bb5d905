"""The command line's JSON, written a piece at a time, is byte for byte what one `orjson.dumps`
of the whole answer gives."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.render import dumps, json_pieces

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)  # newlines, quotes and the like included
    | st.datetimes(timezones=st.just(dt.UTC))
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=7) | st.dictionaries(st.text(max_size=4), inner, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(value=values, piece=st.integers(min_value=1, max_value=4))
def test_pieces_join_to_the_whole_document(value: Any, piece: int) -> None:
    assert b"".join(json_pieces(value, piece)).decode() == dumps(value)


def test_a_long_list_is_written_in_pieces_that_parse_back() -> None:
    answer = {"devices": [{"key": f"Device:D-{i}", "path": ["a", "b"]} for i in range(10)]}
    pieces = list(json_pieces(answer, piece=3))
    assert len(pieces) > 10  # the ten rows went out in four pieces, not one
    assert max(len(p) for p in pieces) < len(dumps(answer)) / 2
    assert orjson.loads(b"".join(pieces)) == answer


def test_the_command_line_prints_the_same_json_and_a_newline(tmp_path: Any) -> None:
    code = (
        "from cli.render import echo_json\n"
        "echo_json({'a': [1, 2, 3], 'b': {'c': 'x\\ny'}})\n"
        "print('after')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    assert out.decode() == dumps({"a": [1, 2, 3], "b": {"c": "x\ny"}}) + "\nafter\n"
