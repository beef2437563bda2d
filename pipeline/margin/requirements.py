"""Per-account requirements of one shard: XM split, F and C, reduction, initial (SPEC §5.3)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from pipeline.config import Params
from pipeline.errors import InternalError
from pipeline.margin.calls import call_amounts
from pipeline.margin.cme_model import CcExposure, cme_requirement
from pipeline.margin.columns import MARGIN_COLUMNS
from pipeline.margin.dv01 import dv01_partials
from pipeline.margin.ficc_model import ficc_requirement
from pipeline.margin.inputs import MarginInputs
from pipeline.margin.positions import Book, Instruments, Netted, load_book
from pipeline.margin.sensitivities import key_rate_matrices, per_account_sum

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def scenario_matrix(inputs: MarginInputs, params: Params) -> FloatArray:
    """Key-rate yield changes as a (K, N) matrix in `key_rate_tenors` order (SPEC §2.7)."""
    columns = list(params.tenor_columns)
    frame = inputs.ficc_var_scenarios.collect()
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise InternalError(
            f"ficc_var_scenarios.parquet: column(s) {absent} missing; expected one per "
            f"key-rate tenor: {columns} (SPEC §2.7)"
        )
    if frame.height == 0:
        raise InternalError("ficc_var_scenarios.parquet: no scenarios; expected at least one row")
    values = frame.select(pl.col(columns).cast(pl.Float64)).to_numpy()
    return np.ascontiguousarray(values.T)


def _reduction(standalone_sum: FloatArray, combined: FloatArray) -> FloatArray:
    """r = 1 − combined / separate if separate > 0 else 0, floored at 0 (SPEC §5.3)."""
    safe = np.where(standalone_sum > 0.0, standalone_sum, 1.0)
    return np.where(standalone_sum > 0.0, np.maximum(1.0 - combined / safe, 0.0), 0.0)


def _futures_exposures(
    futures: Netted, contracts: Instruments, n_accounts: int, n_cc: int
) -> tuple[CcExposure, CcExposure]:
    """Net and tier-signed DV01 per (account, CC) of the regular and the XM futures (SPEC §5.2)."""
    if futures.acct.size == 0:
        empty = CcExposure.single_tier(np.zeros((n_accounts, n_cc)))
        return empty, empty
    # d_tier per (portfolio, account, tier): positions are few per account, so group the
    # occupied triples rather than materialise an accounts × tiers matrix.
    n_tiers = contracts.n_tiers
    row = futures.xm.astype(np.int64) * n_accounts + futures.acct
    keys, inverse = np.unique(
        row * n_tiers + contracts.tier[futures.instrument], return_inverse=True
    )
    d = np.bincount(inverse.ravel(), weights=futures.s).astype(np.float64, copy=False)
    rows = keys // n_tiers
    tier_cc = np.zeros(n_tiers, dtype=np.int64)
    tier_cc[contracts.tier] = contracts.cc
    cc = tier_cc[keys % n_tiers]
    both = 2 * n_accounts

    def dense(values: FloatArray) -> FloatArray:
        return per_account_sum(rows, cc, values, both, n_cc).reshape(2, n_accounts, n_cc)

    net, up, down = dense(d), dense(np.maximum(d, 0.0)), dense(np.maximum(-d, 0.0))
    return CcExposure(net[0], up[0], down[0]), CcExposure(net[1], up[1], down[1])


def _cash_exposure(cash: Netted, securities: Instruments, n_accounts: int, n_cc: int) -> CcExposure:
    """XM cash in the CME model: one tier CASH per CC from `cash_mapping` (SPEC §5.2)."""
    cc = securities.cc[cash.instrument]
    unmapped = (cc < 0) & cash.xm
    if unmapped.any():
        bad = securities.ids.gather(np.unique(cash.instrument[unmapped])).head(5).to_list()
        raise InternalError(
            f"treasury_securities.parquet: maturity_date of cusip {bad} gives remaining years "
            "outside every cme.cash_mapping bucket (lo, hi]; expected the parameter file to "
            "cover every XM-eligible security (SPEC §5.2)"
        )
    # Regular cash rows are kept but weigh nothing, which is cheaper than selecting XM rows.
    weights = np.where(cash.xm, cash.s, 0.0)
    net = per_account_sum(cash.acct, np.maximum(cc, 0), weights, n_accounts, n_cc)
    return CcExposure.single_tier(net)


Columns = dict[str, FloatArray]


def _key_rates(
    positions: Netted, instruments: Instruments, tenors: tuple[float, ...], n: int
) -> FloatArray:
    """(2, n, K): [0] the regular, [1] the XM positions' key-rate vectors per account (§4)."""
    return key_rate_matrices(
        positions.acct,
        positions.xm.astype(np.int64),
        2,
        positions.s,
        positions.instrument,
        instruments.t,
        tenors,
        n,
    )


def ficc_side(book: Book, scenarios: FloatArray, params: Params) -> Columns:
    """F of the regular cash, the XM cash, the XM futures and their union (SPEC §5.1, §5.3)."""
    ficc = params.ficc
    shocks = np.asarray(ficc.floor_shock_bp, dtype=np.float64)
    n = book.accounts.height

    def f_model(key_rates: FloatArray) -> FloatArray:
        return ficc_requirement(
            key_rates, scenarios, ficc.var_confidence, ficc.floor_fraction, shocks
        )

    # Zero nets stay in the sums (s = 0 adds nothing); the XM flag splits the portfolios.
    cash = _key_rates(book.cash, book.securities, params.key_rate_tenors, n)
    xm_futures = _key_rates(book.futures, book.contracts, params.key_rate_tenors, n)[1]
    f_sa = f_model(cash[1])
    # Key-rate vectors are additive, so the union's vector is the sum of the two sides'.
    return {
        "ficc_regular_im": f_model(cash[0]),
        "f_sa": f_sa,
        "f_sep": f_sa + f_model(xm_futures),
        "f_all": f_model(cash[1] + xm_futures),
    }


def cme_side(book: Book, params: Params) -> Columns:
    """C of the regular futures, the XM futures, the XM cash and their union (SPEC §5.2, §5.3)."""
    n = book.accounts.height
    n_cc = len(params.cme.products)
    cash = _cash_exposure(book.cash, book.securities, n, n_cc)
    regular, xm_futures = _futures_exposures(book.futures, book.contracts, n, n_cc)
    c_sa = cme_requirement(xm_futures, params.cme)
    return {
        "cme_regular_im": cme_requirement(regular, params.cme),
        "c_sa": c_sa,
        "c_sep": c_sa + cme_requirement(cash, params.cme),
        "c_all": cme_requirement(xm_futures + cash, params.cme),
    }


def requirements(ficc: Columns, cme: Columns, accounts: pl.DataFrame, params: Params) -> Columns:
    """Reduction factors, XM and total requirements, maintenance and initial (SPEC §5.3)."""
    r_ficc = _reduction(ficc["f_sep"], ficc["f_all"])
    r_cme = _reduction(cme["c_sep"], cme["c_all"])
    r_applied = np.minimum(np.minimum(r_ficc, r_cme), params.xm.max_reduction)
    ficc_xm_im = ficc["f_sa"] * (1.0 - r_applied)
    cme_xm_im = cme["c_sa"] * (1.0 - r_applied)
    ficc_im = ficc["ficc_regular_im"] + ficc_xm_im
    cme_im = cme["cme_regular_im"] + cme_xm_im
    maintenance = ficc_im + cme_im
    hrp = accounts.get_column("hrp").fill_null(False).to_numpy()
    multiplier = accounts.get_column("ficc_multiplier").to_numpy()
    initial = ficc_im * multiplier + cme_im * np.where(hrp, params.cme.hrp_initial_ratio, 1.0)
    equity = accounts.get_column("equity").to_numpy()
    # The order requires at least what each clearing house requires (SPEC §5.3).
    initial = np.maximum(initial, maintenance)
    return {
        "r_ficc": r_ficc,
        "r_cme": r_cme,
        "r_applied": r_applied,
        "ficc_xm_im": ficc_xm_im,
        "cme_xm_im": cme_xm_im,
        "ficc_im": ficc_im,
        "cme_im": cme_im,
        "maintenance_requirement": maintenance,
        "initial_requirement": initial,
        "equity": equity,
        "excess_deficit": equity - initial,
    }


@dataclass(frozen=True)
class ShardResults:
    """What one account shard hands the reduce: its accounts' margin and its DV01 partials."""

    account_margin: pl.DataFrame
    dv01_partials: pl.DataFrame


def compute_shard(
    inputs: MarginInputs,
    params: Params,
    business_date: dt.date,
    shard: int = 0,
    n_shards: int = 1,
) -> ShardResults:
    """One shard's book, built once, and everything computed from it (SPEC §4-§5.4)."""
    book = _shard_book(inputs, params, business_date, shard, n_shards)
    return ShardResults(
        account_margin=book_margin(book, inputs, params, business_date),
        dv01_partials=dv01_partials(book, params),
    )


def compute_account_margin(
    inputs: MarginInputs,
    params: Params,
    business_date: dt.date,
    shard: int = 0,
    n_shards: int = 1,
) -> pl.DataFrame:
    """SPEC §7.1 columns, unrounded, plus customer_lei for one shard's accounts (SPEC §5.3-§5.4)."""
    book = _shard_book(inputs, params, business_date, shard, n_shards)
    return book_margin(book, inputs, params, business_date)


def _shard_book(
    inputs: MarginInputs, params: Params, business_date: dt.date, shard: int, n_shards: int
) -> Book:
    if n_shards < 1 or not 0 <= shard < n_shards:
        raise InternalError(f"margin shard {shard} of {n_shards}: expected 0 <= shard < n_shards")
    return load_book(inputs, params, business_date, shard, n_shards)


def book_margin(
    book: Book, inputs: MarginInputs, params: Params, business_date: dt.date
) -> pl.DataFrame:
    """SPEC §7.1 columns, unrounded, plus customer_lei for the book's accounts (SPEC §5.3-§5.4)."""
    accounts = book.accounts
    n = accounts.height
    ficc = ficc_side(book, scenario_matrix(inputs, params), params)
    cme = cme_side(book, params)
    money = {**ficc, **cme, **requirements(ficc, cme, accounts, params)}
    computed, issued = call_amounts(
        accounts.get_column("account_class").to_numpy(),
        money["equity"],
        money["maintenance_requirement"],
        money["initial_requirement"],
        params.customer.min_call_amount,
    )
    columns = [pl.Series(name, values, dtype=pl.Float64) for name, values in money.items()]
    columns += [
        pl.Series("n_ficc_positions", book.cash.count_nonzero_by_account(n)),
        pl.Series("n_cme_positions", book.futures.count_nonzero_by_account(n)),
        pl.Series("call_amount", np.where(issued, computed, 0), dtype=pl.Int64),
    ]
    return (
        accounts.with_columns(columns)
        .with_columns(pl.lit(business_date, dtype=pl.Date).alias("business_date"))
        .select(*MARGIN_COLUMNS, "customer_lei")
    )
