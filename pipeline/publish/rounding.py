"""Money to exact cents, half-even, each value from its own unrounded float64 (SPEC §7)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pipeline.errors import InternalError

CENT = Decimal("0.01")
MONEY_TYPE = pa.decimal128(20, 2)
# decimal(20,2) holds up to 10**18 - 1 cents; int64 cents stay exact far below that bound.
_MAX_CENTS = 10**18 - 1
# x * 100 in float64 is off from the decimal value by a few ulps at most: values this close to a
# half cent are decided by the exact decimal instead of by the float product.
_TIE_ABS = 1e-6
_TIE_REL = 1e-12


def round_cents(value: float) -> Decimal:
    """One float64 to cents, half-even on its shortest decimal form (repr): 0.125 -> 0.12."""
    if not np.isfinite(value):
        raise InternalError(f"money value {value!r} is not finite; expected a number")
    return Decimal(repr(float(value))).quantize(CENT, rounding=ROUND_HALF_EVEN)


def cents_array(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Float64 amounts to int64 cents, half-even, agreeing with `round_cents` value by value."""
    x = np.asarray(values, dtype=np.float64)
    if not np.isfinite(x).all():
        bad = x[~np.isfinite(x)][:5].tolist()
        raise InternalError(f"money values {bad} are not finite; expected numbers")
    scaled = x * 100.0
    cents = np.rint(scaled)  # rint rounds half to even
    frac = np.abs(scaled - np.floor(scaled))
    near_tie = np.abs(frac - 0.5) <= _TIE_ABS + np.abs(scaled) * _TIE_REL
    if np.abs(cents).max(initial=0.0) > _MAX_CENTS:
        raise InternalError(f"money value {float(np.abs(x).max())!r} does not fit decimal(20,2)")
    out = cents.astype(np.int64)
    # Only values within a hair of a half cent take the exact path: few rows in practice.
    for i in np.flatnonzero(near_tie):
        out[i] = int(round_cents(float(x[i])).scaleb(2))
    return out


def decimal_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A float64 Arrow array as decimal(20,2) exact cents; nulls stay null."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    floats = values.cast(pa.float64())
    valid = floats.is_valid().to_numpy(zero_copy_only=False)
    raw = floats.fill_null(0.0).to_numpy(zero_copy_only=False)
    cents = cents_array(raw)
    # decimal128 is a 16-byte little-endian two's complement integer of unscaled units.
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    data = pa.py_buffer(words.tobytes())
    validity = None
    if not valid.all():
        validity = pa.array(valid, type=pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(
        MONEY_TYPE, len(cents), [validity, data], null_count=int((~valid).sum())
    )
