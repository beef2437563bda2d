"""A shard's book: its accounts and their netted positions, resolved against the masters (§2, §4).

Built from three pieces: the accounts resolved once (`pipeline.margin.accounts`), the positions
netted per (account, instrument) here, and each account's equity (`pipeline.margin.calls`, where
SPEC §5.4 uses it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from pipeline.config import Params
from pipeline.errors import InternalError
from pipeline.margin.accounts import resolve_accounts
from pipeline.margin.calls import account_equity
from pipeline.margin.inputs import MarginInputs

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# How many offending keys an error message quotes.
_EXAMPLES = 5
ACCOUNTS_FILE = "accounts.parquet"
BALANCES_FILE = "balances.parquet"
FICC_FILES = ("ficc_positions.parquet", "treasury_securities.parquet")
CME_FILES = ("cme_positions.parquet", "cme_contracts.parquet")


def _examples(frame: pl.DataFrame, column: str) -> str:
    distinct = frame.get_column(column).unique().sort()
    values = distinct.head(_EXAMPLES).to_list()
    more = distinct.len() - len(values)
    return ", ".join(str(v) for v in values) + (f" (+{more} more)" if more > 0 else "")


@dataclass(frozen=True)
class Instruments:
    """Reference data of cusips or contracts resolved once, indexed 0..n-1 in id order (§2.2, §2.4).

    `cc` is the combined commodity (futures: the product; cash: the `cash_mapping` bucket, −1 if
    none); `tier` numbers the (cc, maturity_month) pairs of futures, `n_tiers` of them.
    """

    ids: pl.Series
    dv01: FloatArray
    t: FloatArray
    eligible: BoolArray
    cc: IntArray
    tier: IntArray
    n_tiers: int


@dataclass(frozen=True)
class Netted:
    """Netted positions (account, instrument), sorted by both; `s` is DV01 per bp (SPEC §4)."""

    acct: IntArray
    instrument: IntArray
    net: IntArray
    s: FloatArray
    xm: BoolArray

    def count_nonzero_by_account(self, n_accounts: int) -> IntArray:
        """n_*_positions: non-zero netted positions per account (SPEC §7)."""
        counts = np.bincount(self.acct, weights=self.net != 0, minlength=n_accounts)
        return counts.astype(np.int64)


def cash_cc(t: FloatArray, params: Params) -> IntArray:
    """CC of cash by remaining years on `cash_mapping` buckets (lo, hi]; −1 if unmapped (§5.2)."""
    buckets = params.cme.cash_mapping
    los = np.array([b.lo for b in buckets])
    his = np.array([b.hi for b in buckets])
    codes = np.array([params.cme.cc_index[b.product] for b in buckets], dtype=np.int64)
    j = np.minimum(np.searchsorted(his, t, side="left"), len(buckets) - 1)
    mapped = (t > los[j]) & (t <= his[j])
    return np.where(mapped, codes[j], -1).astype(np.int64)


def securities(inputs: MarginInputs, params: Params, business_date: dt.date) -> Instruments:
    """Security master with remaining years, XM eligibility and CME bucket (SPEC §4, §5.2, §5.3)."""
    days = (pl.col("maturity_date") - pl.lit(business_date)).dt.total_days()
    frame = (
        inputs.treasury_securities.select(
            "cusip",
            "dv01_per_100",
            (days.cast(pl.Float64) / 365.25).alias("t"),
            (
                pl.col("security_type").is_in(list(params.xm.eligible_ficc_types))
                & (days > 365.0 * params.xm.min_remaining_years)
            ).alias("eligible"),
        )
        .sort("cusip")
        .collect()
    )
    t = frame.get_column("t").to_numpy()
    return Instruments(
        ids=frame.get_column("cusip"),
        dv01=frame.get_column("dv01_per_100").to_numpy(),
        t=t,
        eligible=frame.get_column("eligible").to_numpy(),
        cc=cash_cc(t, params),
        tier=np.zeros(frame.height, dtype=np.int64),
        n_tiers=1,
    )


def contracts(inputs: MarginInputs, params: Params) -> Instruments:
    """Contract master with CC, tier and XM eligibility (SPEC §5.2, §5.3)."""
    cc_index = params.cme.cc_index
    frame = (
        inputs.cme_contracts.select(
            "contract_id",
            "dv01_per_contract",
            "risk_tenor_years",
            pl.col("product_code").is_in(list(params.xm.eligible_cme_products)).alias("eligible"),
            pl.col("product_code")
            .replace_strict(cc_index, default=None, return_dtype=pl.Int64)
            .alias("cc"),
            "maturity_month",
            "product_code",
        )
        .sort("contract_id")
        .collect()
    )
    unknown = frame.filter(pl.col("cc").is_null())
    if unknown.height:
        # The contract's product_code enum is read from the same file, so only a caller that
        # skipped validation gets here.
        raise InternalError(
            f"cme_contracts.parquet: product_code {_examples(unknown, 'product_code')} not in "
            f"cme.products of {params.source.name}; expected one of {list(cc_index)} (SPEC §2.10)"
        )
    tier = frame.select(pl.struct("cc", "maturity_month").rank("dense") - 1).to_series()
    return Instruments(
        ids=frame.get_column("contract_id"),
        dv01=frame.get_column("dv01_per_contract").to_numpy(),
        t=frame.get_column("risk_tenor_years").to_numpy(),
        eligible=frame.get_column("eligible").to_numpy(),
        cc=frame.get_column("cc").to_numpy(),
        tier=tier.cast(pl.Int64).to_numpy(),
        n_tiers=int(tier.max() or 0) + 1 if frame.height else 1,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Book:
    """One shard's accounts and their netted positions, resolved once (SPEC §2, §4, §5.3).

    `accounts` has one row per account of the shard with positions or a balance row, sorted by
    account_id, its row number being the `acct` used by `cash` and `futures`. Columns:
    account_id, customer_lei, account_class, xm_active, hrp, ficc_multiplier, equity.
    `cash` and `futures` keep zero nets (they still make the account "have positions").
    """

    accounts: pl.DataFrame
    cash: Netted
    futures: Netted
    securities: Instruments
    contracts: Instruments


def _raise_unknown(
    positions: pl.LazyFrame, column: str, known: pl.Series, file: str, master: str
) -> None:
    absent = (
        positions.select(column).unique().filter(~pl.col(column).is_in(known.implode())).collect()
    )
    raise InternalError(
        f"{file}: {column} {_examples(absent, column)} not found in {master}; expected every "
        f"position's {column} there (SPEC §3 cross-file rule)"
    )


def net_positions(
    positions: pl.LazyFrame,
    id_column: str,
    quantity: pl.Expr,
    accounts: pl.DataFrame,
    instruments: Instruments,
    files: tuple[str, str],
) -> tuple[IntArray, IntArray, IntArray]:
    """Σ quantity per (account row, instrument) over the shard's positions, sorted by both.

    Returns the account's row in `accounts` (its `pos`), the instrument's index and the net; zero
    nets are kept. One pass over the position file: both joins are on the small masters, and the
    strings are dropped right after them.
    """
    index = pl.DataFrame(
        {id_column: instruments.ids, "instrument": np.arange(len(instruments.ids))}
    ).lazy()
    resolved = (
        positions.select("account_id", id_column, quantity.alias("q"))
        .join(accounts.lazy().select("account_id", "pos", "in_shard"), on="account_id", how="left")
        .join(index, on=id_column, how="left")
        .select("pos", "instrument", "in_shard", "q")
        .collect()
    )
    if resolved.get_column("pos").null_count():
        _raise_unknown(positions, "account_id", accounts["account_id"], files[0], ACCOUNTS_FILE)
    if resolved.get_column("instrument").null_count():
        _raise_unknown(positions, id_column, instruments.ids, files[0], files[1])
    width = max(len(instruments.ids), 1)
    # One integer key per (account, instrument): grouping and sorting on it is several times
    # faster than on the string pair, and the sort makes every later float sum reproducible.
    netted = (
        resolved.lazy()
        .filter(pl.col("in_shard"))
        .select((pl.col("pos").cast(pl.Int64) * width + pl.col("instrument")).alias("key"), "q")
        .group_by("key")
        .agg(pl.col("q").sum())
        .sort("key")
        .collect()
    )
    key = netted.get_column("key").to_numpy()
    return key // width, key % width, netted.get_column("q").to_numpy()


def _balance_rows(inputs: MarginInputs, accounts: pl.DataFrame) -> tuple[IntArray, FloatArray]:
    """The account row of every balance row and that account's equity (SPEC §2.6, §5.4)."""
    balances = (
        account_equity(inputs.balances)
        .join(accounts.lazy().select("account_id", "pos"), on="account_id", how="left")
        .collect()
    )
    if balances.get_column("pos").null_count():
        _raise_unknown(
            inputs.balances, "account_id", accounts["account_id"], BALANCES_FILE, ACCOUNTS_FILE
        )
    pos = balances.get_column("pos").cast(pl.Int64).to_numpy()
    return pos, balances.get_column("equity").to_numpy()


def load_book(
    inputs: MarginInputs, params: Params, business_date: dt.date, shard: int, n_shards: int
) -> Book:
    """The shard's accounts and their netted, resolved positions (SPEC §2.1, §2.3, §4, §5.3).

    An account is in the book if it holds a position or has a balance row. Cash:
    `s = net_par/100 × dv01_per_100`, `xm` = XM-active and eligible security. Futures:
    `s = net_qty × dv01_per_contract` with net = FIN long − short, `xm` = XM-active and eligible
    product. (That every account with positions has a balance row is the balances contract's
    rule, SPEC §3; one without counts with equity 0.)
    """
    master = resolve_accounts(inputs, business_date, shard, n_shards)
    sec = securities(inputs, params, business_date)
    con = contracts(inputs, params)
    cash_pos, cash_sec, par = net_positions(
        inputs.ficc_positions, "cusip", pl.col("par_amount"), master, sec, FICC_FILES
    )
    fut_pos, fut_con, qty = net_positions(
        inputs.cme_positions,
        "contract_id",
        pl.col("long_qty") - pl.col("short_qty"),
        master,
        con,
        CME_FILES,
    )
    bal_pos, bal_equity = _balance_rows(inputs, master)
    n_master = master.height
    equity = np.zeros(n_master)
    equity[bal_pos] = bal_equity
    listed = np.zeros(n_master, dtype=bool)
    listed[np.concatenate([bal_pos, cash_pos, fut_pos])] = True
    keep = master.get_column("in_shard").to_numpy() & listed
    # Master row -> shard account number; order is kept, so positions stay sorted by account.
    acct_of = np.cumsum(keep) - 1
    accounts = master.filter(pl.Series(keep)).with_columns(pl.Series("equity", equity[keep]))
    xm_active = accounts.get_column("xm_active").to_numpy()
    cash_acct = acct_of[cash_pos]
    fut_acct = acct_of[fut_pos]
    cash = Netted(
        cash_acct,
        cash_sec,
        par,
        (par.astype(np.float64) / 100.0) * sec.dv01[cash_sec],
        xm_active[cash_acct] & sec.eligible[cash_sec],
    )
    futures = Netted(
        fut_acct,
        fut_con,
        qty,
        qty.astype(np.float64) * con.dv01[fut_con],
        xm_active[fut_acct] & con.eligible[fut_con],
    )
    return Book(accounts.drop("pos", "in_shard"), cash, futures, sec, con)
