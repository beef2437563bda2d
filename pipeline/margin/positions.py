"""Accounts of a shard and their netted positions, resolved against the masters (SPEC §2, §4)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from pipeline.config import Params
from pipeline.errors import InternalError
from pipeline.margin.inputs import MarginInputs
from pipeline.margin.sharding import shard_of

# How many offending keys an error message quotes.
_EXAMPLES = 5


def _examples(frame: pl.DataFrame, column: str) -> str:
    values = frame.get_column(column).unique().sort().head(_EXAMPLES).to_list()
    more = frame.height - len(values)
    return ", ".join(str(v) for v in values) + (f" (+{more} more)" if more > 0 else "")


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


def account_universe(
    inputs: MarginInputs, business_date: dt.date, shard: int, n_shards: int
) -> pl.DataFrame:
    """One row per account of the shard with positions or a balance row, sorted, with `acct` index.

    Columns: acct UInt32 (0..n-1 in account_id order), account_id, customer_lei, account_class,
    xm_active, hrp, ficc_multiplier, has_positions, equity (SPEC §5.4).
    """
    held = (
        pl.concat(
            [
                inputs.ficc_positions.select("account_id").unique(),
                inputs.cme_positions.select("account_id").unique(),
            ]
        )
        .unique()
        .with_columns(pl.lit(True).alias("has_positions"))
    )
    balances = inputs.balances.select(
        "account_id",
        (
            pl.col("cash_balance")
            + pl.col("securities_collateral_value")
            * (1.0 - pl.col("collateral_haircut_pct") / 100.0)
        ).alias("equity"),
        pl.lit(True).alias("has_balance"),
    )
    ids = pl.concat([held.select("account_id"), balances.select("account_id")]).unique()
    if n_shards > 1:
        ids = ids.filter(shard_of(pl.col("account_id"), n_shards) == shard)
    accounts = inputs.accounts.select(
        "account_id",
        "customer_lei",
        "account_class",
        xm_active_expr(business_date).alias("xm_active"),
        "hrp",
        "ficc_multiplier",
        pl.lit(True).alias("in_master"),
    )
    universe = (
        ids.join(accounts, on="account_id", how="left")
        .join(held, on="account_id", how="left")
        .join(balances, on="account_id", how="left")
        .with_columns(
            pl.col("has_positions").fill_null(False),
            pl.col("has_balance").fill_null(False),
            pl.col("in_master").fill_null(False),
        )
        .sort("account_id")
        .with_row_index("acct")
        .collect()
    )
    unknown = universe.filter(~pl.col("in_master"))
    if unknown.height:
        raise InternalError(
            f"accounts.parquet: account_id {_examples(unknown, 'account_id')} found in positions "
            "or balances but not in the account master; expected every account to exist there "
            "(SPEC §3 cross-file rule)"
        )
    unfunded = universe.filter(pl.col("has_positions") & ~pl.col("has_balance"))
    if unfunded.height:
        raise InternalError(
            f"balances.parquet: no balance row for account_id {_examples(unfunded, 'account_id')} "
            "which hold positions; expected one row per account with positions (SPEC §2.6)"
        )
    return universe.drop("in_master", "has_balance").with_columns(pl.col("equity").fill_null(0.0))


def netted_cash(
    inputs: MarginInputs, universe: pl.DataFrame, params: Params, business_date: dt.date
) -> pl.DataFrame:
    """FICC par netted per (account, cusip) over dates and members, with DV01, tenor (§2.1, §4).

    Zero nets are kept (they still make the account "have positions"). Columns: acct, cusip,
    net_par, s (USD per bp), t (remaining years), xm (XM cash: XM-active and eligible, §5.3).
    Rows are sorted by (acct, cusip) so every later sum is reproducible.
    """
    keys = universe.lazy().select("account_id", "acct", "xm_active")
    securities = inputs.treasury_securities.select(
        "cusip", "security_type", "maturity_date", "dv01_per_100"
    )
    netted = (
        inputs.ficc_positions.select("account_id", "cusip", "par_amount")
        .join(keys.select("account_id", "acct"), on="account_id", how="inner")
        .group_by("acct", "cusip")
        .agg(pl.col("par_amount").sum().alias("net_par"))
        .join(keys.select("acct", "xm_active"), on="acct", how="left")
        .join(securities, on="cusip", how="left")
        .sort("acct", "cusip")
        .collect()
    )
    unknown = netted.filter(pl.col("dv01_per_100").is_null())
    if unknown.height:
        raise InternalError(
            f"treasury_securities.parquet: cusip {_examples(unknown, 'cusip')} held in "
            "ficc_positions but absent from the security master; expected every position's cusip "
            "there (SPEC §3 cross-file rule)"
        )
    days = (pl.col("maturity_date") - pl.lit(business_date)).dt.total_days()
    eligible = pl.col("security_type").is_in(list(params.xm.eligible_ficc_types)) & (
        days > 365.0 * params.xm.min_remaining_years
    )
    return netted.select(
        pl.col("acct").cast(pl.Int64),
        "cusip",
        "net_par",
        ((pl.col("net_par").cast(pl.Float64) / 100.0) * pl.col("dv01_per_100")).alias("s"),
        (days.cast(pl.Float64) / 365.25).alias("t"),
        (pl.col("xm_active") & eligible).alias("xm"),
    )


def netted_futures(inputs: MarginInputs, universe: pl.DataFrame, params: Params) -> pl.DataFrame:
    """CME net quantity (FIN long − short) per (account, contract) with DV01 and tier (§2.3, §4).

    Zero nets are kept. Columns: acct, contract_id, net_qty, product_code, tier (the contract's
    maturity_month), s, t (risk_tenor_years), xm (XM futures: XM-active and eligible product).
    """
    keys = universe.lazy().select("account_id", "acct", "xm_active")
    contracts = inputs.cme_contracts.select(
        "contract_id", "product_code", "maturity_month", "dv01_per_contract", "risk_tenor_years"
    )
    netted = (
        inputs.cme_positions.select("account_id", "contract_id", "long_qty", "short_qty")
        .join(keys.select("account_id", "acct"), on="account_id", how="inner")
        .group_by("acct", "contract_id")
        .agg((pl.col("long_qty") - pl.col("short_qty")).sum().alias("net_qty"))
        .join(keys.select("acct", "xm_active"), on="acct", how="left")
        .join(contracts, on="contract_id", how="left")
        .sort("acct", "contract_id")
        .collect()
    )
    unknown = netted.filter(pl.col("dv01_per_contract").is_null())
    if unknown.height:
        raise InternalError(
            f"cme_contracts.parquet: contract_id {_examples(unknown, 'contract_id')} held in "
            "cme_positions but absent from the contract master; expected every position's "
            "contract there (SPEC §3 cross-file rule)"
        )
    eligible = pl.col("product_code").is_in(list(params.xm.eligible_cme_products))
    return netted.select(
        pl.col("acct").cast(pl.Int64),
        "contract_id",
        "net_qty",
        "product_code",
        pl.col("maturity_month").alias("tier"),
        (pl.col("net_qty").cast(pl.Float64) * pl.col("dv01_per_contract")).alias("s"),
        pl.col("risk_tenor_years").alias("t"),
        (pl.col("xm_active") & eligible).alias("xm"),
    )
