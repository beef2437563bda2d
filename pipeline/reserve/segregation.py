"""CEA §4d segregation schedule of the XM-active CUSTOMER accounts (SPEC §6, §7.4)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl


def _is_shortfall(residual: float) -> bool:
    """Whether the residual, rounded half-even to the published cents, is negative (SPEC §7.4)."""
    cents = Decimal(repr(residual)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return cents < 0


def compute_segregation(
    margin_by_account: pl.DataFrame, reserve_bank: pl.DataFrame, business_date: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per-account seg_required and the firm summary against XM_4D funds held (SPEC §6)."""
    detail = (
        margin_by_account.filter(
            (pl.col("account_class") == "CUSTOMER") & pl.col("xm_active").cast(pl.Boolean)
        )
        .select(
            pl.lit(business_date, dtype=pl.Date).alias("business_date"),
            pl.col("account_id").cast(pl.Utf8),
            pl.col("equity").cast(pl.Float64),
            pl.col("equity").cast(pl.Float64).clip(lower_bound=0.0).alias("seg_required"),
        )
        .sort("account_id")
    )
    seg_required = float(detail["seg_required"].sum())
    held = reserve_bank.filter(pl.col("book") == "XM_4D")["on_deposit"]
    funds_held = float(held.sum()) if held.len() else 0.0
    residual = funds_held - seg_required
    # The flag follows the published cents, so a residual of -0.004 is not called a shortfall.
    summary = pl.DataFrame(
        {
            "business_date": [business_date],
            "seg_required": [seg_required],
            "funds_held": [funds_held],
            "residual_interest": [residual],
            "is_shortfall": [_is_shortfall(residual)],
        },
        schema={
            "business_date": pl.Date,
            "seg_required": pl.Float64,
            "funds_held": pl.Float64,
            "residual_interest": pl.Float64,
            "is_shortfall": pl.Boolean,
        },
    )
    return detail, summary
