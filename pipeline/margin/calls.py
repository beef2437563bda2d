"""Margin calls, exceptions and the reduction of shards into published tables (SPEC §5.4, §7)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from pipeline.calendar import due_by
from pipeline.config import Params
from pipeline.errors import InternalError
from pipeline.margin.accounts import missing_documents_expr
from pipeline.margin.columns import (
    CALL_COLUMNS,
    EXCEPTION_SCHEMA,
    MARGIN_COLUMNS,
    XM_DOCUMENTS_DETAIL,
)

if TYPE_CHECKING:
    from pipeline.margin.inputs import MarginInputs

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

CALLED_CLASSES = ("CUSTOMER", "PAB")


@dataclass(frozen=True)
class MarginResults:
    """What the margin stage hands on: SPEC §7.1, §7.2 and the margin part of §7.6, unrounded."""

    margin_by_account: pl.DataFrame
    margin_calls: pl.DataFrame
    exceptions: pl.DataFrame


def account_equity(balances: pl.LazyFrame) -> pl.LazyFrame:
    """account_id and equity of each balance row (SPEC §5.4): futures variation is not in it.

    equity = cash_balance + securities_collateral_value × (1 − collateral_haircut_pct / 100).
    """
    return balances.select(
        "account_id",
        (
            pl.col("cash_balance")
            + pl.col("securities_collateral_value")
            * (1.0 - pl.col("collateral_haircut_pct") / 100.0)
        ).alias("equity"),
    )


def call_amounts(
    account_class: npt.NDArray[Any],
    equity: FloatArray,
    maintenance: FloatArray,
    initial: FloatArray,
    min_call_amount: float,
) -> tuple[IntArray, BoolArray]:
    """Whole-dollar call each account would get and whether it is issued (SPEC §5.4).

    A call is due when equity < maintenance (unrounded; an account without positions has
    maintenance 0, so a negative equity is called). The amount is ceil(round(initial − equity, 6)):
    the rounding only strips float noise. Only CUSTOMER and PAB accounts are called, and only
    amounts ≥ min_call_amount are issued; an amount that rounds to 0 is nothing to collect.
    """
    due = np.isin(account_class, CALLED_CLASSES) & (equity < maintenance)
    computed = np.where(due, np.ceil(np.round(initial - equity, 6)), 0.0).astype(np.int64)
    issued = due & (computed > 0) & (computed >= min_call_amount)
    return computed, issued


def _exceptions(
    margin: pl.DataFrame, inputs: MarginInputs, params: Params, business_date: dt.date
) -> pl.DataFrame:
    # Only accounts margined today: a dormant account's paperwork is not a run exception.
    documents = (
        inputs.accounts.filter(missing_documents_expr(business_date))
        .select("account_id")
        .join(margin.lazy().select("account_id"), on="account_id", how="semi")
        .select(
            pl.lit(business_date, dtype=pl.Date).alias("business_date"),
            pl.lit("XM_OPT_IN_WITHOUT_DOCUMENTS").alias("kind"),
            "account_id",
            pl.lit(XM_DOCUMENTS_DETAIL).alias("detail"),
        )
        .collect()
    )
    computed, issued = call_amounts(
        margin.get_column("account_class").to_numpy(),
        margin.get_column("equity").to_numpy(),
        margin.get_column("maintenance_requirement").to_numpy(),
        margin.get_column("initial_requirement").to_numpy(),
        params.customer.min_call_amount,
    )
    minimum = params.customer.min_call_amount
    below = (
        margin.with_columns(pl.Series("computed_call", computed))
        .filter(pl.Series((computed > 0) & ~issued))
        .select(
            "business_date",
            pl.lit("CALL_BELOW_MINIMUM").alias("kind"),
            "account_id",
            pl.format(
                "call of {} below min_call_amount {}: not issued (equity {} < maintenance {})",
                pl.col("computed_call"),
                pl.lit(f"{minimum:g}"),
                pl.col("equity").round(2),
                pl.col("maintenance_requirement").round(2),
            ).alias("detail"),
        )
    )
    return pl.concat([documents.cast(EXCEPTION_SCHEMA), below.cast(EXCEPTION_SCHEMA)]).sort(
        "kind", "account_id", "detail", nulls_last=True
    )


def finalize_margin(
    account_margin: pl.DataFrame, inputs: MarginInputs, params: Params, business_date: dt.date
) -> MarginResults:
    """Concatenated shards -> margin_by_account, margin_calls and exceptions (SPEC §5.4, §7)."""
    margin = account_margin.sort("account_id")
    duplicated = margin.filter(pl.col("account_id").is_duplicated())
    if duplicated.height:
        ids = duplicated.get_column("account_id").unique().sort().head(5).to_list()
        raise InternalError(f"margin shards overlap: account_id {ids} computed more than once")
    calls = (
        margin.filter(pl.col("call_amount") > 0)
        .with_columns(
            pl.format("{}-{}", pl.lit(f"{business_date:%Y%m%d}"), pl.col("account_id")).alias(
                "call_id"
            ),
            pl.lit(due_by(business_date))
            .cast(pl.Datetime("us", "America/New_York"))
            .alias("due_by"),
        )
        .select(CALL_COLUMNS)
        .sort("call_id")
    )
    return MarginResults(
        margin_by_account=margin.select(MARGIN_COLUMNS),
        margin_calls=calls,
        exceptions=_exceptions(margin, inputs, params, business_date),
    )
