"""History over dates published by real runs (generate + run, SPEC §8): the §10 tables tie
back to the nightly tables they are read from, summed independently with Polars."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from pipeline.generate import generate_inputs
from pipeline.history import run_history
from pipeline.run import run_date

DATES = (dt.date(2026, 11, 19), dt.date(2026, 11, 20))


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real")
    for day in DATES:
        generate_inputs(root, day, n_accounts=120, seed=3, progress=None)
        result = run_date(day, root)
        assert result.ok, result.message
    return root


def _night(root: Path, day: dt.date, table: str) -> pl.DataFrame:
    return pl.read_parquet(root / "outputs" / f"business_date={day}" / f"{table}.parquet")


def test_tables_tie_back_to_the_published_nights(published: Path) -> None:
    out = run_history(DATES[0], DATES[1], published).output_dir
    reserve = pl.read_parquet(out / "reserve_history.parquet")
    xm = pl.read_parquet(out / "xm_savings_history.parquet")
    calls = pl.read_parquet(out / "call_history.parquet")
    seg = pl.read_parquet(out / "segregation_history.parquet")
    lineage = pl.read_parquet(out / "run_lineage.parquet")
    for day in DATES:
        lines = _night(published, day, "reserve_computation")
        for row in reserve.filter(pl.col("business_date") == day).iter_rows(named=True):
            book = lines.filter(pl.col("book") == row["book"])
            for name in ("total_credits", "reserve_requirement", "on_deposit", "excess_on_deposit"):
                assert row[name] == book.filter(pl.col("line") == name)["amount"].item(), name
        margin = _night(published, day, "margin_by_account")
        active = margin.filter(pl.col("xm_active"))
        got = xm.filter(pl.col("business_date") == day).row(0, named=True)
        assert got["accounts"] == margin.height
        assert got["xm_active_accounts"] == active.height
        assert got["standalone"] == (active["f_sa"] + active["c_sa"]).sum()
        assert got["applied"] == (active["ficc_xm_im"] + active["cme_xm_im"]).sum()
        assert got["initial_requirement"] == margin["initial_requirement"].sum()
        night_calls = _night(published, day, "margin_calls")
        assert calls.filter(pl.col("business_date") == day)["call_id"].to_list() == sorted(
            night_calls["call_id"].to_list(), key=lambda c: c.split("-", 1)[1]
        )
        summary = _night(published, day, "xm_segregation_summary")
        assert seg.filter(pl.col("business_date") == day)["residual_interest"].item() == (
            summary["residual_interest"].item()
        )
        manifest = json.loads(
            (published / "outputs" / f"business_date={day}" / "manifest.json").read_text()
        )
        assert (
            lineage.filter(pl.col("business_date") == day)["run_id"].item() == (manifest["run_id"])
        )
    # A call on the second night is day 2 of a chain exactly when the account was called on
    # the first night (the window starts there, and 2026-11-18 is not published).
    second = calls.filter(pl.col("business_date") == DATES[1])
    before = set(calls.filter(pl.col("business_date") == DATES[0])["account_id"])
    assert second.height > 0
    for row in second.iter_rows(named=True):
        again = row["account_id"] in before
        assert row["consecutive_days"] == (2 if again else 1)
        assert row["first_call_date"] == (DATES[0] if again else DATES[1])
