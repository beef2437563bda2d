"""The account master resolved once per shard: class, XM-active on D, shard (SPEC §2.1, §2.5)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from pipeline.margin.inputs import MarginInputs
from pipeline.margin.sharding import shard_of


def xm_active_expr(business_date: dt.date) -> pl.Expr:
    """XM-active on D: CUSTOMER with all three dates <= D, HOUSE opted in by D, PAB never (§2.5)."""
    d = pl.lit(business_date)

    def on_or_before(column: str) -> pl.Expr:
        return pl.col(column).is_not_null() & (pl.col(column) <= d)

    customer = (
        (pl.col("account_class") == "CUSTOMER")
        & on_or_before("xm_opt_in_date")
        & on_or_before("subordination_agreement_date")
        & on_or_before("disclosure_ack_date")
    )
    house = (pl.col("account_class") == "HOUSE") & on_or_before("xm_opt_in_date")
    return (customer | house).fill_null(False)


def missing_documents_expr(business_date: dt.date) -> pl.Expr:
    """A CUSTOMER opted in by D whose documents are not all in place on D (SPEC §2.5, §7.6)."""
    opted_in = pl.col("xm_opt_in_date").is_not_null() & (pl.col("xm_opt_in_date") <= business_date)
    return (pl.col("account_class") == "CUSTOMER") & opted_in & ~xm_active_expr(business_date)


def resolve_accounts(
    inputs: MarginInputs, business_date: dt.date, shard: int, n_shards: int
) -> pl.DataFrame:
    """The whole account master in id order, row number `pos`, resolved once (SPEC §2.1, §2.5).

    Columns: pos, account_id, customer_lei, account_class, xm_active (on D), hrp,
    ficc_multiplier, in_shard (the account's stable shard is `shard`).
    """
    return (
        inputs.accounts.select(
            "account_id",
            "customer_lei",
            "account_class",
            xm_active_expr(business_date).alias("xm_active"),
            "hrp",
            "ficc_multiplier",
        )
        .sort("account_id")
        .with_row_index("pos")
        .with_columns(
            (shard_of(pl.col("account_id"), n_shards) == shard).alias("in_shard")
            if n_shards > 1
            else pl.lit(True).alias("in_shard")
        )
        .collect()
    )
