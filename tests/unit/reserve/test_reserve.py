"""Exhibit A and the 4d schedule (SPEC §6) against the golden cases and hand-worked edges."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import Params, load_params
from pipeline.errors import InternalError
from pipeline.reserve import LINES, compute_reserve, compute_segregation
from pipeline.reserve.exhibit_a import ITEMS, SUPPLIED_ITEMS, Item

GOLDEN = Path(__file__).parents[2] / "golden"
D = dt.date(2026, 11, 20)
CASES = [
    ("01_xm_basis_cap", "params.yaml", "expected"),
    ("02_cme_spreads", "params.yaml", "expected"),
    ("03_reserve_15c3_3", "params.yaml", "expected"),
    ("03_reserve_15c3_3", "params_basic.yaml", "expected_basic"),
]
LINE_NAMES = [line.line for line in LINES]


def _csv(path: Path, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A golden CSV read as text, then cast: the golden files are the contract."""
    raw = pl.read_csv(path, infer_schema=False)
    if raw.height == 0:
        return pl.DataFrame(schema=schema)
    exprs = []
    for name, dtype in schema.items():
        col = pl.col(name)
        if dtype == pl.Boolean:
            exprs.append((col.str.to_lowercase() == "true").alias(name))
        else:
            exprs.append(col.cast(dtype))
    return raw.select(exprs)


MARGIN_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.Utf8(),
    "account_class": pl.Utf8(),
    "xm_active": pl.Boolean(),
    "ficc_regular_im": pl.Float64(),
    "equity": pl.Float64(),
}
BALANCES_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.Utf8(),
    "cash_balance": pl.Float64(),
    "securities_collateral_value": pl.Float64(),
    "collateral_haircut_pct": pl.Float64(),
    "ficc_margin_on_deposit": pl.Float64(),
    "debit_unsecured": pl.Boolean(),
    "debit_doubtful": pl.Boolean(),
}
ITEMS_SCHEMA: dict[str, pl.DataType] = {
    "book": pl.Utf8(),
    "item": pl.Int64(),
    "amount": pl.Float64(),
}
BANK_SCHEMA: dict[str, pl.DataType] = {"book": pl.Utf8(), "on_deposit": pl.Float64()}


def _golden_inputs(case: str) -> tuple[pl.DataFrame, ...]:
    inbox = GOLDEN / case / "inbox" / "20261120"
    margin = _csv(GOLDEN / case / "expected" / "margin_by_account.csv", MARGIN_SCHEMA)
    balances = _csv(inbox / "balances_20261120.csv", BALANCES_SCHEMA)
    items = _csv(inbox / "reserve_items_20261120.csv", ITEMS_SCHEMA)
    bank = _csv(inbox / "reserve_bank_20261120.csv", BANK_SCHEMA)
    return margin, balances, items, bank


def _expected(case: str, expected: str, table: str) -> list[dict[str, str]]:
    with open(GOLDEN / case / expected / f"{table}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(("case", "params", "expected"), CASES)
def test_golden_reserve_computation(case: str, params: str, expected: str) -> None:
    margin, balances, items, bank = _golden_inputs(case)
    got = compute_reserve(margin, balances, items, bank, load_params(GOLDEN / case / params), D)
    want = _expected(case, expected, "reserve_computation")
    assert got.columns == list(want[0].keys())
    assert got.height == len(want) == 2 * len(LINES)
    assert got.schema["amount"] == pl.Float64
    assert got.schema["business_date"] == pl.Date
    for row, exp in zip(got.iter_rows(named=True), want, strict=True):
        where = f"{case}/{expected} {exp['book']} {exp['line']}"
        assert row["business_date"].isoformat() == exp["business_date"], where
        for column in ("book", "line", "side", "description"):
            assert row[column] == exp[column], f"{where}: {column}"
        assert row["amount"] == pytest.approx(float(exp["amount"]), abs=0.005), where


@pytest.mark.parametrize(("case", "params", "expected"), CASES)
def test_golden_segregation(case: str, params: str, expected: str) -> None:
    margin, _, _, bank = _golden_inputs(case)
    detail, summary = compute_segregation(margin, bank, D)
    want = _expected(case, expected, "xm_segregation")
    assert detail.columns == ["business_date", "account_id", "equity", "seg_required"]
    assert detail["account_id"].to_list() == [r["account_id"] for r in want]
    assert detail["seg_required"].to_list() == pytest.approx(
        [float(r["seg_required"]) for r in want]
    )
    assert detail["equity"].to_list() == pytest.approx([float(r["equity"]) for r in want])
    (exp,) = _expected(case, expected, "xm_segregation_summary")
    assert summary.columns == list(exp.keys())
    row = summary.row(0, named=True)
    assert row["business_date"] == D
    for column in ("seg_required", "funds_held", "residual_interest"):
        assert row[column] == pytest.approx(float(exp[column]), abs=0.005), column
    assert row["is_shortfall"] is (exp["is_shortfall"] == "true")


# ---- hand-worked edges -------------------------------------------------------------------------

BASE_PARAMS = load_params(GOLDEN / "03_reserve_15c3_3" / "params.yaml")


def _params(**reserve: object) -> Params:
    return dataclasses.replace(
        BASE_PARAMS, reserve=dataclasses.replace(BASE_PARAMS.reserve, **reserve)
    )


def _accounts(
    rows: list[tuple[str, str, bool, float, float, float, bool, bool]],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(account, class, xm_active, ficc_regular_im, cash, deposit, unsecured, doubtful) rows."""
    margin = pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "account_class": [r[1] for r in rows],
            "xm_active": [r[2] for r in rows],
            "ficc_regular_im": [r[3] for r in rows],
            "equity": [r[4] for r in rows],
        },
        schema=MARGIN_SCHEMA,
    )
    balances = pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "cash_balance": [r[4] for r in rows],
            "securities_collateral_value": [0.0] * len(rows),
            "collateral_haircut_pct": [0.0] * len(rows),
            "ficc_margin_on_deposit": [r[5] for r in rows],
            "debit_unsecured": [r[6] for r in rows],
            "debit_doubtful": [r[7] for r in rows],
        },
        schema=BALANCES_SCHEMA,
    )
    return margin, balances


NO_ITEMS = pl.DataFrame(schema=ITEMS_SCHEMA)


def _bank(customer: float = 0.0, pab: float = 0.0, xm: float = 0.0) -> pl.DataFrame:
    return pl.DataFrame(
        {"book": ["CUSTOMER", "PAB", "XM_4D"], "on_deposit": [customer, pab, xm]},
        schema=BANK_SCHEMA,
    )


def _lines(frame: pl.DataFrame, book: str) -> dict[str, float]:
    part = frame.filter(pl.col("book") == book)
    return dict(zip(part["line"].to_list(), part["amount"].to_list(), strict=True))


def test_unsecured_and_doubtful_debits_leave_item_10_but_not_item_1() -> None:
    margin, balances = _accounts(
        [
            ("A", "CUSTOMER", False, 0.0, -100.0, 0.0, False, False),
            ("B", "CUSTOMER", False, 0.0, -1_000.0, 0.0, True, False),
            ("C", "CUSTOMER", False, 0.0, -10_000.0, 0.0, False, True),
            ("E", "CUSTOMER", False, 0.0, -100_000.0, 0.0, True, True),
            ("F", "CUSTOMER", False, 0.0, 7.0, 0.0, True, True),
        ]
    )
    lines = _lines(compute_reserve(margin, balances, NO_ITEMS, _bank(), _params(), D), "CUSTOMER")
    assert lines["item_10"] == 100.0
    # A credit balance is a credit whatever the debit flags say.
    assert lines["item_1"] == 7.0


def test_item_15_is_the_smaller_of_requirement_and_deposit_per_account() -> None:
    margin, balances = _accounts(
        [
            ("A", "CUSTOMER", False, 35_000.0, 0.0, 30_000.0, False, False),
            ("B", "CUSTOMER", False, 10_000.0, 0.0, 12_500.0, False, False),
            # XM-active: out of Exhibit A entirely.
            ("X", "CUSTOMER", True, 50_000.0, 9.0, 50_000.0, False, False),
            ("H", "HOUSE", False, 50_000.0, 9.0, 50_000.0, False, False),
        ]
    )
    lines = _lines(compute_reserve(margin, balances, NO_ITEMS, _bank(), _params(), D), "CUSTOMER")
    assert lines["item_15"] == 40_000.0
    assert lines["item_1"] == 0.0


@pytest.mark.parametrize(
    ("method", "frequency", "reduction"),
    [
        ("ALTERNATIVE", "DAILY", 0.02 * 3_000.0),
        ("ALTERNATIVE", "WEEKLY", 0.03 * 3_000.0),
        ("BASIC", "DAILY", 0.01 * 1_000.0),
        ("BASIC", "WEEKLY", 0.01 * 1_000.0),
    ],
)
def test_customer_debit_reduction_by_method_and_frequency(
    method: str, frequency: str, reduction: float
) -> None:
    margin, balances = _accounts(
        [
            ("A", "CUSTOMER", False, 0.0, 50_000.0, 0.0, False, False),
            ("B", "CUSTOMER", False, 0.0, -1_000.0, 0.0, False, False),
        ]
    )
    items = pl.DataFrame({"book": ["CUSTOMER"], "item": [11], "amount": [2_000.0]}, ITEMS_SCHEMA)
    params = _params(net_capital_method=method, computation_frequency=frequency)
    lines = _lines(compute_reserve(margin, balances, items, _bank(), params, D), "CUSTOMER")
    assert lines["total_debits"] == 3_000.0
    assert lines["debit_reduction"] == pytest.approx(reduction)
    assert lines["reserve_requirement"] == pytest.approx(50_000.0 - (3_000.0 - reduction))


def test_pab_reduction_uses_its_own_percentage_of_total_debits() -> None:
    margin, balances = _accounts(
        [
            ("P", "PAB", False, 0.0, 10_000.0, 0.0, False, False),
            ("Q", "PAB", False, 0.0, -2_000.0, 0.0, False, False),
        ]
    )
    items = pl.DataFrame({"book": ["PAB"], "item": [13], "amount": [500.0]}, ITEMS_SCHEMA)
    params = _params(pab_reduction_pct=4.0, net_capital_method="BASIC")
    lines = _lines(compute_reserve(margin, balances, items, _bank(pab=100.0), params, D), "PAB")
    assert lines["debit_reduction"] == pytest.approx(0.04 * 2_500.0)
    assert lines["reserve_requirement"] == pytest.approx(10_000.0 - 2_400.0)
    assert lines["deposit_required"] == pytest.approx(7_600.0 - 100.0)
    assert lines["excess_on_deposit"] == 0.0


def test_empty_books_are_all_zero_but_complete() -> None:
    margin, balances = _accounts([])
    got = compute_reserve(margin, balances, NO_ITEMS, _bank(), _params(), D)
    assert got["book"].to_list() == ["CUSTOMER"] * len(LINES) + ["PAB"] * len(LINES)
    assert got["line"].to_list() == LINE_NAMES * 2
    assert got["amount"].to_list() == [0.0] * 2 * len(LINES)


def test_on_deposit_counts_when_the_requirement_is_zero() -> None:
    # Credits below net debits: the requirement floors at zero, the deposit is all excess.
    margin, balances = _accounts([("A", "CUSTOMER", False, 0.0, -5_000.0, 0.0, False, False)])
    items = pl.DataFrame({"book": ["CUSTOMER"], "item": [2], "amount": [1_000.0]}, ITEMS_SCHEMA)
    lines = _lines(
        compute_reserve(margin, balances, items, _bank(customer=300.0), _params(), D), "CUSTOMER"
    )
    assert lines["total_credits"] == 1_000.0
    assert lines["reserve_requirement"] == 0.0
    assert lines["deposit_required"] == 0.0
    assert lines["excess_on_deposit"] == 300.0


def test_computed_items_in_reserve_items_are_refused() -> None:
    margin, balances = _accounts([])
    items = pl.DataFrame({"book": ["CUSTOMER"], "item": [15], "amount": [1.0]}, ITEMS_SCHEMA)
    with pytest.raises(Exception, match="items 1, 10, 15 are computed"):
        compute_reserve(margin, balances, items, _bank(), _params(), D)


def test_segregation_floors_negative_equity_and_rounds_the_shortfall_flag() -> None:
    margin = pl.DataFrame(
        {
            "account_id": ["Z", "Y", "N", "P"],
            "account_class": ["CUSTOMER", "CUSTOMER", "CUSTOMER", "PAB"],
            "xm_active": [True, True, False, True],
            "ficc_regular_im": [0.0] * 4,
            "equity": [100.004, -50.0, 1e6, 1e6],
        },
        schema=MARGIN_SCHEMA,
    )
    detail, summary = compute_segregation(margin, _bank(xm=100.0), D)
    assert detail["account_id"].to_list() == ["Y", "Z"]
    assert detail["seg_required"].to_list() == [0.0, 100.004]
    row = summary.row(0, named=True)
    assert row["residual_interest"] == pytest.approx(-0.004)
    # -0.004 publishes as -0.00: not a shortfall.
    assert row["is_shortfall"] is False
    _, summary = compute_segregation(margin, _bank(xm=99.99), D)
    assert summary["is_shortfall"][0] is True


def test_segregation_without_xm_accounts_is_zero() -> None:
    margin, _ = _accounts([("A", "CUSTOMER", False, 0.0, 10.0, 0.0, False, False)])
    detail, summary = compute_segregation(margin, _bank(xm=5.0), D)
    assert detail.height == 0
    assert summary.row(0, named=True)["seg_required"] == 0.0
    assert summary.row(0, named=True)["residual_interest"] == 5.0


def test_an_item_added_to_the_form_is_published_and_totalled() -> None:
    """Exhibit A is one table (ITEMS): a new row is a line, in its side's total, in order."""
    margin, balances = _accounts(
        [
            ("A", "CUSTOMER", False, 0.0, 50_000.0, 0.0, False, False),
            ("B", "CUSTOMER", False, 0.0, -1_000.0, 0.0, False, False),
        ]
    )
    form = (
        *ITEMS,
        Item(16, "debit", "A new supplied debit"),
        # A computed one too: |cash| of every account kept in the book.
        Item(17, "credit", "A new computed credit", per_account=pl.col("cash_balance").abs()),
    )
    items = pl.DataFrame({"book": ["CUSTOMER"], "item": [16], "amount": [700.0]}, ITEMS_SCHEMA)
    params = _params(net_capital_method="BASIC")
    got = compute_reserve(margin, balances, items, _bank(), params, D, form=form)
    lines = _lines(got, "CUSTOMER")
    assert lines["item_16"] == 700.0
    assert lines["item_17"] == 51_000.0
    # Credits 50,000 (item 1) + 51,000 (item 17); debits 1,000 (item 10) + 700 (item 16).
    assert lines["total_credits"] == 101_000.0
    assert lines["total_debits"] == 1_700.0
    assert lines["reserve_requirement"] == pytest.approx(101_000.0 - (1_700.0 - 10.0))
    customer = got.filter(pl.col("book") == "CUSTOMER")
    order = customer["line"].to_list()
    assert order[14:18] == ["item_15", "item_16", "item_17", "total_credits"]
    wording = dict(zip(customer["line"], customer["description"], strict=True))
    assert wording["total_credits"] == "Total credits (items 1, 2, 3, 4, 5, 6, 7, 8, 9, 17)"
    assert wording["total_debits"] == "Total debits (items 10-16)"
    # item 16 is now one reserve_items may carry; the form without it refuses it.
    with pytest.raises(InternalError, match=r"items 1, 10, 15 are computed"):
        compute_reserve(margin, balances, items, _bank(), params, D)


def test_the_published_form_is_items_1_to_15_then_the_computation() -> None:
    assert [line.line for line in LINES[:15]] == [f"item_{n}" for n in range(1, 16)]
    assert [i.number for i in ITEMS if not i.supplied] == [1, 10, 15]
    assert SUPPLIED_ITEMS == (2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14)
    assert {i.number for i in ITEMS if i.side == "credit"} == set(range(1, 10))
    # The reserve_items contract allows exactly the supplied items (read from this table).
    from pipeline.contracts.odcs import load_contract

    assert load_contract("reserve_items").prop("item").custom["enum"] == list(SUPPLIED_ITEMS)


# ---- property ----------------------------------------------------------------------------------

money = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
account = st.tuples(
    st.sampled_from(["CUSTOMER", "PAB", "HOUSE"]),
    st.booleans(),
    st.floats(min_value=0, max_value=1e8),
    money,
    st.floats(min_value=0, max_value=1e8),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(
    accounts=st.lists(account, max_size=12),
    supplied=st.dictionaries(
        st.tuples(st.sampled_from(["CUSTOMER", "PAB"]), st.sampled_from([2, 5, 9, 11, 14])),
        st.floats(min_value=0, max_value=1e9),
        max_size=6,
    ),
    deposits=st.tuples(
        st.floats(min_value=0, max_value=1e9), st.floats(min_value=0, max_value=1e9)
    ),
    method=st.sampled_from(["ALTERNATIVE", "BASIC"]),
    frequency=st.sampled_from(["DAILY", "WEEKLY"]),
    pab_pct=st.floats(min_value=0, max_value=100),
)
def test_requirement_identities(
    accounts: list[tuple[str, bool, float, float, float, bool, bool]],
    supplied: dict[tuple[str, int], float],
    deposits: tuple[float, float],
    method: str,
    frequency: str,
    pab_pct: float,
) -> None:
    rows = [(f"A{i}", *a) for i, a in enumerate(accounts)]
    margin, balances = _accounts(rows)  # type: ignore[arg-type]
    items = pl.DataFrame(
        {
            "book": [k[0] for k in supplied],
            "item": [k[1] for k in supplied],
            "amount": list(supplied.values()),
        },
        schema=ITEMS_SCHEMA,
    )
    params = _params(
        net_capital_method=method, computation_frequency=frequency, pab_reduction_pct=pab_pct
    )
    got = compute_reserve(margin, balances, items, _bank(*deposits), params, D)
    for book, on_deposit in zip(("CUSTOMER", "PAB"), deposits, strict=True):
        lines = _lines(got, book)
        # A naive reference from the inputs alone, item by item (SPEC §6), not from the output.
        kept = [a for a in accounts if a[0] == book and not a[1]]
        item_1 = sum(max(cash, 0.0) for _, _, _, cash, _, _, _ in kept)
        item_10 = sum(
            max(-cash, 0.0) for _, _, _, cash, _, unsecured, doubtful in kept
            if not (unsecured or doubtful)
        )  # fmt: skip
        item_15 = sum(min(im, deposit) for _, _, im, _, deposit, _, _ in kept)
        credits = item_1 + sum(v for (b, i), v in supplied.items() if b == book and i <= 9)
        debits = item_10 + item_15 + sum(v for (b, i), v in supplied.items() if b == book and i > 9)
        if book == "PAB":
            reduction = debits * pab_pct / 100.0
        elif method == "BASIC":
            reduction = item_10 * BASE_PARAMS.reserve.basic_reduction_pct / 100.0
        else:
            reduction = debits * BASE_PARAMS.reserve.alternative_reduction_pct[frequency] / 100.0
        requirement = max(0.0, credits - (debits - reduction))
        scale = max(1.0, sum(abs(a[3]) + a[2] + a[4] for a in kept) + sum(supplied.values()))
        tol = 1e-9 * scale
        assert lines["item_1"] == pytest.approx(item_1, abs=tol)
        assert lines["item_10"] == pytest.approx(item_10, abs=tol)
        assert lines["item_15"] == pytest.approx(item_15, abs=tol)
        assert lines["total_credits"] == pytest.approx(credits, abs=tol)
        assert lines["total_debits"] == pytest.approx(debits, abs=tol)
        assert lines["debit_reduction"] == pytest.approx(reduction, abs=tol)
        assert lines["reserve_requirement"] == pytest.approx(requirement, abs=tol)
        assert lines["reserve_requirement"] >= 0.0
        assert lines["on_deposit"] == on_deposit
        assert lines["deposit_required"] == pytest.approx(
            max(0.0, requirement - on_deposit), abs=tol
        )
        assert lines["excess_on_deposit"] == pytest.approx(
            max(0.0, on_deposit - requirement), abs=tol
        )
