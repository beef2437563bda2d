"""Exact column sums that any split of the rows adds back to the same bits (ARCHITECTURE shards).

A finite float64 is `m × 2**e` with `m` a whole number below 2**53. Summing the `m` of each
exponent as integers loses nothing, so the partial sum of a set of rows is a short table of
(column, exponent, Σm) and the partials of any partition of the rows add up, again as integers,
to the exact total, which is rounded to float64 once. So a firm total computed from 1, 3 or 40
account shards is the same float: the correctly rounded sum, whatever the order of the rows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from pipeline.errors import InternalError

FloatArray = npt.NDArray[np.float64]

MANTISSA_BITS = 53
# Σm is kept as Σ high × 2**26 + Σ low, two Int64 sums that cannot overflow below 2**36 rows.
_LOW_BITS = 26
PARTIAL_SCHEMA = pl.Schema(
    {"column": pl.Int64(), "exponent": pl.Int64(), "high": pl.Int64(), "low": pl.Int64()}
)


def partial_sums(values: FloatArray) -> pl.DataFrame:
    """The exact Σ of each column of an (n, k) matrix, as integer sums per (column, exponent)."""
    if not np.isfinite(values).all():
        raise InternalError("exact sums: found a non-finite value, expected finite float64")
    fraction, exponent = np.frexp(values)
    mantissa = np.ldexp(fraction, MANTISSA_BITS).astype(np.int64)  # exact: |m| < 2**53
    column = np.broadcast_to(np.arange(values.shape[1], dtype=np.int64), values.shape)
    occupied = mantissa != 0
    bins = pl.DataFrame(
        {
            "column": column[occupied],
            "exponent": exponent[occupied].astype(np.int64) - MANTISSA_BITS,
            "high": mantissa[occupied] >> _LOW_BITS,
            "low": mantissa[occupied] & ((1 << _LOW_BITS) - 1),
        },
        schema=PARTIAL_SCHEMA,
    )
    return add_partials([bins])


def add_partials(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Partial sums of disjoint row sets combined into those of their union (exactly)."""
    return (
        pl.concat([p.select(PARTIAL_SCHEMA.names()) for p in parts], how="vertical")
        .group_by("column", "exponent")
        .agg(pl.col("high").sum(), pl.col("low").sum())
        .sort("column", "exponent")
    )


def _rounded(mantissa: int, exponent: int) -> float:
    """mantissa × 2**exponent rounded once to the nearest float64 (ties to even)."""
    if exponent >= 0:
        return float(mantissa << exponent)
    # int / int is correctly rounded in Python (not so float(m) * 2.0**e).
    return mantissa / (1 << -exponent)


def totals(partials: pl.DataFrame, n_columns: int) -> FloatArray:
    """The correctly rounded Σ of every column, 0.0 for a column without non-zero values."""
    combined = add_partials([partials])
    out = np.zeros(n_columns)
    for (column,), rows in combined.group_by(["column"], maintain_order=True):
        lowest = int(rows.get_column("exponent").min())  # type: ignore[arg-type]
        exact = sum(
            ((int(high) << _LOW_BITS) + int(low)) << (int(exponent) - lowest)
            for exponent, high, low in rows.select("exponent", "high", "low").iter_rows()
        )
        out[int(column)] = _rounded(exact, lowest)  # type: ignore[call-overload]
    return out
