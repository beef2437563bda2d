"""compliance.html in real headless Chromium (SPEC §10.10): every plot over the window renders,
the daily-computation test, exceptions and lineage are there, nothing is fetched, no errors.

Set XMARGIN_ARTIFACTS to a folder to keep the screenshot.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import polars as pl
import pytest
from chromium_cdp import (
    Cdp,
    assert_clean_and_offline,
    assert_plots_drawn,
    evaluate,
    open_page,
    screenshot,
)

from pipeline.calendar import business_days
from pipeline.history import run_history

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "history"))

from history_builders import Account, publish_day, requirement

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PLOT_IDS = (
    "plot-reserve-customer",
    "plot-reserve-pab",
    "plot-deposit-shortfalls",
    "plot-calls-by-age",
    "plot-xm-savings",
    "plot-residual-interest",
)
START, END = dt.date(2026, 10, 1), dt.date(2026, 11, 20)


def _history(root: Path) -> Path:
    """Seven weeks: calls that age, deposits sometimes short, a 4d shortfall every fifth day,
    one business date not published and a forced Saturday run."""
    for i, day in enumerate(business_days(START, END)):
        if day == dt.date(2026, 11, 4):
            continue
        accounts = [
            Account(
                f"X{k}",
                xm_active=True,
                money={"f_sa": 1000.0 + 10 * i + k, "c_sa": 400.0, "ficc_xm_im": 600.0},
            )
            for k in range(3)
        ]
        calls = {f"C{k}": 100 * (k + 1) for k in range(i % 9)}
        publish_day(
            root,
            day,
            accounts=accounts,
            calls=calls,
            documents=["D1"] if i % 6 else [],
            reserve=requirement(
                (100_000.0 + 1500 * i, 100_000.0 + 1450 * i), (20_000.0, 20_000.0 - (i % 4))
            ),
            seg=(50_000.0, 50_000.0 + (-300.0 if i % 5 == 0 else 700.0)),
        )
    publish_day(root, dt.date(2026, 10, 17), calls={"C0": 1})
    return run_history(START, END, root).output_dir


def test_compliance_page_renders_offline_with_every_plot(browser: Cdp, tmp_path: Path) -> None:
    folder = _history(tmp_path)
    page_url = (folder / "compliance.html").resolve().as_uri()
    session = open_page(browser, page_url)

    assert_plots_drawn(browser, session, PLOT_IDS)
    # One line per series over the window, one bar per called age bucket and day.
    lines = evaluate(
        browser, session, "document.querySelectorAll('#plot-xm-savings polyline').length"
    )
    assert lines == 3

    test = pl.read_parquet(folder / "daily_computation_test.parquet").row(0, named=True)
    shown = evaluate(
        browser,
        session,
        "[document.getElementById('fig-daily-status').textContent,"
        " document.getElementById('fig-threshold').dataset.value]",
    )
    assert shown == [test["status"], str(test["threshold"])]

    exceptions = pl.read_parquet(folder / "history_exceptions.parquet")
    counted = evaluate(
        browser, session, "document.querySelectorAll('#table-exceptions tbody tr').length"
    )
    assert counted == min(exceptions.height, 200) and exceptions.height > 10
    kinds = set(exceptions["kind"])
    assert {"MISSING_DATE", "NON_BUSINESS_DATE", "SEG_SHORTFALL", "DEPOSIT_SHORTFALL"} <= kinds
    lineage = evaluate(
        browser, session, "document.querySelectorAll('#table-lineage tbody tr').length"
    )
    assert lineage == pl.read_parquet(folder / "run_lineage.parquet").height == 34

    png = screenshot(browser, session)
    assert len(png) > 50_000
    artifacts = os.environ.get("XMARGIN_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        (Path(artifacts) / "compliance.png").write_bytes(png)

    assert_clean_and_offline(browser, page_url)
