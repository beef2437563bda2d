"""Money rounding (SPEC §7): half-even to the cent, each value from its own float64."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import InternalError
from pipeline.publish import cents_array, decimal_array, round_cents


def _reference(x: float) -> int:
    """Cents by the book: the float's shortest decimal form, quantized half-even."""
    return int(Decimal(repr(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN).scaleb(2))


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        (76570.17543859649, 7657018),  # golden 01: HX1 maintenance requirement
        (0.125, 12),  # tie: to even
        (0.135, 14),
        (-0.125, -12),
        (0.005, 0),
        (0.015, 2),
        (2.675, 268),  # binary value is below the tie, but the amount is 2.675
        (1.005, 100),
        (0.285, 28),
        (-0.0, 0),
        (1e-9, 0),
        (-0.004999, 0),
        (-0.005001, -1),
        (123456789012.345, 12345678901234),
        (999_999_999_999.995, 100_000_000_000_000),  # tie, 9 is odd: up
    ],
)
def test_known_values(value: float, cents: int) -> None:
    assert _reference(value) == cents
    assert int(cents_array(np.array([value]))[0]) == cents
    assert round_cents(value) == Decimal(cents).scaleb(-2)


def test_many_random_amounts_agree_with_decimal() -> None:
    rng = np.random.default_rng(20261120)
    n = 40_000
    magnitude = 10.0 ** rng.integers(-3, 13, n)
    plain = rng.uniform(-1, 1, n) * magnitude
    # Amounts that sit on a half cent in decimal (x.xx5), the hard case for float arithmetic.
    ties = (rng.integers(-(10**9), 10**9, n) * 10 + 5) / 1000.0
    # Results of money arithmetic, as the pipeline produces them.
    products = rng.uniform(0, 1e6, n) * (1 - rng.uniform(0, 0.8, n)) * 1.1
    values = np.concatenate([plain, ties, products])
    got = cents_array(values)
    want = np.array([_reference(float(v)) for v in values], dtype=np.int64)
    mismatches = np.flatnonzero(got != want)
    assert mismatches.size == 0, [(values[i], got[i], want[i]) for i in mismatches[:5]]


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1e13, max_value=1e13, allow_nan=False, allow_infinity=False))
def test_any_float_matches_decimal(value: float) -> None:
    assert int(cents_array(np.array([value]))[0]) == _reference(value)


def test_decimal_array_is_exact_decimal_20_2_with_nulls() -> None:
    arr = decimal_array(pa.array([76570.17543859649, None, -1234.565, 0.125, -7.0]))
    assert arr.type == pa.decimal128(20, 2)
    assert arr.to_pylist() == [
        Decimal("76570.18"),
        None,
        Decimal("-1234.56"),
        Decimal("0.12"),
        Decimal("-7.00"),
    ]


def test_decimal_array_of_a_chunked_empty_column() -> None:
    arr = decimal_array(pa.chunked_array([], type=pa.float64()))
    assert arr.type == pa.decimal128(20, 2)
    assert len(arr) == 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e19])
def test_values_that_cannot_be_cents_are_refused(bad: float) -> None:
    with pytest.raises(InternalError):
        cents_array(np.array([1.0, bad]))
