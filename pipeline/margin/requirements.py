"""Per-account requirements of one shard: XM split, F and C, reduction, initial (SPEC §5.3)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import polars as pl

from pipeline.config import Params
from pipeline.errors import InternalError
from pipeline.margin.calls import call_amounts
from pipeline.margin.cme_model import CC_INDEX, N_CC, CcExposure, cme_requirement
from pipeline.margin.ficc_model import ficc_requirement
from pipeline.margin.inputs import MarginInputs
from pipeline.margin.positions import account_universe, netted_cash, netted_futures
from pipeline.margin.sensitivities import key_rate_matrix, per_account_sum

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# SPEC §7.1 column order of margin_by_account.
MARGIN_COLUMNS = (
    "business_date",
    "account_id",
    "account_class",
    "xm_active",
    "hrp",
    "n_ficc_positions",
    "n_cme_positions",
    "ficc_regular_im",
    "cme_regular_im",
    "f_sa",
    "f_sep",
    "f_all",
    "c_sa",
    "c_sep",
    "c_all",
    "r_ficc",
    "r_cme",
    "r_applied",
    "ficc_xm_im",
    "cme_xm_im",
    "ficc_im",
    "cme_im",
    "maintenance_requirement",
    "initial_requirement",
    "equity",
    "excess_deficit",
    "call_amount",
)


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


def _cash_cc(t: FloatArray, cusips: pl.Series, params: Params) -> IntArray:
    """CC of each cash position from `cash_mapping` on remaining years, (lo, hi] (SPEC §5.2)."""
    buckets = params.cme.cash_mapping
    los = np.array([b.lo for b in buckets])
    his = np.array([b.hi for b in buckets])
    codes = np.array([CC_INDEX[b.product] for b in buckets], dtype=np.int64)
    j = np.minimum(np.searchsorted(his, t, side="left"), len(buckets) - 1)
    mapped = (t > los[j]) & (t <= his[j])
    if not mapped.all():
        bad = cusips.filter(pl.Series(~mapped)).unique().sort().head(5).to_list()
        raise InternalError(
            f"treasury_securities.parquet: maturity_date of cusip {bad} gives remaining years "
            f"outside every cme.cash_mapping bucket ({los[0]}, {his[-1]}]; expected the "
            "parameter file to cover them (SPEC §5.2)"
        )
    return codes[j]


def _futures_exposure(futures: pl.DataFrame, xm: bool, n_accounts: int) -> CcExposure:
    """Net and tier-signed DV01 per (account, CC) of the XM or the regular futures (SPEC §5.2)."""
    tiers = (
        futures.filter(pl.col("xm") == xm)
        .group_by("acct", "product_code", "tier")
        .agg(pl.col("s").sum().alias("d"))
        .sort("acct", "product_code", "tier")
    )
    acct = tiers.get_column("acct").to_numpy()
    cc = tiers.get_column("product_code").replace_strict(CC_INDEX, return_dtype=pl.Int64).to_numpy()
    d = tiers.get_column("d").to_numpy()
    return CcExposure(
        net=per_account_sum(acct, cc, d, n_accounts, N_CC),
        up=per_account_sum(acct, cc, np.maximum(d, 0.0), n_accounts, N_CC),
        down=per_account_sum(acct, cc, np.maximum(-d, 0.0), n_accounts, N_CC),
    )


def _count_by_account(acct: pl.Series, n_accounts: int) -> IntArray:
    return np.bincount(acct.to_numpy(), minlength=n_accounts).astype(np.int64)


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
    universe = account_universe(inputs, business_date, shard, n_shards)
    n = universe.height
    tenors = params.key_rate_tenors
    cash = netted_cash(inputs, universe, params, business_date).filter(pl.col("net_par") != 0)
    futures = netted_futures(inputs, universe, params).filter(pl.col("net_qty") != 0)

    # FICC model on the regular cash, the XM cash, the XM futures and their union (SPEC §5.1).
    scenarios = scenario_matrix(inputs, params)
    ficc = params.ficc
    shocks = np.asarray(ficc.floor_shock_bp, dtype=np.float64)

    def f_model(key_rates: FloatArray) -> FloatArray:
        return ficc_requirement(
            key_rates, scenarios, ficc.var_confidence, ficc.floor_fraction, shocks
        )

    def key_rates(frame: pl.DataFrame) -> FloatArray:
        return key_rate_matrix(
            frame.get_column("acct").to_numpy(),
            frame.get_column("s").to_numpy(),
            frame.get_column("t").to_numpy(),
            tenors,
            n,
        )

    xm_cash = cash.filter(pl.col("xm"))
    xm_futures = futures.filter(pl.col("xm"))
    kr_xm_cash = key_rates(xm_cash)
    kr_xm_futures = key_rates(xm_futures)
    ficc_regular_im = f_model(key_rates(cash.filter(~pl.col("xm"))))
    f_sa = f_model(kr_xm_cash)
    f_sep = f_sa + f_model(kr_xm_futures)
    f_all = f_model(kr_xm_cash + kr_xm_futures)

    # CME model on the regular futures, the XM futures, the XM cash and their union (SPEC §5.2).
    cash_cc = _cash_cc(xm_cash.get_column("t").to_numpy(), xm_cash.get_column("cusip"), params)
    cash_exposure = CcExposure.single_tier(
        per_account_sum(
            xm_cash.get_column("acct").to_numpy(),
            cash_cc,
            xm_cash.get_column("s").to_numpy(),
            n,
            N_CC,
        )
    )
    futures_exposure = _futures_exposure(futures, True, n)
    cme_regular_im = cme_requirement(_futures_exposure(futures, False, n), params.cme)
    c_sa = cme_requirement(futures_exposure, params.cme)
    c_sep = c_sa + cme_requirement(cash_exposure, params.cme)
    c_all = cme_requirement(futures_exposure + cash_exposure, params.cme)

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
        pl.Series("n_ficc_positions", _count_by_account(cash.get_column("acct"), n)),
        pl.Series("n_cme_positions", _count_by_account(futures.get_column("acct"), n)),
        pl.Series("call_amount", np.where(issued, computed, 0), dtype=pl.Int64),
    ]
    return (
        universe.with_columns(columns)
        .with_columns(pl.lit(business_date, dtype=pl.Date).alias("business_date"))
        .select(*MARGIN_COLUMNS, "customer_lei")
    )
