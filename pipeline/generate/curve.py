"""Yield curve and vectorised bond pricing for the generated security master (SPEC §2.2, §2.4).

Prices and DV01s are not drawn at random: each security is priced off a Nelson-Siegel par curve
with the street formulas (semi-annual coupon bonds, money-market bills, semi-annual zeros), so
that `clean_price`, `accrued_interest` and `dv01_per_100` agree with each other and with the
security's coupon and maturity the way a real end-of-day mark does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DateArray = npt.NDArray[np.datetime64]

_EPOCH_MONTH = 1970 * 12
# Longest coupon schedule priced: a 30-year bond has 60 semi-annual coupons; 62 leaves headroom.
_MAX_PERIODS = 62


@dataclass(frozen=True)
class NelsonSiegel:
    """A Nelson-Siegel yield curve in percent: y(t) = b0 + b1·f1(t) + b2·f2(t)."""

    beta0: float
    beta1: float
    beta2: float
    tau: float

    def yield_pct(self, years: FloatArray) -> FloatArray:
        """Yield in percent at each maturity in years (t → 0 gives b0 + b1)."""
        t = np.maximum(np.asarray(years, dtype=np.float64), 1e-6) / self.tau
        f1 = (1.0 - np.exp(-t)) / t
        f2 = f1 - np.exp(-t)
        out: FloatArray = self.beta0 + self.beta1 * f1 + self.beta2 * f2
        return out

    def forward_pct(self, start: FloatArray, end: FloatArray) -> FloatArray:
        """Simple forward rate in percent between two horizons (continuous-compounding proxy)."""
        s = np.asarray(start, dtype=np.float64)
        e = np.asarray(end, dtype=np.float64)
        growth = self.yield_pct(e) * e - self.yield_pct(s) * s
        out: FloatArray = growth / np.maximum(e - s, 1e-6)
        return out


def curve_for(rng: np.random.Generator) -> NelsonSiegel:
    """A late-2020s-shaped Treasury curve (≈3.8% front, 4.2% 10y, 4.4% 30y), perturbed by seed."""
    return NelsonSiegel(
        beta0=4.55 + rng.normal(0.0, 0.10),
        beta1=-0.75 + rng.normal(0.0, 0.10),
        beta2=-1.20 + rng.normal(0.0, 0.20),
        tau=1.8,
    )


def month_index(day: dt.date) -> int:
    """Months since year 0 (year·12 + month − 1): arithmetic on months without calendars."""
    return day.year * 12 + day.month - 1


def month_day(
    months: IntArray, day: IntArray | int, end_of_month: npt.NDArray[np.bool_]
) -> DateArray:
    """The date in each month index: that day (clamped to the month) or the month's last day."""
    first = (np.asarray(months, dtype=np.int64) - _EPOCH_MONTH).astype("datetime64[M]")
    last = (first + 1).astype("datetime64[D]") - np.timedelta64(1, "D")
    wanted = first.astype("datetime64[D]") + (np.asarray(day, dtype=np.int64) - 1)
    out: DateArray = np.where(end_of_month | (wanted > last), last, wanted)
    return out


def _days(later: DateArray, earlier: DateArray | np.datetime64) -> FloatArray:
    out: FloatArray = (later - earlier).astype("timedelta64[D]").astype(np.float64)
    return out


@dataclass(frozen=True)
class CouponSchedule:
    """Where D sits in each bond's semi-annual schedule."""

    previous: DateArray
    next: DateArray
    remaining: IntArray  # coupons still to be paid, the one on `next` included

    def fraction_to_next(self, business_date: dt.date) -> FloatArray:
        """Actual/actual fraction of the current period still to run."""
        d = np.datetime64(business_date, "D")
        out: FloatArray = _days(self.next, d) / _days(self.next, self.previous)
        return out


def coupon_schedule(
    business_date: dt.date,
    maturity_month: IntArray,
    maturity_day: IntArray,
    end_of_month: npt.NDArray[np.bool_],
    months_per_period: int = 6,
) -> CouponSchedule:
    """Previous and next coupon dates around D for bonds paying every `months_per_period`."""
    d = np.datetime64(business_date, "D")
    periods_back = (maturity_month - month_index(business_date)) // months_per_period
    candidate = month_day(
        maturity_month - months_per_period * periods_back, maturity_day, end_of_month
    )
    # The candidate is in D's month or later; if it is on or before D the next coupon is one later.
    remaining = np.where(candidate > d, periods_back + 1, periods_back)
    nxt = month_day(
        maturity_month - months_per_period * (remaining - 1), maturity_day, end_of_month
    )
    prev = month_day(maturity_month - months_per_period * remaining, maturity_day, end_of_month)
    return CouponSchedule(previous=prev, next=nxt, remaining=remaining.astype(np.int64))


def coupon_bond_dirty(
    coupon_pct: FloatArray, yield_pct: FloatArray, remaining: IntArray, fraction: FloatArray
) -> FloatArray:
    """Dirty price per 100 of semi-annual coupon bonds (street convention, fractional period)."""
    periods = np.arange(_MAX_PERIODS, dtype=np.float64)[None, :]
    alive = periods < remaining[:, None]
    discount = (1.0 + yield_pct[:, None] / 200.0) ** -(fraction[:, None] + periods)
    coupons = np.where(alive, coupon_pct[:, None] / 2.0 * discount, 0.0).sum(axis=1)
    last = (1.0 + yield_pct / 200.0) ** -(fraction + remaining - 1)
    out: FloatArray = coupons + 100.0 * last
    return out


def bill_price(yield_pct: FloatArray, days: FloatArray) -> FloatArray:
    """Price per 100 of a bill from its money-market (actual/365) yield."""
    out: FloatArray = 100.0 / (1.0 + yield_pct / 100.0 * days / 365.0)
    return out


def zero_price(yield_pct: FloatArray, years: FloatArray) -> FloatArray:
    """Price per 100 of a STRIPS from its semi-annual bond-equivalent yield."""
    out: FloatArray = 100.0 * (1.0 + yield_pct / 200.0) ** (-2.0 * years)
    return out


def central_dv01(prices_up: FloatArray, prices_down: FloatArray) -> FloatArray:
    """DV01 per 100 par from prices at yield −1 bp and +1 bp: (P(−) − P(+)) / 2, positive."""
    out: FloatArray = (prices_down - prices_up) / 2.0
    return out
