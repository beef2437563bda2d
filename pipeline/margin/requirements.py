"""Per-account requirements of one shard: XM split, F and C, reduction, initial (SPEC §5.3)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import polars as pl

from pipeline.config import Params
from pipeline.errors import InternalError
from pipeline.margin.calls import call_amounts
from pipeline.margin.cme_model import N_CC, CcExposure, cme_requirement
from pipeline.margin.columns import MARGIN_COLUMNS
from pipeline.margin.ficc_model import ficc_requirement
from pipeline.margin.inputs import MarginInputs
from pipeline.margin.positions import Instruments, Netted, load_book
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
    futures: Netted, contracts: Instruments, n_accounts: int
) -> tuple[CcExposure, CcExposure]:
    """Net and tier-signed DV01 per (account, CC) of the regular and the XM futures (SPEC §5.2)."""
    if futures.acct.size == 0:
        empty = CcExposure.single_tier(np.zeros((n_accounts, N_CC)))
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
        return per_account_sum(rows, cc, values, both, N_CC).reshape(2, n_accounts, N_CC)

    net, up, down = dense(d), dense(np.maximum(d, 0.0)), dense(np.maximum(-d, 0.0))
    return CcExposure(net[0], up[0], down[0]), CcExposure(net[1], up[1], down[1])


def _cash_exposure(cash: Netted, securities: Instruments, n_accounts: int) -> CcExposure:
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
    net = per_account_sum(cash.acct, np.maximum(cc, 0), weights, n_accounts, N_CC)
    return CcExposure.single_tier(net)


def compute_account_margin(
    inputs: MarginInputs,
    params: Params,
    business_date: dt.date,
    shard: int = 0,
    n_shards: int = 1,
) -> pl.DataFrame:
    """SPEC §7.1 columns, unrounded, plus customer_lei for one shard's accounts (SPEC §5.3-§5.4)."""
    if n_shards < 1 or not 0 <= shard < n_shards:
        raise InternalError(f"margin shard {shard} of {n_shards}: expected 0 <= shard < n_shards")
    book = load_book(inputs, params, business_date, shard, n_shards)
    universe = book.accounts
    n = universe.height
    tenors = params.key_rate_tenors
    sec, con = book.securities, book.contracts
    # Zero nets carry no risk (s = 0): they only make the account "have positions" (SPEC §2.1).
    # Every row stays in the sums below, split into portfolios by its XM flag (SPEC §5.3).
    cash, futures = book.cash, book.futures

    # FICC model on the regular cash, the XM cash, the XM futures and their union (SPEC §5.1).
    scenarios = scenario_matrix(inputs, params)
    ficc = params.ficc
    shocks = np.asarray(ficc.floor_shock_bp, dtype=np.float64)

    def f_model(key_rates: FloatArray) -> FloatArray:
        return ficc_requirement(
            key_rates, scenarios, ficc.var_confidence, ficc.floor_fraction, shocks
        )

    def key_rates(positions: Netted, instruments: Instruments) -> FloatArray:
        """(2, n, K): [0] the regular, [1] the XM positions' key-rate vectors per account."""
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

    kr_cash = key_rates(cash, sec)
    kr_xm_futures = key_rates(futures, con)[1]
    ficc_regular_im = f_model(kr_cash[0])
    f_sa = f_model(kr_cash[1])
    f_sep = f_sa + f_model(kr_xm_futures)
    f_all = f_model(kr_cash[1] + kr_xm_futures)

    # CME model on the regular futures, the XM futures, the XM cash and their union (SPEC §5.2).
    cash_exposure = _cash_exposure(cash, sec, n)
    regular_futures, xm_futures = _futures_exposures(futures, con, n)
    cme_regular_im = cme_requirement(regular_futures, params.cme)
    c_sa = cme_requirement(xm_futures, params.cme)
    c_sep = c_sa + cme_requirement(cash_exposure, params.cme)
    c_all = cme_requirement(xm_futures + cash_exposure, params.cme)

    r_ficc = _reduction(f_sep, f_all)
    r_cme = _reduction(c_sep, c_all)
    r_applied = np.minimum(np.minimum(r_ficc, r_cme), params.xm.max_reduction)
    ficc_xm_im = f_sa * (1.0 - r_applied)
    cme_xm_im = c_sa * (1.0 - r_applied)
    ficc_im = ficc_regular_im + ficc_xm_im
    cme_im = cme_regular_im + cme_xm_im
    maintenance = ficc_im + cme_im
    hrp = universe.get_column("hrp").fill_null(False).to_numpy()
    multiplier = universe.get_column("ficc_multiplier").to_numpy()
    initial = ficc_im * multiplier + cme_im * np.where(hrp, params.cme.hrp_initial_ratio, 1.0)
    # The order requires at least what each clearing house requires (SPEC §5.3).
    initial = np.maximum(initial, maintenance)

    equity = universe.get_column("equity").to_numpy()
    classes = universe.get_column("account_class").to_numpy()
    computed, issued = call_amounts(
        classes, equity, maintenance, initial, params.customer.min_call_amount
    )

    floats = {
        "ficc_regular_im": ficc_regular_im,
        "cme_regular_im": cme_regular_im,
        "f_sa": f_sa,
        "f_sep": f_sep,
        "f_all": f_all,
        "c_sa": c_sa,
        "c_sep": c_sep,
        "c_all": c_all,
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
    columns = [pl.Series(name, values, dtype=pl.Float64) for name, values in floats.items()]
    columns += [
        pl.Series("n_ficc_positions", cash.count_nonzero_by_account(n)),
        pl.Series("n_cme_positions", futures.count_nonzero_by_account(n)),
        pl.Series("call_amount", np.where(issued, computed, 0), dtype=pl.Int64),
    ]
    return (
        universe.with_columns(columns)
        .with_columns(pl.lit(business_date, dtype=pl.Date).alias("business_date"))
        .select(*MARGIN_COLUMNS, "customer_lei")
    )
