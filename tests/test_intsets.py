"""Integer id sets made by sorting give numpy's own set answers (without its hashing)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tracegraph.intsets import distinct, minus, union

ids = st.lists(st.integers(min_value=-(2**62), max_value=2**62), max_size=60)
small = st.lists(st.integers(min_value=0, max_value=12), max_size=30)  # many repeats


@given(values=ids | small)
def test_distinct_is_the_sorted_set(values: list[int]) -> None:
    got = distinct(values)
    assert got.dtype == np.int64
    assert got.tolist() == sorted(set(values))


@given(a=ids | small, b=ids | small)
def test_minus_and_union_are_set_difference_and_union(a: list[int], b: list[int]) -> None:
    left, right = distinct(a), distinct(b)
    assert minus(left, right).tolist() == sorted(set(a) - set(b))
    assert union(left, right).tolist() == sorted(set(a) | set(b))
