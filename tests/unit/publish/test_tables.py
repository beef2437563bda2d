"""Published table layout (SPEC §7): columns, types, sort order, exact cents, stable bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from pipeline.errors import InternalError
from pipeline.outputs import DV01_BY_TENOR, PUBLISHED, TABLES_BY_NAME
from pipeline.publish import round_money, write_table
from pipeline.reserve import LINES

GOLDEN = Path(__file__).parents[2] / "golden"


# Every published table has a hand-worked golden CSV except the DV01 profile.
@pytest.mark.parametrize("table", sorted(t.name for t in PUBLISHED if t is not DV01_BY_TENOR))
def test_columns_match_the_golden_headers(table: str) -> None:
    header = (GOLDEN / "01_xm_basis_cap" / "expected" / f"{table}.csv").read_text().splitlines()[0]
    assert list(TABLES_BY_NAME[table].schema.names) == header.split(",")


def test_margin_by_account_types_order_and_cents(tables: dict[str, pl.DataFrame]) -> None:
    arrow = round_money(tables["margin_by_account"], "margin_by_account")
    schema = arrow.schema
    assert schema.field("maintenance_requirement").type == pa.decimal128(20, 2)
    assert schema.field("call_amount").type == pa.int64()
    assert schema.field("n_ficc_positions").type == pa.int64()
    assert schema.field("r_applied").type == pa.float64()
    assert schema.field("xm_active").type == pa.bool_()
    assert schema.field("business_date").type == pa.date32()
    assert schema.field("account_id").type == pa.string()
    rows = arrow.to_pylist()
    assert [r["account_id"] for r in rows] == ["HX1", "XM1"]
    hx1 = rows[0]
    assert hx1["maintenance_requirement"] == Decimal("76570.18")
    assert hx1["initial_requirement"] == Decimal("89771.93")
    assert hx1["excess_deficit"] == Decimal("-29771.93")
    assert hx1["r_ficc"] == 0.6551724137931034  # ratios are not rounded
    assert rows[1]["f_sa"] == Decimal("333.33")


def test_due_by_is_new_york_wall_time(tables: dict[str, pl.DataFrame]) -> None:
    arrow = round_money(tables["margin_calls"], "margin_calls")
    assert arrow.schema.field("due_by").type == pa.timestamp("us", tz="America/New_York")
    (row,) = arrow.to_pylist()
    assert row["due_by"].isoformat() == "2026-11-23T09:00:00-05:00"
    assert row["initial_requirement"] == Decimal("380100.00")


def test_naive_due_by_is_taken_as_new_york(tables: dict[str, pl.DataFrame]) -> None:
    calls = tables["margin_calls"].with_columns(
        pl.lit(dt.datetime(2026, 11, 23, 9, 0)).alias("due_by")
    )
    (row,) = round_money(calls, "margin_calls").to_pylist()
    assert row["due_by"].isoformat() == "2026-11-23T09:00:00-05:00"


def test_reserve_rows_in_book_then_line_order(tables: dict[str, pl.DataFrame]) -> None:
    rows = round_money(tables["reserve_computation"], "reserve_computation").to_pylist()
    order = [line.line for line in LINES]
    keys = [(r["book"], r["line"]) for r in rows]
    assert keys == sorted(keys, key=lambda k: (k[0] != "CUSTOMER", order.index(k[1])))
    assert [r["line"] for r in rows[:4]] == [
        "item_1",
        "item_10",
        "total_credits",
        "excess_on_deposit",
    ]
    pab = {r["line"]: r["amount"] for r in rows if r["book"] == "PAB"}
    assert pab["excess_on_deposit"] == Decimal("0.12")
    assert pab["item_1"] == Decimal("2.68")


def test_exceptions_sorted_with_null_accounts_last_and_empty_table(
    tables: dict[str, pl.DataFrame],
) -> None:
    exc = tables["exceptions"]
    rows = round_money(exc, "exceptions").to_pylist()
    assert [(r["kind"], r["account_id"]) for r in rows] == [
        ("VALIDATION_WARNING", "A1"),
        ("VALIDATION_WARNING", None),
        ("XM_OPT_IN_WITHOUT_DOCUMENTS", "NX1"),
    ]
    empty = pl.DataFrame({c: [] for c in exc.columns})  # Polars types these as Null
    arrow = round_money(empty, "exceptions")
    assert arrow.num_rows == 0
    assert arrow.schema.field("business_date").type == pa.date32()
    assert arrow.schema.field("kind").type == pa.string()


def test_wrong_columns_are_refused(tables: dict[str, pl.DataFrame]) -> None:
    with pytest.raises(InternalError, match="missing \\['equity'\\]"):
        round_money(tables["xm_segregation"].drop("equity"), "xm_segregation")
    with pytest.raises(InternalError, match="unexpected \\['extra'\\]"):
        round_money(tables["xm_segregation"].with_columns(extra=pl.lit(1)), "xm_segregation")
    with pytest.raises(InternalError, match="unknown output table"):
        round_money(tables["xm_segregation"], "nonsense")


def test_fractional_call_amount_is_refused(tables: dict[str, pl.DataFrame]) -> None:
    bad = tables["margin_calls"].with_columns(pl.lit(80100.5).alias("call_amount"))
    with pytest.raises(InternalError, match="call_amount"):
        round_money(bad, "margin_calls")


def test_write_table_is_byte_for_byte_deterministic(
    tmp_path: Path, build_tables: Callable[..., dict[str, pl.DataFrame]]
) -> None:
    make_tables = build_tables
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    a = write_table(make_tables()["margin_by_account"], "margin_by_account", first)
    # Same data, rows handed over in another order: the published bytes do not change.
    shuffled = make_tables()["margin_by_account"].reverse()
    b = write_table(shuffled, "margin_by_account", second)
    assert a == b
    assert a["rows"] == 2
    assert (first / "margin_by_account.parquet").read_bytes() == (
        second / "margin_by_account.parquet"
    ).read_bytes()
    back = pl.read_parquet(first / "margin_by_account.parquet")
    assert back.schema["equity"] == pl.Decimal(20, 2)
    c = write_table(
        make_tables(equity_xm1=77000.01)["margin_by_account"], "margin_by_account", first
    )
    assert c["sha256"] != a["sha256"]
