"""The generated markets and books look like the real thing: prices, DV01s, hedges, calls."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from pipeline.contracts.checkdigits import cusip_is_valid, lei_is_valid
from pipeline.generate import book
from pipeline.generate import curve as cv
from pipeline.generate.identifiers import cusip_check_digit, lei_check_digits
from pipeline.generate.universe import futures_contracts, treasury_universe

D = dt.date(2026, 11, 20)
Text = Callable[[str], pl.DataFrame]


@pytest.fixture(scope="module")
def curve() -> cv.NelsonSiegel:
    return cv.curve_for(np.random.default_rng(3))


@pytest.fixture(scope="module")
def securities(curve: cv.NelsonSiegel) -> pl.DataFrame:
    return treasury_universe(D, curve, np.random.default_rng(4))


@pytest.fixture(scope="module")
def contracts(curve: cv.NelsonSiegel) -> pl.DataFrame:
    return futures_contracts(D, curve, np.random.default_rng(5))


# --- identifiers -------------------------------------------------------------------------


def _valid(check: Callable[[pl.Expr], pl.Expr], code: str) -> bool:
    """One code through the data contracts' check-digit rule (the gate a run applies)."""
    return bool(pl.select(check(pl.lit(code))).item())


@pytest.mark.parametrize("cusip", ["037833100", "38259P508", "594918104", "91282CQ87"])
def test_known_cusips_are_valid(cusip: str) -> None:
    assert cusip_check_digit(cusip[:8]) == cusip[8]
    assert _valid(cusip_is_valid, cusip)
    wrong = cusip[:8] + str((int(cusip[8]) + 1) % 10)
    assert not _valid(cusip_is_valid, wrong)


def test_known_leis_and_vectorised_digits() -> None:
    assert _valid(lei_is_valid, "HWUPKR0MPOU8FGXBT394")  # a published LEI
    assert _valid(lei_is_valid, "549300XM100000000060")  # golden case 01
    assert not _valid(lei_is_valid, "HWUPKR0MPOU8FGXBT395")
    bases = np.array(["HWUPKR0MPOU8FGXBT3", "549300XM1000000000", "5493001KJTIIGC8Y1R"])
    assert lei_check_digits(bases).tolist() == ["94", "60", "12"]


# --- pricing -------------------------------------------------------------------------------


def test_par_bond_prices_at_par_and_hand_worked_two_period_bond() -> None:
    one = np.ones(1)
    par = cv.coupon_bond_dirty(np.array([4.0]), np.array([4.0]), np.array([20]), one)
    assert par[0] == pytest.approx(100.0, abs=1e-9)
    # Two coupons of 3 and 100 back, 6% a year semi-annual, a full period to the next coupon.
    two = cv.coupon_bond_dirty(np.array([6.0]), np.array([6.0]), np.array([2]), one)
    assert two[0] == pytest.approx(3 / 1.03 + 103 / 1.03**2)
    assert cv.bill_price(np.array([4.0]), np.array([91.0]))[0] == pytest.approx(
        100 / (1 + 0.04 * 91 / 365)
    )


def test_price_falls_as_yield_rises_and_dv01_is_the_slope() -> None:
    yields = np.linspace(1.0, 8.0, 29)
    n = len(yields)
    price = cv.coupon_bond_dirty(np.full(n, 4.0), yields, np.full(n, 20), np.full(n, 0.6))
    assert (np.diff(price) < 0).all()
    up = cv.coupon_bond_dirty(np.full(n, 4.0), yields + 0.01, np.full(n, 20), np.full(n, 0.6))
    down = cv.coupon_bond_dirty(np.full(n, 4.0), yields - 0.01, np.full(n, 20), np.full(n, 0.6))
    dv01 = cv.central_dv01(up, down)
    # Convexity: DV01 falls as yields rise; slope between grid points matches the DV01.
    assert (np.diff(dv01) < 0).all()
    slope = -np.diff(price) / np.diff(yields) / 100.0
    assert np.allclose(slope, (dv01[1:] + dv01[:-1]) / 2, rtol=2e-3)


def test_ten_year_note_and_long_bond_dv01(securities: pl.DataFrame) -> None:
    notes = securities.filter(pl.col("security_type") == "NOTE", pl.col("years") > 9.5)
    assert notes.height > 0
    assert notes["dv01_per_100"].is_between(0.074, 0.09).all()
    bonds = securities.filter(pl.col("security_type") == "BOND", pl.col("years") > 28)
    assert bonds.height > 0 and bonds["dv01_per_100"].is_between(0.13, 0.21).all()
    bills = securities.filter(pl.col("security_type") == "BILL")
    assert (bills["dv01_per_100"] < 0.011).all() and (bills["clean_price"] < 100).all()
    frn = securities.filter(pl.col("security_type") == "FRN")
    assert (frn["dv01_per_100"] < 0.001).all()
    assert frn["clean_price"].is_between(99.5, 100.5).all()


def test_premium_iff_coupon_above_yield(securities: pl.DataFrame) -> None:
    fixed = securities.filter(
        pl.col("security_type").is_in(["NOTE", "BOND"]),
        (pl.col("coupon_rate") - pl.col("yield_pct")).abs() > 0.1,
        pl.col("years") > 1,
    )
    premium = fixed["clean_price"] > 100
    assert (premium == (fixed["coupon_rate"] > fixed["yield_pct"])).all()


def test_longer_maturity_more_dv01_for_coupon_securities(securities: pl.DataFrame) -> None:
    fixed = securities.filter(pl.col("security_type").is_in(["NOTE", "BOND"]))
    rho = fixed.select(pl.corr("years", "dv01_per_100", method="spearman")).item()
    assert rho > 0.95


# --- futures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "lo", "hi"),
    [
        ("ZT", 30, 50),
        ("Z3N", 40, 70),
        ("ZF", 35, 55),
        ("ZN", 55, 85),
        ("TN", 80, 110),
        ("ZB", 130, 200),
        ("TWE", 120, 200),
        ("UB", 200, 300),
    ],
)
def test_treasury_futures_dv01(contracts: pl.DataFrame, product: str, lo: float, hi: float) -> None:
    rows = contracts.filter(pl.col("product_code") == product)
    assert rows.height == 3
    assert rows["dv01_per_contract"].is_between(lo, hi).all()
    # Quarterly delivery months only.
    assert set(rows["maturity_month"].str.slice(4, 2)) <= {"03", "06", "09", "12"}


def test_rate_futures_match_the_golden_tenors(contracts: pl.DataFrame) -> None:
    """Hand-worked in tests/golden/01: years from D to the start of the reference period."""
    by_id = {r["contract_id"]: r for r in contracts.iter_rows(named=True)}
    assert by_id["SR3Z6"]["risk_tenor_years"] == pytest.approx(0.0712)
    assert by_id["SR3H7"]["risk_tenor_years"] == pytest.approx(0.3203)
    assert by_id["SR1Z6"]["risk_tenor_years"] == pytest.approx(0.0301)
    assert by_id["ZQF7"]["risk_tenor_years"] == pytest.approx(0.1150)
    assert by_id["SR3Z6"]["dv01_per_contract"] == 25.0
    assert by_id["SR1Z6"]["dv01_per_contract"] == 41.67
    # The periods already running (Sep-Dec SR3, November SR1/ZQ) sit at tenor 0 with less risk.
    for started in ("SR3U6", "SR1X6", "ZQX6"):
        assert by_id[started]["risk_tenor_years"] == 0.0
        assert 0 < by_id[started]["dv01_per_contract"] < 41.67
    assert contracts.filter(pl.col("product_code") == "SR3").height >= 16


# --- books --------------------------------------------------------------------------------


def test_basis_trades_are_dv01_hedged(
    securities: pl.DataFrame, contracts: pl.DataFrame, curve: cv.NelsonSiegel
) -> None:
    settle = (D, *(D + dt.timedelta(days=k) for k in (3, 4, 5, 6, 7)))
    universe = book.build_universe(
        D, 2_000, securities, contracts, settle, np.random.default_rng(6)
    )
    chunk = book.build_chunk(universe, 0, 2_000, 1, np.random.default_rng(7))
    basis = chunk.basis_trades.join(
        contracts.select("contract_id", "dv01_per_contract"), on="contract_id"
    )
    assert basis.height > 1_000
    residual = (basis["cash_dv01"] + basis["futures_dv01"]).abs()
    gross = basis["cash_dv01"].abs() + basis["futures_dv01"].abs()
    # Within half a contract plus the rounding of par to a lot, and tiny against the gross.
    assert (residual <= 0.5 * basis["dv01_per_contract"] + 0.01 * gross).all()
    assert residual.sum() / gross.sum() < 0.03
    # Long and short basis both occur; the cash leg and the futures leg always face each other.
    assert (basis["cash_dv01"] > 0).any() and (basis["cash_dv01"] < 0).any()
    assert (basis["cash_dv01"] * basis["futures_dv01"] < 0).all()


def test_position_counts_per_account(text: Text, reports: pl.DataFrame) -> None:
    """About 50 FICC rows and 10 CME reports per account, heavy-tailed across accounts."""
    ficc = text("ficc_positions")
    n = text("accounts").height
    assert 35 < ficc.height / n < 70
    assert 6 < reports.height / n < 15
    per_account = ficc.group_by("account_id").len()["len"]
    assert per_account.max() > 5 * per_account.median()  # type: ignore[operator]


def test_a_realistic_minority_of_customers_is_called(
    text: Text, reports: pl.DataFrame, business_date: dt.date
) -> None:
    """SPEC §5.4 applied by the margin engine to the generated set: roughly 5–15% called."""
    from pipeline.config import select_params
    from pipeline.margin import MarginInputs, compute_account_margin

    dates = ("xm_opt_in_date", "subordination_agreement_date", "disclosure_ack_date")
    accounts = text("accounts").with_columns(
        pl.col(*dates).str.to_date(),
        pl.col("hrp") == "true",
        pl.col("ficc_multiplier").cast(pl.Float64),
    )
    securities = text("treasury_securities").with_columns(
        pl.col("issue_date", "maturity_date").str.to_date(),
        pl.col("coupon_rate", "clean_price", "accrued_interest", "dv01_per_100").cast(pl.Float64),
    )
    contracts = text("cme_contracts").with_columns(
        pl.col("settlement_price", "dv01_per_contract", "risk_tenor_years").cast(pl.Float64)
    )
    ficc = text("ficc_positions").with_columns(
        pl.col("business_date", "settlement_date").str.to_date(),
        pl.col("par_amount").cast(pl.Int64),
    )
    money = ("cash_balance", "securities_collateral_value", "collateral_haircut_pct")
    balances = text("balances").with_columns(
        pl.col(*money, "ficc_margin_on_deposit").cast(pl.Float64),
        pl.col("debit_unsecured", "debit_doubtful") == "true",
    )
    scenarios = text("ficc_var_scenarios").with_columns(
        pl.col("scenario_id").cast(pl.Int64), pl.exclude("scenario_id").cast(pl.Float64)
    )
    cme = reports.select(
        "rpt_id",
        pl.col("biz_dt").str.to_date().alias("business_date"),
        "account_id",
        "clearing_firm_id",
        "contract_id",
        "product_symbol",
        "maturity_month",
        pl.col("sod_long", "sod_short").cast(pl.Int64),
        pl.col("fin_long").cast(pl.Int64).alias("long_qty"),
        pl.col("fin_short").cast(pl.Int64).alias("short_qty"),
        pl.col("fmtm").cast(pl.Float64).alias("fmtm_amount"),
        pl.col("set_px").cast(pl.Float64).alias("settlement_price"),
    )
    inputs = MarginInputs.from_frames(
        accounts=accounts,
        treasury_securities=securities,
        cme_contracts=contracts,
        ficc_positions=ficc,
        cme_positions=cme,
        balances=balances,
        ficc_var_scenarios=scenarios,
    )
    margin = compute_account_margin(inputs, select_params(business_date, None), business_date)
    customers = margin.filter(pl.col("account_class") == "CUSTOMER")
    called = (customers["call_amount"] > 0).mean()
    assert called is not None and 0.04 <= float(called) <= 0.16, called
    # XM-active customers exist and earn a reduction on their hedged books.
    xm = customers.filter(pl.col("xm_active"))
    assert xm.height > 0 and (xm["r_applied"] > 0).mean() > 0.5  # type: ignore[operator]
    assert not math.isnan(float(customers["maintenance_requirement"].sum()))
