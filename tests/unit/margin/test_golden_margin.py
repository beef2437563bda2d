"""The margin engine against the hand-worked golden cases (tests/golden/*/README.md)."""

from __future__ import annotations

import csv
import math

import polars as pl
import pytest
from margin_builders import GOLDEN, D, golden_inputs, golden_params

from pipeline.margin import MarginResults, compute_account_margin, finalize_margin

CASES = [
    ("01_xm_basis_cap", "params.yaml", "expected"),
    ("02_cme_spreads", "params.yaml", "expected"),
    ("03_reserve_15c3_3", "params.yaml", "expected"),
    ("03_reserve_15c3_3", "params_basic.yaml", "expected_basic"),
]
RATIOS = {"r_ficc", "r_cme", "r_applied"}
INTEGERS = {"n_ficc_positions", "n_cme_positions", "call_amount"}
MONEY = {
    "ficc_regular_im", "cme_regular_im", "f_sa", "f_sep", "f_all", "c_sa", "c_sep", "c_all",
    "ficc_xm_im", "cme_xm_im", "ficc_im", "cme_im", "maintenance_requirement",
    "initial_requirement", "equity", "excess_deficit",
}  # fmt: skip


def _expected(case: str, folder: str, table: str) -> list[dict[str, str]]:
    with open(GOLDEN / case / folder / f"{table}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _check(got: pl.DataFrame, want: list[dict[str, str]], where: str) -> None:
    assert got.height == len(want), f"{where}: {got.height} rows, expected {len(want)}"
    for row, exp in zip(got.iter_rows(named=True), want, strict=True):
        for column, text in exp.items():
            value = row[column]
            label = f"{where} {exp.get('account_id')} {column}: got {value!r}, expected {text}"
            if column in MONEY:
                # Unrounded money must round to the hand-worked cents.
                assert abs(value - float(text)) <= 0.005, label
            elif column in RATIOS:
                assert math.isclose(value, float(text), rel_tol=0, abs_tol=1e-9), label
            elif column in INTEGERS:
                assert value == int(text), label
            elif isinstance(value, bool):
                assert value == (text == "true"), label
            elif column == "due_by":
                assert value.isoformat() == text, label
            else:
                assert str(value) == text, label


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def results(request: pytest.FixtureRequest) -> tuple[MarginResults, str, str]:
    case, params_name, folder = request.param
    inputs = golden_inputs(case)
    params = golden_params(case, params_name)
    frame = compute_account_margin(inputs, params, D, 0, 1)
    return finalize_margin(frame, inputs, params, D), case, folder


def test_margin_by_account(results: tuple[MarginResults, str, str]) -> None:
    res, case, folder = results
    got = res.margin_by_account
    want = _expected(case, folder, "margin_by_account")
    assert got.columns == list(want[0].keys())
    assert got.schema["call_amount"] == pl.Int64
    assert got.schema["maintenance_requirement"] == pl.Float64
    _check(got, want, f"{case}/{folder}/margin_by_account")


def test_margin_calls(results: tuple[MarginResults, str, str]) -> None:
    res, case, folder = results
    got = res.margin_calls
    want = _expected(case, folder, "margin_calls")
    assert got.schema["due_by"] == pl.Datetime("us", "America/New_York")
    _check(got, want, f"{case}/{folder}/margin_calls")


def test_exceptions(results: tuple[MarginResults, str, str]) -> None:
    res, case, folder = results
    got = res.exceptions
    want = _expected(case, folder, "exceptions")
    assert got.columns == ["business_date", "kind", "account_id", "detail"]
    _check(got, want, f"{case}/{folder}/exceptions")
