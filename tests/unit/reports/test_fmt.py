"""Money, ratio and date formatting of the report (SPEC §7.7)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pipeline.reports.fmt import esc, iso, money, percent, short_money, whole_dollars


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1234567.89"), "$1,234,567.89"),
        (1234567.891, "$1,234,567.89"),
        (2.675, "$2.68"),  # half-even on the decimal the float prints as
        (0.125, "$0.12"),
        (-29771.93, "-$29,771.93"),
        (-0.004, "$0.00"),
        (None, "$0.00"),
        (0, "$0.00"),
    ],
)
def test_money(value: object, text: str) -> None:
    assert money(value) == text


def test_whole_dollars_and_axis_labels() -> None:
    assert whole_dollars(80100) == "$80,100"
    assert short_money(1_500_000) == "$1.5M"
    assert short_money(-20_000) == "-$20k"
    assert short_money(0) == "$0"


def test_percent_and_iso() -> None:
    assert percent(Decimal("0.8")) == "80.00%"
    assert percent(None) == "—"
    assert iso(dt.date(2026, 11, 20)) == "2026-11-20"
    assert esc('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"
