"""The hand-worked golden cases (tests/golden/*/README.md) run end to end through the CLI."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.outputs import DV01_BY_TENOR, PUBLISHED

HERE = Path(__file__).parent
D = "2026-11-20"
# Every published table has a hand-worked expected CSV except DV01 by tenor.
TABLES = tuple(t.name for t in PUBLISHED if t is not DV01_BY_TENOR)
RATIO_COLUMNS = {"r_ficc", "r_cme", "r_applied"}
CASES = [
    ("01_xm_basis_cap", "params.yaml", "expected"),
    ("02_cme_spreads", "params.yaml", "expected"),
    ("03_reserve_15c3_3", "params.yaml", "expected"),
    ("03_reserve_15c3_3", "params_basic.yaml", "expected_basic"),
]


def _text(value: object) -> str:
    """A Parquet value as the golden CSVs write it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _same(column: str, got: object, want: str) -> bool:
    if column in RATIO_COLUMNS:
        return abs(float(str(got)) - float(want)) <= 1e-9
    if isinstance(got, Decimal):
        # Money is decimal(20,2): it must be the expected cent amount exactly.
        return got == Decimal(want)
    return _text(got) == want


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Run each case once through `xmargin run`, returning its output folder."""
    out: dict[tuple[str, str], Path] = {}
    for case, params, _ in CASES:
        root = tmp_path_factory.mktemp(f"{case}-{params.split('.')[0]}")
        shutil.copytree(HERE / case / "inbox", root / "inbox")
        code = main(
            [
                "--quiet",
                "run",
                "--date",
                D,
                "--data-root",
                str(root),
                "--params",
                str(HERE / case / params),
            ]
        )
        assert code == 0, f"{case} with {params}: exit {code}"
        out[(case, params)] = root / "outputs" / f"business_date={D}"
    return out


@pytest.mark.parametrize(("case", "params", "expected"), CASES)
@pytest.mark.parametrize("table", TABLES)
def test_golden_table(
    published: dict[tuple[str, str], Path], case: str, params: str, expected: str, table: str
) -> None:
    out = published[(case, params)]
    assert (out / "_SUCCESS").is_file()
    with open(HERE / case / expected / f"{table}.csv", newline="") as fh:
        want = list(csv.DictReader(fh))
        header = list(want[0].keys()) if want else None
    got = pl.read_parquet(out / f"{table}.parquet")
    if header is None:
        with open(HERE / case / expected / f"{table}.csv") as fh:
            header = fh.readline().strip().split(",")
    assert got.columns == header, f"{table}: columns differ"
    assert got.height == len(want), f"{table}: {got.height} rows, expected {len(want)}"
    for i, (row, exp) in enumerate(zip(got.iter_rows(named=True), want, strict=True)):
        for column in header:
            assert _same(column, row[column], exp[column]), (
                f"{case}/{expected}/{table} row {i} ({exp.get('account_id') or exp.get('line')})"
                f" column {column}: got {row[column]!r}, expected {exp[column]!r}"
            )


def test_money_columns_are_decimal_cents(published: dict[tuple[str, str], Path]) -> None:
    out = published[("01_xm_basis_cap", "params.yaml")]
    schema = pl.read_parquet_schema(out / "margin_by_account.parquet")
    assert schema["maintenance_requirement"] == pl.Decimal(20, 2)
    assert schema["call_amount"] == pl.Int64
    assert schema["r_applied"] == pl.Float64
