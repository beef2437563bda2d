"""Exact column sums: any split of the rows adds back to the correctly rounded total."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import InternalError
from pipeline.margin.exactsum import add_partials, partial_sums, totals


def _fsum_columns(values: np.ndarray) -> list[float]:
    return [math.fsum(values[:, j].tolist()) for j in range(values.shape[1])]


def test_cancellation_that_float_addition_loses_is_kept() -> None:
    values = np.array([[1e16, 3.0], [1.0, -0.5], [-1e16, 2.0**-1074], [1.0, 1e308]])
    # Left to right in float64: (1e16 + 1) - 1e16 + 1 = 1.0, but the exact sum is 2.
    assert float(np.sum(values[:, 0])) != 2.0
    got = totals(partial_sums(values), 2)
    assert got.tolist() == [2.0, math.fsum([3.0, -0.5, 2.0**-1074, 1e308])]


def test_an_all_zero_column_sums_to_positive_zero() -> None:
    got = totals(partial_sums(np.array([[0.0, -0.0], [-0.0, 0.0]])), 2)
    assert got.tolist() == [0.0, 0.0]
    assert not math.copysign(1.0, got[1]) < 0


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(InternalError, match="non-finite"):
        partial_sums(np.array([[1.0], [math.nan]]))


finite = st.floats(
    allow_nan=False, allow_infinity=False, width=64, min_value=-1e300, max_value=1e300
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=40),
    st.lists(st.integers(0, 4), min_size=40, max_size=40),
)
def test_any_partition_of_the_rows_gives_the_fsum_of_each_column(
    rows: list[list[float]], groups: list[int]
) -> None:
    values = np.array(rows, dtype=np.float64)
    whole = totals(partial_sums(values), 3)
    assert whole.tolist() == _fsum_columns(values)
    labels = np.array(groups[: len(rows)])
    parts = [partial_sums(values[labels == g]) for g in np.unique(labels)]
    # Shards come back in any order; each adds its exact part.
    assert totals(add_partials(parts[::-1]), 3).tolist() == whole.tolist()
