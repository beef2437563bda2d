"""The generated Treasury security master and CME futures contract master (SPEC §2.2, §2.4).

The security universe follows the Treasury's issuance calendar back from D (monthly 2/3/5/7-year
notes, quarterly 10-year notes and 20/30-year bonds, TIPS, 2-year FRNs, weekly bills, principal
STRIPS) so maturities, issue dates and coupons look like a real end-of-day security master.
Coupons come from the yield level of the issue year; marks come from today's curve.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from pipeline.generate import curve as cv
from pipeline.generate.identifiers import base36, cusip_check_digit
from pipeline.generate.products import ALL_CODES, ProductSpec, specs_for

# Approximate 10-year Treasury yield (percent) by year: sets the coupons of older issues.
_HISTORY = np.array(
    [
        (1995, 6.6), (1998, 5.3), (2000, 6.0), (2002, 4.6), (2005, 4.3), (2007, 4.6),
        (2009, 3.3), (2011, 2.8), (2012, 1.8), (2013, 2.4), (2015, 2.1), (2017, 2.3),
        (2018, 2.9), (2019, 2.1), (2020, 0.9), (2021, 1.45), (2022, 3.0), (2023, 4.0),
        (2024, 4.2), (2025, 4.3), (2026, 4.1), (2030, 4.1),
    ],
    dtype=np.float64,
)  # fmt: skip
# TIPS real yields sit roughly a breakeven inflation rate below nominal yields.
_BREAKEVEN_PCT = 2.3


@dataclass(frozen=True)
class _Program:
    """One Treasury issuance program: what is auctioned, how long, how often, on which day."""

    security_type: str
    term_months: int
    every_months: int
    first_month: int  # calendar month (1-12) of one auction in the cycle
    day: int  # 15 or 31 (= end of month)
    since_year: int


_PROGRAMS = (
    _Program("NOTE", 24, 1, 1, 31, 1990),
    _Program("NOTE", 36, 1, 1, 15, 1990),
    _Program("NOTE", 60, 1, 1, 31, 1990),
    _Program("NOTE", 84, 1, 1, 31, 1990),
    _Program("NOTE", 120, 3, 2, 15, 1990),
    _Program("BOND", 240, 3, 2, 15, 2020),
    _Program("BOND", 360, 3, 2, 15, 1995),
    _Program("TIPS", 60, 6, 4, 15, 1990),
    _Program("TIPS", 120, 6, 1, 15, 1990),
    _Program("TIPS", 360, 12, 2, 15, 2010),
    _Program("FRN", 24, 3, 1, 31, 2014),
)
_BILL_WEEKS = (4, 6, 8, 13, 17, 26, 52)
_N_STRIPS = 40


def _history_yield(issue: npt.NDArray[np.datetime64]) -> npt.NDArray[np.float64]:
    years = issue.astype("datetime64[D]").astype(np.float64) / 365.25 + 1970.0
    out: npt.NDArray[np.float64] = np.interp(years, _HISTORY[:, 0], _HISTORY[:, 1])
    return out


def _round_eighth(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = np.maximum(np.round(x * 8.0) / 8.0, 0.125)
    return out


@dataclass(frozen=True)
class _Issues:
    """Outstanding coupon securities (notes, bonds, TIPS, FRNs), one entry per CUSIP."""

    security_type: npt.NDArray[np.str_]
    term_months: npt.NDArray[np.int64]
    issue: npt.NDArray[np.datetime64]
    maturity: npt.NDArray[np.datetime64]
    maturity_month: npt.NDArray[np.int64]
    day: npt.NDArray[np.int64]
    eom: npt.NDArray[np.bool_]


def _coupon_issues(business_date: dt.date) -> _Issues:
    """Every note/bond/TIPS/FRN auction of the programs still outstanding on D."""
    d = np.datetime64(business_date, "D")
    now = cv.month_index(business_date)
    kinds: list[str] = []
    terms, issue_m, days = [], [], []
    for p in _PROGRAMS:
        months = np.arange(now - p.term_months, now + 1, dtype=np.int64)
        months = months[((months % 12) + 1 - p.first_month) % p.every_months == 0]
        months = months[months // 12 >= p.since_year]
        kinds += [p.security_type] * len(months)
        terms.append(np.full(len(months), p.term_months, dtype=np.int64))
        issue_m.append(months)
        days.append(np.full(len(months), p.day, dtype=np.int64))
    term = np.concatenate(terms)
    issue_month = np.concatenate(issue_m)
    day = np.concatenate(days)
    eom = day == 31
    issue = cv.month_day(issue_month, day, eom)
    maturity_month = issue_month + term
    maturity = cv.month_day(maturity_month, day, eom)
    # Outstanding on D: auctioned (issued on or before D) and not yet matured.
    keep = (issue <= d) & (maturity > d)
    return _Issues(
        security_type=np.array(kinds, dtype="U6")[keep],
        term_months=term[keep],
        issue=issue[keep],
        maturity=maturity[keep],
        maturity_month=maturity_month[keep],
        day=day[keep],
        eom=eom[keep],
    )


def _bills(business_date: dt.date) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.datetime64]]:
    """Outstanding bills: weekly Thursday auctions; bills maturing the same day are one CUSIP."""
    d = np.datetime64(business_date, "D")
    last_thursday = np.busday_offset(d, 0, roll="backward", weekmask="Thu")
    issues, maturities = [], []
    for weeks in _BILL_WEEKS:
        every = 4 if weeks == 52 else 1
        back = np.arange(0, weeks, every, dtype=np.int64)
        issue = last_thursday - (back * 7).astype("timedelta64[D]")
        issues.append(issue)
        maturities.append(issue + np.timedelta64(weeks * 7, "D"))
    issue = np.concatenate(issues)
    maturity = np.concatenate(maturities)
    keep = maturity > d
    issue, maturity = issue[keep], maturity[keep]
    # The earliest auction of a maturity date carries the CUSIP (later ones are reopenings).
    order = np.lexsort((issue, maturity))
    issue, maturity = issue[order], maturity[order]
    first = np.concatenate([[True], maturity[1:] != maturity[:-1]])
    return issue[first], maturity[first]


def _cusips(prefix: npt.NDArray[np.str_], rng: np.random.Generator) -> list[str]:
    """Unique CUSIPs: issuer prefix + two sequential issue characters + check digit."""
    bases = np.empty(len(prefix), dtype="U8")
    for pre in np.unique(prefix):
        idx = np.flatnonzero(prefix == pre)
        # Issue numbers run in sequence within an issuer number, from a seed-dependent start.
        start = int(rng.integers(0, 36 * 36 - len(idx)))
        codes = base36(np.arange(start, start + len(idx), dtype=np.int64), 2)
        bases[idx] = np.char.add(str(pre), codes)
    # A few hundred securities: a plain loop over the universe is not a hot path.
    return [str(base) + cusip_check_digit(str(base)) for base in bases]


def treasury_universe(
    business_date: dt.date, curve: cv.NelsonSiegel, rng: np.random.Generator
) -> pl.DataFrame:
    """The security master of D: SPEC §2.2 columns plus `years` (remaining, 365.25 basis)."""
    d = np.datetime64(business_date, "D")
    c = _coupon_issues(business_date)
    bill_issue, bill_maturity = _bills(business_date)

    # Principal STRIPS: a sample of the quarterly 15th maturities out to 30 years.
    now = cv.month_index(business_date)
    strip_months = np.arange(now + 1, now + 361, dtype=np.int64)
    strip_months = strip_months[(strip_months % 12) % 3 == 1]
    strip_months = np.sort(rng.choice(strip_months, size=_N_STRIPS, replace=False))
    strip_maturity = cv.month_day(strip_months, 15, np.zeros(_N_STRIPS, dtype=bool))
    strip_issue = cv.month_day(strip_months - 360, 15, np.zeros(_N_STRIPS, dtype=bool))
    strip_issue = np.minimum(strip_issue, d)

    n_c, n_b, n_s = len(c.issue), len(bill_issue), _N_STRIPS
    sec_type = np.concatenate(
        [c.security_type, np.full(n_b, "BILL"), np.full(n_s, "STRIPS")]
    ).astype("U6")
    issue = np.concatenate([c.issue, bill_issue, strip_issue])
    maturity = np.concatenate([c.maturity, bill_maturity, strip_maturity])
    days = (maturity - d).astype(np.int64).astype(np.float64)
    years = days / 365.25
    n = len(sec_type)

    # Coupon at auction: that year's yield level, moved along today's curve shape to the term.
    term_years = c.term_months.astype(np.float64) / 12.0
    shape = curve.yield_pct(term_years) - curve.yield_pct(np.full(n_c, 10.0))
    hist = _history_yield(c.issue) + shape + rng.normal(0.0, 0.10, n_c)
    coupon_c = np.where(c.security_type == "TIPS", hist - _BREAKEVEN_PCT, hist)
    coupon_c = _round_eighth(coupon_c)
    frn = c.security_type == "FRN"
    # An FRN pays the 13-week bill rate plus the spread fixed at its first auction.
    frn_spread = np.round(rng.uniform(0.0, 0.20, n_c), 3)
    coupon_c = np.where(
        frn, np.round(curve.yield_pct(np.full(n_c, 0.25)) + frn_spread, 3), coupon_c
    )
    coupon = np.concatenate([coupon_c, np.zeros(n_b + n_s)])

    # Yield of each security: the curve at its remaining maturity plus a small off-the-run spread.
    yld = curve.yield_pct(years) + rng.normal(0.0, 0.02, n)
    yld = np.where(sec_type == "TIPS", yld - _BREAKEVEN_PCT, yld)

    clean = np.zeros(n)
    accrued = np.zeros(n)
    dv01 = np.zeros(n)

    fixed = np.isin(c.security_type, ["NOTE", "BOND", "TIPS"])
    sched = cv.coupon_schedule(business_date, c.maturity_month, c.day, c.eom)
    frac = sched.fraction_to_next(business_date)
    y_c, cpn = yld[:n_c], coupon_c
    dirty = cv.coupon_bond_dirty(cpn, y_c, sched.remaining, frac)
    up = cv.coupon_bond_dirty(cpn, y_c + 0.01, sched.remaining, frac)
    down = cv.coupon_bond_dirty(cpn, y_c - 0.01, sched.remaining, frac)
    acc_fixed = cpn / 2.0 * (1.0 - frac)

    # FRN: quarterly coupons; the price stays near par and rate risk runs only to the weekly reset.
    q = cv.coupon_schedule(business_date, c.maturity_month, c.day, c.eom, 3)
    qfrac = q.fraction_to_next(business_date)
    acc_frn = cpn / 4.0 * (1.0 - qfrac)
    # The market's discount margin drifts a few bp from the fixed spread: price ≈ par ± margin·t.
    frn_clean = 100.0 - rng.normal(0.0, 0.03, n_c) * years[:n_c]
    # The rate resets weekly after the Monday 13-week bill auction.
    reset_days = float((np.busday_offset(d, 1, roll="forward", weekmask="Tue") - d).astype(int))
    frn_dv01 = (frn_clean + acc_frn) * reset_days / 365.0 / 10_000.0

    clean[:n_c] = np.where(fixed, dirty - acc_fixed, frn_clean)
    accrued[:n_c] = np.where(fixed, acc_fixed, acc_frn)
    dv01[:n_c] = np.where(fixed, cv.central_dv01(up, down), frn_dv01)

    b = slice(n_c, n_c + n_b)
    clean[b] = cv.bill_price(yld[b], days[b])
    dv01[b] = cv.central_dv01(
        cv.bill_price(yld[b] + 0.01, days[b]), cv.bill_price(yld[b] - 0.01, days[b])
    )
    s = slice(n_c + n_b, n)
    clean[s] = cv.zero_price(yld[s], years[s])
    dv01[s] = cv.central_dv01(
        cv.zero_price(yld[s] + 0.01, years[s]), cv.zero_price(yld[s] - 0.01, years[s])
    )

    issue_d = issue.astype("datetime64[D]")
    prefix = np.select(
        [
            sec_type == "BILL",
            sec_type == "STRIPS",
            sec_type == "BOND",
            issue_d < np.datetime64("2020-07-01"),
        ],
        ["912797", "912803", "912810", "912828"],
        "91282C",
    )
    # A few older-series bills still carry the 912796 issuer number.
    prefix = np.where((sec_type == "BILL") & (rng.random(n) < 0.25), "912796", prefix)
    cusips = _cusips(prefix.astype("U6"), rng)

    frame = pl.DataFrame(
        {
            "cusip": cusips,
            "security_type": sec_type.tolist(),
            "coupon_rate": np.round(coupon, 3),
            "issue_date": issue_d,
            "maturity_date": maturity.astype("datetime64[D]"),
            "clean_price": np.round(clean, 6),
            "accrued_interest": np.round(accrued, 6),
            "dv01_per_100": np.maximum(np.round(dv01, 6), 1e-6),
            "years": years,
            "yield_pct": yld,
        }
    )
    return frame.with_columns(pl.col("issue_date", "maturity_date").cast(pl.Date)).sort(
        "maturity_date", "security_type", "cusip"
    )


_MONTH_CODES = "FGHJKMNQUVXZ"
_N_TREASURY_MONTHS = 3


def _contract_ids(code: str, months: npt.NDArray[np.int64]) -> list[str]:
    return [f"{code}{_MONTH_CODES[int(m) % 12]}{(int(m) // 12) % 10}" for m in months]


def _third_wednesday(months: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
    first = cv.month_day(months, 1, np.zeros(len(months), dtype=bool))
    out: npt.NDArray[np.datetime64] = np.busday_offset(first, 2, roll="forward", weekmask="Wed")
    return out


def _tick(price: npt.NDArray[np.float64], tick: float) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = np.round(price / tick) * tick
    return out


def futures_contracts(
    business_date: dt.date,
    curve: cv.NelsonSiegel,
    rng: np.random.Generator,
    products: tuple[str, ...] = ALL_CODES,
) -> pl.DataFrame:
    """The contract master of D: SPEC §2.4 columns plus `point_value` and `prior_settlement`.

    One block of contracts per product of `products` (the parameter file's `cme.products`), in
    the order of `pipeline.generate.products.PRODUCTS`.
    """
    d = np.datetime64(business_date, "D")
    now = cv.month_index(business_date)
    frames: list[pl.DataFrame] = []

    quarterly = np.arange(now, now + 24, dtype=np.int64)
    quarterly = quarterly[quarterly % 3 == 2]
    month_end = cv.month_day(quarterly, 31, np.ones(len(quarterly), dtype=bool))
    # A quarterly Treasury contract trades until late in its delivery month.
    quarterly = quarterly[month_end - np.timedelta64(10, "D") > d][:_N_TREASURY_MONTHS]
    delivery = cv.month_day(quarterly, 1, np.zeros(len(quarterly), dtype=bool))
    to_delivery = (delivery - d).astype(np.int64) / 365.25
    for spec in specs_for(products):
        if spec.kind != "treasury":
            frames.append(_short_rate(spec, now, d, curve))
            continue
        k = len(quarterly)
        tenor = to_delivery + spec.ctd_years
        cpn = np.full(k, spec.ctd_coupon)
        yld = curve.yield_pct(tenor)
        # Price the CTD on a regular semi-annual grid from D; the conversion factor is its
        # price at 6% over the remaining term at delivery, per the CBOT convention.
        remaining = np.ceil(tenor * 2.0).astype(np.int64)
        frac = tenor * 2.0 - (remaining - 1)
        dirty = cv.coupon_bond_dirty(cpn, yld, remaining, frac)
        ctd_dv01 = cv.central_dv01(
            cv.coupon_bond_dirty(cpn, yld + 0.01, remaining, frac),
            cv.coupon_bond_dirty(cpn, yld - 0.01, remaining, frac),
        )
        n_cf = np.full(k, int(np.floor(spec.ctd_years * 4.0)) // 2, dtype=np.int64)
        factor = cv.coupon_bond_dirty(cpn, np.full(k, 6.0), n_cf, np.ones(k)) / 100.0
        clean = dirty - cpn / 2.0 * (1.0 - frac)
        frames.append(
            pl.DataFrame(
                {
                    "contract_id": _contract_ids(spec.code, quarterly),
                    "product_code": [spec.code] * k,
                    "maturity_month": [f"{m // 12:04d}{m % 12 + 1:02d}" for m in quarterly],
                    "settlement_price": _tick(clean / factor, 1.0 / 64.0),
                    # Price points per bp of the CTD, in USD per contract, over its factor.
                    "dv01_per_contract": np.round(ctd_dv01 * spec.point_value / factor, 2),
                    "risk_tenor_years": np.round(tenor, 4),
                    "point_value": np.full(k, spec.point_value),
                    "exchange": [spec.exchange] * k,
                    "tick": np.full(k, 1.0 / 64.0),
                }
            )
        )
    contracts = pl.concat(frames, how="vertical")
    # Yesterday's settlement: every contract moved with one overnight rate change of its own.
    dy = rng.normal(0.0, 4.0, contracts.height)
    prior = (
        contracts["settlement_price"].to_numpy()
        + contracts["dv01_per_contract"].to_numpy() * dy / contracts["point_value"].to_numpy()
    )
    tick = contracts["tick"].to_numpy()
    return contracts.with_columns(prior_settlement=pl.Series(np.round(prior / tick) * tick))


def _short_rate(
    spec: ProductSpec, now: int, d: np.datetime64, curve: cv.NelsonSiegel
) -> pl.DataFrame:
    """The listed contracts of a SOFR or fed funds future (SPEC §2.4)."""
    if spec.kind == "sofr_quarterly":
        # The reference quarter runs from the contract month's third Wednesday to the next IMM
        # date; the contract trades until that quarter ends, its risk fading as days fix.
        months = np.arange(now - 3, now + 3 * spec.listed + 6, dtype=np.int64)
        months = months[months % 3 == 2]
        start, end = _third_wednesday(months), _third_wednesday(months + 3)
        live = end > d
        months, start, end = (
            months[live][: spec.listed],
            start[live][: spec.listed],
            end[live][: spec.listed],
        )
    else:
        months = np.arange(now, now + spec.listed, dtype=np.int64)
        start = cv.month_day(months, 1, np.zeros(spec.listed, dtype=bool))
        end = cv.month_day(months + 1, 1, np.zeros(spec.listed, dtype=bool))
    return _stir(
        spec.code, months, start, end, d, curve, spec.period_dv01, spec.point_value, spec.tick,
        spec.exchange,
    )  # fmt: skip


def _stir(
    code: str,
    months: npt.NDArray[np.int64],
    start: npt.NDArray[np.datetime64],
    end: npt.NDArray[np.datetime64],
    d: np.datetime64,
    curve: cv.NelsonSiegel,
    full_dv01: float,
    point_value: float,
    tick: float,
    exchange: str,
) -> pl.DataFrame:
    """SOFR and fed funds futures: price 100 − forward rate; risk tenor = years to period start."""
    t0 = np.maximum((start - d).astype(np.int64), 0) / 365.25
    t1 = (end - d).astype(np.int64) / 365.25
    # SOFR and fed funds fix a few bp under the Treasury bill curve the forwards come from.
    price = _tick(100.0 - curve.forward_pct(t0, t1) + 0.05, tick)
    # Once the reference period has started, the days already fixed carry no rate risk.
    left = (end - np.maximum(start, d)).astype(np.int64) / (end - start).astype(np.int64)
    k = len(months)
    return pl.DataFrame(
        {
            "contract_id": _contract_ids(code, months),
            "product_code": [code] * k,
            "maturity_month": [f"{m // 12:04d}{m % 12 + 1:02d}" for m in months],
            "settlement_price": price,
            "dv01_per_contract": np.round(full_dv01 * left, 2),
            "risk_tenor_years": np.round(t0, 4),
            "point_value": np.full(k, point_value),
            "exchange": [exchange] * k,
            "tick": np.full(k, tick),
        }
    )
