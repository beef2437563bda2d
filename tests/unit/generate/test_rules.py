"""Every SPEC §2 rule holds on a generated set (the data contracts enforce the same rules)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from pipeline.config import SECURITY_TYPES, select_params
from pipeline.contracts.checkdigits import cusip_is_valid, lei_is_valid

DECIMAL = r"^[+-]?\d+(\.\d+)?$"
INTEGER = r"^[+-]?\d+$"
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
ACCOUNT_ID = r"^[A-Z0-9-]{1,20}$"

Text = Callable[[str], pl.DataFrame]


def _num(frame: pl.DataFrame, column: str) -> pl.Series:
    """A decimal column after checking every value is a plain decimal (SPEC §2)."""
    values = frame[column]
    assert values.null_count() == 0, f"{column}: nulls"
    bad = values.filter(~values.str.contains(DECIMAL))
    assert bad.len() == 0, f"{column}: not plain decimals: {bad.head(5).to_list()}"
    return values.cast(pl.Float64)


def _dates(frame: pl.DataFrame, column: str) -> pl.Series:
    values = frame[column].drop_nulls()
    bad = values.filter(~values.str.contains(ISO_DATE))
    assert bad.len() == 0, f"{column}: not ISO dates: {bad.head(5).to_list()}"
    return values.str.to_date("%Y-%m-%d")


def _booleans(frame: pl.DataFrame, column: str) -> None:
    assert set(frame[column].unique().to_list()) <= {"true", "false"}, column


def test_nine_files_named_for_the_date(small_set: dict[str, Path]) -> None:
    assert len(small_set) == 9
    folders = {p.parent for p in small_set.values()}
    assert [f.name for f in folders] == ["20261120"]
    assert all(p.is_file() and "20261120" in p.name for p in small_set.values())
    # The temporary folder was renamed into place: nothing else is left in inbox/.
    inbox = next(iter(folders)).parent
    assert [p.name for p in inbox.iterdir()] == ["20261120"]


def test_accounts(text: Text, business_date: dt.date) -> None:
    """SPEC §2.5."""
    accounts = text("accounts")
    assert accounts.height == 1_200
    ids = accounts["account_id"]
    assert ids.is_unique().all() and ids.str.contains(ACCOUNT_ID).all()
    assert accounts.select(lei_is_valid(pl.col("customer_lei"))).to_series().all()
    assert set(accounts["account_class"]) == {"CUSTOMER", "PAB", "HOUSE"}
    _booleans(accounts, "hrp")
    assert set(accounts["hrp"]) == {"true", "false"}
    multiplier = _num(accounts, "ficc_multiplier")
    assert multiplier.min() >= 1 and multiplier.max() <= 5 and multiplier.n_unique() > 3  # type: ignore[operator]

    for column in ("xm_opt_in_date", "subordination_agreement_date", "disclosure_ack_date"):
        _dates(accounts, column)
    d = pl.lit(business_date)
    frame = accounts.with_columns(
        pl.col(
            "xm_opt_in_date", "subordination_agreement_date", "disclosure_ack_date"
        ).str.to_date()
    )
    customers = frame.filter(pl.col("account_class") == "CUSTOMER")
    opted = customers.filter(pl.col("xm_opt_in_date").is_not_null())
    complete = opted.filter(
        pl.all_horizontal(
            pl.col("xm_opt_in_date", "subordination_agreement_date", "disclosure_ack_date") <= d
        )
    )
    missing_doc = opted.filter(
        pl.col("subordination_agreement_date").is_null() | pl.col("disclosure_ack_date").is_null()
    )
    later = opted.filter(pl.col("xm_opt_in_date") > d)
    # Most opted-in customers are XM-active; a few lack a document; some opt in after D.
    assert complete.height > 0.8 * opted.height
    assert missing_doc.height > 0 and later.height > 0
    house = frame.filter(pl.col("account_class") == "HOUSE")
    assert house.filter(pl.col("xm_opt_in_date") <= d).height > 0


def test_treasury_securities(text: Text, business_date: dt.date) -> None:
    """SPEC §2.2."""
    sec = text("treasury_securities")
    assert 200 <= sec.height <= 800
    assert sec["cusip"].is_unique().all()
    assert sec.select(cusip_is_valid(pl.col("cusip"))).to_series().all()
    assert set(sec["security_type"]) == set(SECURITY_TYPES)
    coupon = _num(sec, "coupon_rate")
    assert coupon.min() >= 0 and coupon.max() <= 20  # type: ignore[operator]
    issue, maturity = _dates(sec, "issue_date"), _dates(sec, "maturity_date")
    assert (issue < maturity).all()
    assert (maturity > business_date).all()
    price = _num(sec, "clean_price")
    assert price.min() >= 1 and price.max() <= 250  # type: ignore[operator]
    accrued = _num(sec, "accrued_interest")
    assert accrued.min() >= 0 and accrued.max() <= 10  # type: ignore[operator]
    dv01 = _num(sec, "dv01_per_100")
    assert dv01.min() > 0 and dv01.max() <= 0.5  # type: ignore[operator]
    # Issuer numbers of the Treasury: bills, notes (old and new series), bonds, STRIPS.
    prefixes = set(sec["cusip"].str.slice(0, 6))
    assert {"912797", "91282C", "912810", "912828", "912803"} <= prefixes


def _products(business_date: dt.date) -> set[str]:
    """The product universe of the parameter file in force on D (SPEC §2.10)."""
    return set(select_params(business_date, None).cme.product_codes)


def test_cme_contracts(text: Text, business_date: dt.date) -> None:
    """SPEC §2.4."""
    con = text("cme_contracts")
    assert con["contract_id"].is_unique().all()
    assert set(con["product_code"]) == _products(business_date)
    assert con["maturity_month"].str.contains(r"^\d{4}(0[1-9]|1[0-2])$").all()
    assert (_num(con, "settlement_price") > 0).all()
    dv01 = _num(con, "dv01_per_contract")
    assert dv01.min() > 0 and dv01.max() <= 1000  # type: ignore[operator]
    tenor = _num(con, "risk_tenor_years")
    assert tenor.min() >= 0 and tenor.max() <= 40  # type: ignore[operator]
    months = con.group_by("product_code").len()
    counts = dict(zip(months["product_code"], months["len"], strict=True))
    # Quarterly Treasury futures (a few listed), many months of the rate futures.
    assert all(counts[p] >= 2 for p in ("ZT", "Z3N", "ZF", "ZN", "TN", "TWE", "ZB", "UB"))
    assert all(counts[p] >= 12 for p in ("SR3", "SR1", "ZQ"))


def test_ficc_positions(text: Text, business_date: dt.date) -> None:
    """SPEC §2.1 and the cross-file rules of §3."""
    pos = text("ficc_positions")
    assert (pos["business_date"] == business_date.isoformat()).all()
    assert (pos["clearing_member_id"].str.len_chars().is_between(1, 12)).all()
    assert pos["account_id"].str.contains(ACCOUNT_ID).all()
    assert set(pos["account_id"]) <= set(text("accounts")["account_id"])
    assert set(pos["cusip"]) <= set(text("treasury_securities")["cusip"])
    assert (_dates(pos, "settlement_date") >= business_date).all()
    assert pos["par_amount"].str.contains(INTEGER).all()
    par = pos["par_amount"].cast(pl.Int64)
    assert (par != 0).all() and (par % 100 == 0).all() and (par.abs() <= 100_000_000_000).all()
    # Several rows per (account, cusip): different settlement dates, now and then another member.
    per_pair = pos.group_by("account_id", "cusip").len()["len"]
    assert per_pair.max() > 1 and per_pair.mean() > 1.5  # type: ignore[operator]
    assert pos["clearing_member_id"].n_unique() > 1
    netted = pos.with_columns(par=par).group_by("account_id", "cusip").agg(pl.col("par").sum())
    # Nets are mostly non-zero, long and short both present.
    assert (netted["par"] != 0).mean() > 0.9  # type: ignore[operator]
    assert (netted["par"] > 0).any() and (netted["par"] < 0).any()


def test_cme_positions(reports: pl.DataFrame, text: Text, business_date: dt.date) -> None:
    """SPEC §2.3: one FIN per report, unique (account, contract), references, BizDt = D."""
    assert reports.height > 0
    assert (reports["biz_dt"] == business_date.isoformat()).all()
    assert (reports["n_fin"] == 1).all() and (reports["n_account_parties"] == 1).all()
    assert reports["rpt_id"].is_unique().all()
    assert not reports.select("account_id", "contract_id").is_duplicated().any()
    for column in ("fin_long", "fin_short", "sod_long", "sod_short"):
        assert reports[column].str.contains(r"^\d+$").all(), column
    assert reports["fmtm"].str.contains(DECIMAL).all()
    assert set(reports["account_id"]) <= set(text("accounts")["account_id"])
    contracts = text("cme_contracts")
    assert set(reports["contract_id"]) <= set(contracts["contract_id"])
    joined = reports.join(contracts, on="contract_id")
    assert (joined["product_symbol"] == joined["product_code"]).all()
    assert (joined["set_px"].cast(pl.Float64) == joined["settlement_price"].cast(pl.Float64)).all()
    net = reports["fin_long"].cast(pl.Int64) - reports["fin_short"].cast(pl.Int64)
    assert (net != 0).mean() > 0.9  # type: ignore[operator]
    assert set(joined["product_code"]) == _products(business_date)


def test_fixml_text_shape(small_set: dict[str, Path]) -> None:
    """The namespace of SPEC §2.3 and no DTD/entity declarations (they are refused)."""
    raw = small_set["cme_positions"].read_text(encoding="utf-8")
    assert raw.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert '<FIXML xmlns="http://www.fixprotocol.org/FIXML-5-0-SP2">' in raw
    assert "<!DOCTYPE" not in raw and "<!ENTITY" not in raw
    assert raw.count("<PosRpt ") == raw.count('<Qty Typ="FIN"')


def test_balances(text: Text, reports: pl.DataFrame) -> None:
    """SPEC §2.6: unique rows for every account with positions, plus a few without."""
    bal = text("balances")
    assert bal["account_id"].is_unique().all()
    assert set(bal["account_id"]) <= set(text("accounts")["account_id"])
    with_positions = set(text("ficc_positions")["account_id"]) | set(reports["account_id"])
    assert with_positions <= set(bal["account_id"])
    idle = bal.filter(~pl.col("account_id").is_in(list(with_positions)))
    assert idle.height > 0 and (_num(idle, "cash_balance") < 0).any()
    cash = _num(bal, "cash_balance")
    assert (cash < 0).any() and (cash > 0).any()
    assert (_num(bal, "securities_collateral_value") >= 0).all()
    haircut = _num(bal, "collateral_haircut_pct")
    assert ((haircut >= 0) & (haircut < 100)).all()
    assert (_num(bal, "ficc_margin_on_deposit") >= 0).all()
    _booleans(bal, "debit_unsecured")
    _booleans(bal, "debit_doubtful")


def test_var_scenarios(text: Text) -> None:
    """SPEC §2.7: ≥ 1,000 scenarios (1,250), the ten tenor columns, |dy| ≤ 500, no nulls."""
    scen = text("ficc_var_scenarios")
    expected = ["scenario_id"] + [
        f"dy_{t}" for t in ("0_25", "0_5", "1", "2", "3", "5", "7", "10", "20", "30")
    ]
    assert scen.columns == expected
    assert scen.height == 1_250
    assert scen["scenario_id"].str.contains(INTEGER).all() and scen["scenario_id"].is_unique().all()
    for column in expected[1:]:
        dy = _num(scen, column)
        assert dy.abs().max() <= 500  # type: ignore[operator]
        # A 3-day move of a few to a few tens of bp at one standard deviation.
        assert 3 < dy.std() < 30, column  # type: ignore[operator]


def test_var_scenarios_fat_tailed(text: Text) -> None:
    """The factor model's Student-t tails: 10y kurtosis well above a normal's 3."""
    dy = text("ficc_var_scenarios")["dy_10"].cast(pl.Float64)
    centred = dy - dy.mean()  # type: ignore[operator]
    kurtosis = (centred**4).mean() / (centred**2).mean() ** 2  # type: ignore[operator]
    assert kurtosis > 3.5


def test_reserve_files(text: Text) -> None:
    """SPEC §2.8, §2.9."""
    items = text("reserve_items")
    assert set(items["book"]) <= {"CUSTOMER", "PAB"}
    item = items["item"].cast(pl.Int64)
    assert item.is_in([*range(2, 10), *range(11, 15)]).all()
    assert not items.select("book", "item").is_duplicated().any()
    assert (_num(items, "amount") >= 0).all()
    bank = text("reserve_bank")
    assert sorted(bank["book"]) == ["CUSTOMER", "PAB", "XM_4D"]
    assert (_num(bank, "on_deposit") >= 0).all()
    assert (_num(bank, "on_deposit") > 0).all()


@pytest.mark.parametrize(
    "name",
    [
        "accounts",
        "treasury_securities",
        "cme_contracts",
        "ficc_positions",
        "balances",
        "ficc_var_scenarios",
        "reserve_items",
        "reserve_bank",
    ],
)
def test_csv_has_no_exponents_or_padding(small_set: dict[str, Path], name: str) -> None:
    """Plain decimals only (SPEC §2): no exponent, no NaN/inf, no surrounding whitespace."""
    raw = small_set[name].read_text(encoding="utf-8")
    body = raw.split("\n", 1)[1]
    assert raw.endswith("\n") and "\r" not in raw
    for bad in ("e+", "e-", "E+", "E-", "nan", "inf", " ,", ", ", '"'):
        assert bad not in body, f"{name}: found {bad!r}"
