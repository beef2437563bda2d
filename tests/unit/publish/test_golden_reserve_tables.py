"""Reserve and 4d tables of every golden case, computed then published: exact cents (SPEC §6-7)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from pipeline.config import load_params
from pipeline.publish import round_money
from pipeline.reserve import compute_reserve, compute_segregation

GOLDEN = Path(__file__).parents[2] / "golden"
D = dt.date(2026, 11, 20)
CASES = [
    ("01_xm_basis_cap", "params.yaml", "expected"),
    ("02_cme_spreads", "params.yaml", "expected"),
    ("03_reserve_15c3_3", "params.yaml", "expected"),
    ("03_reserve_15c3_3", "params_basic.yaml", "expected_basic"),
]


def _read(path: Path, casts: dict[str, pl.DataType]) -> pl.DataFrame:
    raw = pl.read_csv(path, infer_schema=False)
    exprs = [
        (pl.col(c).str.to_lowercase() == "true").alias(c) if t == pl.Boolean else pl.col(c).cast(t)
        for c, t in casts.items()
    ]
    return raw.select(exprs) if raw.height else pl.DataFrame(schema=casts)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@pytest.mark.parametrize(("case", "params", "expected"), CASES)
def test_published_reserve_tables_equal_the_golden_csv(
    case: str, params: str, expected: str
) -> None:
    inbox = GOLDEN / case / "inbox" / "20261120"
    margin = _read(
        GOLDEN / case / "expected" / "margin_by_account.csv",
        {
            "account_id": pl.Utf8(),
            "account_class": pl.Utf8(),
            "xm_active": pl.Boolean(),
            "ficc_regular_im": pl.Float64(),
            "equity": pl.Float64(),
        },
    )
    balances = _read(
        inbox / "balances_20261120.csv",
        {
            "account_id": pl.Utf8(),
            "cash_balance": pl.Float64(),
            "ficc_margin_on_deposit": pl.Float64(),
            "debit_unsecured": pl.Boolean(),
            "debit_doubtful": pl.Boolean(),
        },
    )
    items = _read(
        inbox / "reserve_items_20261120.csv",
        {"book": pl.Utf8(), "item": pl.Int64(), "amount": pl.Float64()},
    )
    bank = _read(
        inbox / "reserve_bank_20261120.csv", {"book": pl.Utf8(), "on_deposit": pl.Float64()}
    )
    reserve = compute_reserve(margin, balances, items, bank, load_params(GOLDEN / case / params), D)
    detail, summary = compute_segregation(margin, bank, D)
    produced = {
        "reserve_computation": reserve,
        "xm_segregation": detail,
        "xm_segregation_summary": summary,
    }
    for table, frame in produced.items():
        with open(GOLDEN / case / expected / f"{table}.csv", newline="") as fh:
            want = list(csv.DictReader(fh))
        got = round_money(frame.sample(fraction=1.0, shuffle=True, seed=7), table).to_pylist()
        assert len(got) == len(want), table
        for row, exp in zip(got, want, strict=True):
            assert list(row) == list(exp), table
            assert {k: _text(v) for k, v in row.items()} == exp, table
