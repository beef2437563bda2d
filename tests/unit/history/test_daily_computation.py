"""SPEC §10.3: the daily-computation test of SEC release 34-102022, as of D2.

For D2 = 2026-11-20 the months are 2025-11 … 2026-10, whose last SIFMA business dates are
2025-11-28 (the early close after Thanksgiving), 2025-12-31, 2026-01-30, 2026-02-27,
2026-03-31, 2026-04-30, 2026-05-29, 2026-06-30, 2026-07-31, 2026-08-31, 2026-09-30, 2026-10-30.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import yaml
from history_builders import credits, publish_day

from pipeline.config import SHIPPED_PARAMS_DIR
from pipeline.history import run_history
from pipeline.history.window import month_ends

D2 = dt.date(2026, 11, 20)
MONTH_ENDS = [
    dt.date(2025, 11, 28),
    dt.date(2025, 12, 31),
    dt.date(2026, 1, 30),
    dt.date(2026, 2, 27),
    dt.date(2026, 3, 31),
    dt.date(2026, 4, 30),
    dt.date(2026, 5, 29),
    dt.date(2026, 6, 30),
    dt.date(2026, 7, 31),
    dt.date(2026, 8, 31),
    dt.date(2026, 9, 30),
    dt.date(2026, 10, 30),
]


def _params(root: Path, name: str, effective: dt.date, **reserve: object) -> Path:
    """A parameter file in the data root's params/ with some reserve keys changed."""
    doc = yaml.safe_load((SHIPPED_PARAMS_DIR / "margin_params.yaml").read_text())
    doc["version"] = name
    doc["effective_from"] = effective
    doc["reserve"].update(reserve)
    folder = root / "params"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _tables(root: Path, **kw: object) -> tuple[dict[str, object], pl.DataFrame, pl.DataFrame]:
    out = run_history(dt.date(2026, 11, 16), D2, root, **kw).output_dir  # type: ignore[arg-type]
    test = pl.read_parquet(out / "daily_computation_test.parquet")
    months = pl.read_parquet(out / "daily_computation_months.parquet")
    exceptions = pl.read_parquet(out / "history_exceptions.parquet")
    return test.row(0, named=True), months, exceptions


def _twelve_months(root: Path, last_pab: float) -> None:
    """CUSTOMER 400,000,000.00 and PAB 100,000,000.00 at each month-end, the last PAB given."""
    for i, day in enumerate(MONTH_ENDS):
        pab = last_pab if i == len(MONTH_ENDS) - 1 else 100_000_000.0
        publish_day(root, day, reserve=credits(400_000_000.0, pab))
    publish_day(root, D2)


def test_month_ends_are_the_last_sifma_business_dates() -> None:
    assert list(month_ends(D2)) == MONTH_ENDS
    # 2027-05-31 is Memorial Day: May's month-end is Friday the 28th.
    assert month_ends(dt.date(2027, 6, 10))[-1] == dt.date(2027, 5, 28)


def test_average_on_a_half_cent_rounds_half_even_and_the_threshold_is_d2s(
    tmp_path: Path,
) -> None:
    """Σ total credits = 11 x 500,000,000.00 + 500,000,000.06 = 6,000,000,000.06; ÷ 12 =
    500,000,000.005 exactly: half-even gives 500,000,000.00 (half away from zero: .01).

    Parameter files in the data root: threshold 1.00 from 2026-01-01, 500,000,000.01 from
    2026-11-01 (in force for D2), 0 from 2026-12-01 (not yet). 500,000,000.00 < .01:
    DAILY_NOT_REQUIRED (with half away from zero it would be DAILY_REQUIRED).
    """
    _twelve_months(tmp_path, 100_000_000.06)
    _params(tmp_path, "early", dt.date(2026, 1, 1), daily_threshold=1)
    _params(tmp_path, "november", dt.date(2026, 11, 1), daily_threshold=500_000_000.01)
    _params(tmp_path, "december", dt.date(2026, 12, 1), daily_threshold=0)
    test, months, exceptions = _tables(tmp_path)
    assert test["as_of"] == D2
    assert test["months_used"] == 12
    assert (test["first_month"], test["last_month"]) == ("2025-11", "2026-10")
    assert test["average_total_credits"] == Decimal("500000000.00")
    assert test["threshold"] == Decimal("500000000.01")
    assert test["status"] == "DAILY_NOT_REQUIRED"
    assert months["month"].to_list() == [f"{d:%Y-%m}" for d in MONTH_ENDS]
    assert months["month_end_date"].to_list() == MONTH_ENDS
    last = months.row(11, named=True)
    assert last["customer_total_credits"] == Decimal("400000000.00")
    assert last["pab_total_credits"] == Decimal("100000000.06")
    assert last["total_credits"] == Decimal("500000000.06")
    assert exceptions.filter(pl.col("kind") == "DAILY_COMPUTATION_REQUIRED").height == 0


def test_half_cent_with_an_odd_quotient_rounds_up(tmp_path: Path) -> None:
    """Σ = 6,000,000,000.18; ÷ 12 = 500,000,000.015: the cent digit 1 is odd, so half-even gives
    .02 (truncation would give .01); against the default threshold 500,000,000.00 that is
    DAILY_REQUIRED, and the shipped parameters compute DAILY: no exception."""
    _twelve_months(tmp_path, 100_000_000.18)
    test, _, exceptions = _tables(tmp_path)
    assert test["average_total_credits"] == Decimal("500000000.02")
    assert test["threshold"] == Decimal("500000000.00")
    assert test["status"] == "DAILY_REQUIRED"
    assert exceptions.filter(pl.col("kind") == "DAILY_COMPUTATION_REQUIRED").height == 0


def test_daily_required_while_computing_weekly_is_an_exception_dated_d2(tmp_path: Path) -> None:
    """Average exactly at the threshold (500,000,000.00 ≥ 500,000,000.00): DAILY_REQUIRED; the
    parameter file in force for D2 says WEEKLY, so DAILY_COMPUTATION_REQUIRED dated D2. The
    same data with --params FILE saying DAILY gives no exception."""
    _twelve_months(tmp_path, 100_000_000.0)
    _params(tmp_path, "weekly", dt.date(2026, 10, 1), computation_frequency="WEEKLY")
    test, _, exceptions = _tables(tmp_path)
    assert test["status"] == "DAILY_REQUIRED"
    flagged = exceptions.filter(pl.col("kind") == "DAILY_COMPUTATION_REQUIRED")
    assert flagged.select("business_date", "book", "account_id").rows() == [(D2, None, None)]
    assert "500000000.00" in flagged["detail"][0]

    daily = _params(tmp_path / "given", "daily", dt.date(2026, 1, 1))
    _, _, exceptions = _tables(tmp_path, params_file=daily)
    assert exceptions.filter(pl.col("kind") == "DAILY_COMPUTATION_REQUIRED").height == 0


def test_eleven_month_ends_is_insufficient_history(tmp_path: Path) -> None:
    """March 2026's month-end (03-31) is not published, though 03-30 is: the month does not
    count. 11 months: INSUFFICIENT_HISTORY, whatever the average (here far above threshold)."""
    for day in MONTH_ENDS:
        if day != dt.date(2026, 3, 31):
            publish_day(tmp_path, day, reserve=credits(900_000_000.0))
    publish_day(tmp_path, dt.date(2026, 3, 30), reserve=credits(900_000_000.0))
    publish_day(tmp_path, D2)
    test, months, _ = _tables(tmp_path)
    assert test["months_used"] == 11
    assert "2026-03" not in months["month"].to_list()
    assert test["average_total_credits"] == Decimal("900000000.00")
    assert test["status"] == "INSUFFICIENT_HISTORY"


def test_no_month_end_published(tmp_path: Path) -> None:
    """Only D2 published: 0 months, first/last month and the average null."""
    publish_day(tmp_path, D2)
    test, months, _ = _tables(tmp_path)
    assert months.height == 0
    assert test["months_used"] == 0
    assert test["first_month"] is None and test["last_month"] is None
    assert test["average_total_credits"] is None
    assert test["status"] == "INSUFFICIENT_HISTORY"


def test_month_end_across_a_holiday_at_month_end(tmp_path: Path) -> None:
    """D2 = 2027-06-10: May 2027 ends on Memorial Day (Mon 31), so its month-end is Fri 28.
    A forced run of 05-31 (credits 1) is no month-end; 05-27 (credits 2) is not the last
    business date; 05-28 (credits 3,000.00 + PAB 0.50) is the one counted."""
    publish_day(tmp_path, dt.date(2027, 5, 27), reserve=credits(2.0))
    publish_day(tmp_path, dt.date(2027, 5, 28), reserve=credits(3000.0, 0.5))
    publish_day(tmp_path, dt.date(2027, 5, 31), reserve=credits(1.0))
    publish_day(tmp_path, dt.date(2027, 6, 10))
    out = run_history(dt.date(2027, 6, 1), dt.date(2027, 6, 10), tmp_path).output_dir
    months = pl.read_parquet(out / "daily_computation_months.parquet")
    assert months.rows() == [
        ("2027-05", dt.date(2027, 5, 28), Decimal("3000.00"), Decimal("0.50"), Decimal("3000.50"))
    ]
    test = pl.read_parquet(out / "daily_computation_test.parquet").row(0, named=True)
    assert (test["months_used"], test["average_total_credits"]) == (1, Decimal("3000.50"))
