"""ODCS contract -> GX suite compiler, formats and check digits (SPEC §2-§3)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from pipeline.config import load_params
from pipeline.contracts.checkdigits import cusip_is_valid, lei_is_valid
from pipeline.contracts.compiler import FLAG_PREFIX, CompileEnv, compile_contract
from pipeline.contracts.odcs import load_contract, parse_contract
from pipeline.errors import InternalError
from pipeline.inputs import INPUT_NAMES

PARAMS = load_params(Path(__file__).parents[2] / "golden" / "01_xm_basis_cap" / "params.yaml")
D = dt.date(2026, 11, 20)

# ARCHITECTURE.md "Typed staged inputs", transcribed by hand.
STAGED = {
    "accounts": "account_id Utf8, customer_lei Utf8, account_class Utf8, xm_opt_in_date Date, "
    "subordination_agreement_date Date, disclosure_ack_date Date, hrp Boolean, "
    "ficc_multiplier Float64",
    "treasury_securities": "cusip Utf8, security_type Utf8, coupon_rate Float64, issue_date Date, "
    "maturity_date Date, clean_price Float64, accrued_interest Float64, dv01_per_100 Float64",
    "cme_contracts": "contract_id Utf8, product_code Utf8, maturity_month Utf8, "
    "settlement_price Float64, dv01_per_contract Float64, risk_tenor_years Float64",
    "ficc_positions": "business_date Date, clearing_member_id Utf8, account_id Utf8, cusip Utf8, "
    "settlement_date Date, par_amount Int64",
    "cme_positions": "rpt_id Utf8, business_date Date, account_id Utf8, clearing_firm_id Utf8, "
    "contract_id Utf8, product_symbol Utf8, maturity_month Utf8, sod_long Int64, "
    "sod_short Int64, long_qty Int64, short_qty Int64, fmtm_amount Float64, "
    "settlement_price Float64",
    "balances": "account_id Utf8, cash_balance Float64, securities_collateral_value Float64, "
    "collateral_haircut_pct Float64, ficc_margin_on_deposit Float64, debit_unsecured Boolean, "
    "debit_doubtful Boolean",
    "ficc_var_scenarios": "scenario_id Int64, dy_0_25 Float64, dy_0_5 Float64, dy_1 Float64, "
    "dy_2 Float64, dy_3 Float64, dy_5 Float64, dy_7 Float64, dy_10 Float64, dy_20 Float64, "
    "dy_30 Float64",
    "reserve_items": "book Utf8, item Int64, amount Float64",
    "reserve_bank": "book Utf8, on_deposit Float64",
}

MINI = """
apiVersion: v3.1.0
kind: DataContract
id: urn:test:mini
name: mini
version: 2.1.0
schema:
  - name: mini
    physicalType: csv
    properties:
      - name: code
        logicalType: string
        physicalType: Utf8
        required: true
        unique: true
        logicalTypeOptions: {pattern: '^[A-Z]{3}$'}
      - name: kind
        logicalType: string
        physicalType: Utf8
        required: true
        customProperties:
          - {property: enum, value: [A, B]}
      - name: qty
        logicalType: number
        physicalType: Float64
        required: false
        logicalTypeOptions: {minimum: 0, exclusiveMinimum: true, maximum: 10}
      - name: day
        logicalType: date
        physicalType: Date
        required: true
        customProperties:
          - {property: compareToBusinessDate, value: ge}
    quality:
      - name: enough_rows
        type: library
        metric: rowCount
        mustBeGreaterOrEqualTo: 2
      - name: unknown_columns
        type: custom
        engine: xmargin
        implementation: unknownColumns
        severity: warning
"""


def _mini(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(MINI)
    doc.update(changes)
    return doc


def _by_rule(compiled: Any) -> dict[str, Any]:
    return {r.rule: r for r in compiled.rules}


def test_every_rule_becomes_one_gx_expectation_with_its_meta() -> None:
    contract = parse_contract(_mini(), Path("mini.yaml"))
    compiled = compile_contract(contract, CompileEnv(D))
    rules = _by_rule(compiled)
    suite = compiled.suite()
    assert suite.name == "mini@2.1.0"
    assert len(suite.expectations) == len(compiled.rules)
    assert {e.meta["rule"] for e in suite.expectations} == set(rules)

    def config(rule: str) -> tuple[str, dict[str, Any]]:
        cfg = rules[rule].expectation.configuration
        return cfg.type, dict(cfg.kwargs)

    assert config("code.required") == ("expect_column_values_to_not_be_null", {"column": "code"})
    assert config("code.unique")[0] == "expect_column_values_to_be_unique"
    assert config("kind.enum")[1]["value_set"] == ["A", "B"]
    kind, kwargs = config("qty.range")
    assert kind == "expect_column_values_to_be_between"
    assert (kwargs["min_value"], kwargs["max_value"], kwargs["strict_min"]) == (0, 10, True)
    assert kwargs["column"] == "__typed__qty"
    assert config("enough_rows") == (
        "expect_table_row_count_to_be_between",
        {"min_value": 2},
    )
    # GX has no expectation for a regex precomputed in Polars: the suite checks its pass column.
    assert config("code.pattern") == (
        "expect_column_values_to_be_in_set",
        {"column": FLAG_PREFIX + "code.pattern", "value_set": [True]},
    )
    assert rules["unknown_columns"].severity == "warning"
    assert rules["unknown_columns"].expectation.meta["severity"] == "warning"
    assert rules["qty.range"].expectation.meta == {
        "rule": "qty.range",
        "column": "qty",
        "severity": "error",
        "description": "0 < x ≤ 10",
        "contract": "mini",
    }
    assert "qty.required" not in rules
    assert "day.business_date_ge" in rules and "day.iso_date" in rules


def test_missing_column_keeps_its_presence_rule_only() -> None:
    contract = parse_contract(_mini(), Path("mini.yaml"))
    columns = {"code": pl.String(), "kind": pl.String(), "day": pl.String()}
    compiled = compile_contract(contract, CompileEnv(D, columns))
    rules = _by_rule(compiled)
    assert "qty.present" in rules
    assert not [r for r in rules if r.startswith("qty.") and r != "qty.present"]
    assert rules["unknown_columns"].expectation.configuration.kwargs["column_set"] == [
        "code",
        "day",
        "kind",
    ]


def test_gx_finds_the_failing_rows_of_a_small_frame() -> None:
    from pipeline.contracts.validate import run_contract
    from pipeline.inputs import InputSpec

    contract = parse_contract(_mini(), Path("mini.yaml"))
    raw = pl.DataFrame(
        {
            "code": ["ABC", "abc", "ABC"],
            "kind": ["A", "C", "B"],
            "qty": ["1.5", "0", None],
            "day": ["2026-11-20", "2026-11-19", "2026-02-30"],
        }
    )
    compiled = compile_contract(contract, CompileEnv(D, dict(raw.schema)))
    checks, results = run_contract(compiled, raw, InputSpec("mini", "csv"))
    failed = {c.rule: (c.failing_count, [e["line"] for e in c.examples]) for c in checks}
    failed = {k: v for k, v in failed.items() if v[0]}
    assert failed == {
        "code.unique": (2, [2, 4]),
        "code.pattern": (1, [3]),
        "kind.enum": (1, [3]),
        "qty.range": (1, [3]),
        "day.iso_date": (1, [4]),
        "day.business_date_ge": (1, [3]),
    }
    assert len(results) == len(compiled.groups())


def test_scenario_columns_and_row_minimum_come_from_the_parameters() -> None:
    contract = load_contract("ficc_var_scenarios", PARAMS)
    names = [p.name for p in contract.properties]
    assert names == ["scenario_id", *PARAMS.tenor_columns]
    rules = _by_rule(compile_contract(contract, CompileEnv(D)))
    kwargs = rules["at_least_min_scenarios"].expectation.configuration.kwargs
    assert kwargs["min_value"] == PARAMS.ficc.min_scenarios == 20
    assert rules["dy_0_25.range"].expectation.configuration.kwargs["max_value"] == 500


@pytest.mark.parametrize("name", INPUT_NAMES)
def test_shipped_contracts_stage_the_architecture_schema(name: str) -> None:
    contract = load_contract(name, PARAMS)
    assert contract.api_version.startswith("v3.")
    staged = ", ".join(
        f"{p.staged_name} {p.physical_type}" for p in contract.properties if p.staged_name
    )
    assert staged == STAGED[name]
    compiled = compile_contract(contract, CompileEnv(D))
    assert compiled.rules and all(r.severity in ("error", "warning") for r in compiled.rules)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"apiVersion": "v2.2.2"}, "apiVersion"),
        ({"kind": "Contract"}, "kind"),
        ({"schema": []}, "schema"),
    ],
)
def test_malformed_contract_names_file_and_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InternalError) as info:
        parse_contract(_mini(**change), Path("mini.yaml"))
    assert "mini.yaml" in str(info.value) and field in str(info.value)


def test_bad_logical_type_is_refused() -> None:
    doc = _mini()
    doc["schema"][0]["properties"][2]["logicalType"] = "decimal"
    with pytest.raises(InternalError, match=r"properties\[2\]\.logicalType: found 'decimal'"):
        parse_contract(doc, Path("mini.yaml"))


def _flags(values: list[str | None], logical: str, physical: str) -> list[bool]:
    doc = _mini()
    doc["schema"][0]["properties"] = [
        {"name": "v", "logicalType": logical, "physicalType": physical, "required": False}
    ]
    doc["schema"][0]["quality"] = []
    compiled = compile_contract(parse_contract(doc, Path("mini.yaml")), CompileEnv(D))
    frame = compiled.gx_frame(pl.DataFrame({"v": values}, schema={"v": pl.String}))
    [flag] = [c for c in frame.columns if c.startswith(FLAG_PREFIX)]
    return frame[flag].to_list()


def test_decimals_are_plain() -> None:
    values = ["1", "-2.50", "+3", "0.000001", "NaN", "inf", "-Infinity", "1e5", "1,000", " 1"]
    expected = [True] * 4 + [False] * 6
    assert _flags([*values, None], "number", "Float64") == [*expected, True]


def test_integers_booleans_and_dates() -> None:
    assert _flags(["100", "-5", "1.0", "1e2", "99999999999999999999"], "integer", "Int64") == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert _flags(["true", "FALSE", "True", "1", "0", "yes", "t", ""], "boolean", "Boolean") == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert _flags(["2026-11-20", "2026-02-30", "2026-2-3", "20261120"], "date", "Date") == [
        True,
        False,
        False,
        False,
    ]


def test_staged_booleans_and_numbers_are_typed() -> None:
    doc = _mini()
    doc["schema"][0]["properties"] = [
        {"name": "b", "logicalType": "boolean", "physicalType": "Boolean", "required": True},
        {"name": "n", "logicalType": "number", "physicalType": "Float64", "required": True},
    ]
    compiled = compile_contract(parse_contract(doc, Path("mini.yaml")), CompileEnv(D))
    raw = pl.DataFrame({"b": ["TRUE", "0"], "n": ["-1.25", "+2"]})
    staged = compiled.staged_frame(raw)
    assert staged.to_dict(as_series=False) == {"b": [True, False], "n": [-1.25, 2.0]}


def _all_check_digits(code: str) -> list[str]:
    return [code[:-1] + d for d in "0123456789"]


@pytest.mark.parametrize("cusip", ["91282CQ87", "912797Q18", "037833100", "38259P508"])
def test_cusip_check_digit_accepts_exactly_one_digit(cusip: str) -> None:
    frame = pl.DataFrame({"c": _all_check_digits(cusip)})
    valid = frame.filter(cusip_is_valid(pl.col("c")))["c"].to_list()
    assert valid == [cusip]


@pytest.mark.parametrize("lei", ["549300XM100000000060", "5493001KJTIIGC8Y1R12"])
def test_lei_mod97_accepts_exactly_one_pair_of_check_digits(lei: str) -> None:
    candidates = [lei[:-2] + f"{k:02d}" for k in range(100)]
    frame = pl.DataFrame({"c": candidates})
    assert frame.filter(lei_is_valid(pl.col("c")))["c"].to_list() == [lei]


def test_malformed_codes_are_invalid() -> None:
    frame = pl.DataFrame({"c": ["91282CQ8", "91282CQ870", "91282cq87", None]})
    assert frame.select(cusip_is_valid(pl.col("c")))["c"].to_list() == [False] * 4
    frame = pl.DataFrame({"c": ["549300XM10000000006", "549300xm100000000060"]})
    assert frame.select(lei_is_valid(pl.col("c")))["c"].to_list() == [False, False]


def test_odcs_v3_0_rule_name_is_read_as_the_metric() -> None:
    doc = _mini(apiVersion="v3.0.2")
    quality = doc["schema"][0]["quality"][0]
    quality["rule"] = quality.pop("metric")
    contract = parse_contract(doc, Path("mini.yaml"))
    assert contract.quality[0].metric == "rowCount"
    doc["schema"][0]["quality"][0]["rule"] = "nullValues"
    with pytest.raises(InternalError, match=r"quality\[0\]\.metric: found 'nullValues'"):
        parse_contract(doc, Path("mini.yaml"))
