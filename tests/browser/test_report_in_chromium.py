"""report.html in real headless Chromium (SPEC §7.7): plots render, nothing fetched, no errors.

The page's console, exceptions, log and network requests are recorded while it loads (see
chromium_cdp.py), then a full-page screenshot is taken. Set XMARGIN_ARTIFACTS to a folder to keep
the screenshot.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from chromium_cdp import (
    WIDTH,
    Cdp,
    assert_clean_and_offline,
    assert_plots_drawn,
    evaluate,
    open_page,
    screenshot,
)

from pipeline.reports import render_report
from tests.unit.reports.sample_folder import write_sample_folder

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

PLOT_IDS = (
    "plot-requirement-vs-equity",
    "plot-r-applied",
    "plot-dv01",
    "plot-xm-savings",
    "plot-reserve-waterfall-customer",
    "plot-reserve-waterfall-pab",
)


def test_report_renders_offline_with_every_plot(browser: Cdp, tmp_path: Path) -> None:
    folder = write_sample_folder(tmp_path / "out", n_accounts=5000)
    page_url = render_report(folder).resolve().as_uri()
    session = open_page(browser, page_url)

    assert_plots_drawn(browser, session, PLOT_IDS)
    circles = evaluate(
        browser, session, "document.querySelectorAll('#plot-requirement-vs-equity circle').length"
    )
    assert circles == 3000
    headline = evaluate(
        browser,
        session,
        "[document.getElementById('fig-total-maintenance').textContent,"
        " document.getElementById('fig-total-maintenance').dataset.value]",
    )
    whole, cents = headline[1].split(".")
    assert headline[0] == f"${int(whole):,}.{cents}"

    png = screenshot(browser, session, WIDTH)
    assert len(png) > 50_000
    (tmp_path / "report.png").write_bytes(png)
    artifacts = os.environ.get("XMARGIN_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        (Path(artifacts) / "report.png").write_bytes(png)

    assert_clean_and_offline(browser, page_url)
