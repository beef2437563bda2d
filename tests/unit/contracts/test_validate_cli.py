"""`xmargin validate` on mutated golden inputs: rejections, warnings, quarantine (SPEC §3, §8)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipeline.contracts import FileOutcome, ValidationOutcome
from tests.unit.contracts.conftest import PARAMS, Inbox, Validated

FICC = "ficc_positions_20261120.csv"
CME = "cme_positions_20261120.xml"
ACCOUNTS = "accounts_20261120.csv"
SECURITIES = "treasury_securities_20261120.csv"
BALANCES = "balances_20261120.csv"
ITEMS = "reserve_items_20261120.csv"


def assert_rejected(v: Validated, file_name: str, rule: str, column: str, count: int) -> dict:
    """Exit 1, a message naming file/rule/column/count, quarantine with file and report."""
    assert v.code == 1, v.err
    assert f"{file_name}: rule {rule}, column {column}: {count} failing" in v.message, v.message
    quarantine = v.quarantine()
    assert (quarantine / file_name).is_file()
    assert (quarantine / "report.html").is_file()
    failure = v.failure(file_name, rule)
    assert failure["failing_count"] == count
    assert failure["severity"] == "error"
    html = (quarantine / "report.html").read_text()
    assert rule in html and file_name in html
    outputs = v.root / "outputs"
    assert not outputs.exists() or not any(outputs.rglob("*"))
    return failure


def test_golden_inputs_pass_and_are_staged_typed(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    v = inbox.validate(capsys)
    assert v.code == 0, v.err
    results = json.loads((v.validation_dir() / "validation_results.json").read_text())
    assert results["outcome"] == "passed"
    assert {f["outcome"] for f in results["files"]} == {"passed"}
    assert (v.validation_dir() / "index.html").is_file()
    gx = json.loads((v.validation_dir() / "ficc_positions.json").read_text())
    suites = gx["great_expectations"]
    assert suites and all(result["success"] is True for result in suites)
    checked = {r["expectation_config"]["meta"]["rule"] for s in suites for r in s["results"]}
    assert {"cusip.check_digit", "account_id.references_accounts"} <= checked
    staged = v.validation_dir().parent / "staged"
    cme = pl.read_parquet(staged / "cme_positions.parquet")
    assert cme["short_qty"].to_list() == [100, 100, 60]
    assert cme.schema["business_date"] == pl.Date
    assert not (v.root / "quarantine").exists()


def test_bad_cusip_check_digit(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    inbox.replace("treasury_securities", "91282CQ46", "91282CQ47")
    failure = assert_rejected(inbox.validate(capsys), SECURITIES, "cusip.check_digit", "cusip", 1)
    assert failure["examples"] == [
        {
            "line": 3,
            "values": {
                "cusip": "91282CQ47",
                "security_type": "NOTE",
                "coupon_rate": "3.875",
                "issue_date": "2025-11-30",
                "maturity_date": "2030-11-20",
                "clean_price": "99.750000",
                "accrued_interest": "0.000000",
                "dv01_per_100": "0.038000",
            },
        }
    ]


def test_duplicate_account_ids(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    text = inbox.text("accounts")
    inbox.write("accounts", text + text.splitlines()[1] + "\n")
    failure = assert_rejected(
        inbox.validate(capsys), ACCOUNTS, "account_id.unique", "account_id", 2
    )
    assert [e["line"] for e in failure["examples"]] == [2, 5]


def test_duplicate_cme_account_and_contract(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox.replace("cme_positions", 'ID="NX1" R="24"', 'ID="XM1" R="24"')
    failure = assert_rejected(
        inbox.validate(capsys), CME, "primary_key.unique", "account_id,contract_id", 2
    )
    assert {e["values"]["rpt_id"] for e in failure["examples"]} == {"G0001", "G0002"}


def test_unknown_account(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    inbox.replace("ficc_positions", ",NX1,", ",NA,")
    failure = assert_rejected(
        inbox.validate(capsys), FICC, "account_id.references_accounts", "account_id", 1
    )
    assert failure["examples"][0]["values"]["account_id"] == "NA"


def test_unknown_cusip(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    # A valid check digit (Apple's CUSIP) that the security master does not carry.
    inbox.replace("ficc_positions", "91282CQ87", "037833100", count=2)
    assert_rejected(
        inbox.validate(capsys), FICC, "cusip.references_treasury_securities", "cusip", 2
    )


def test_unknown_contract(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    inbox.replace("cme_positions", 'Instrmt ID="ZNZ6"', 'Instrmt ID="ZBZ9"')
    failure = assert_rejected(
        inbox.validate(capsys), CME, "contract_id.references_cme_contracts", "contract_id", 1
    )
    assert failure["examples"][0]["line"] == 4


def test_wrong_business_date(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    inbox.replace("ficc_positions", "2026-11-20,0905", "2026-11-19,0905", count=2)
    inbox.replace("cme_positions", 'BizDt="2026-11-20"', 'BizDt="2026-11-21"')
    v = inbox.validate(capsys)
    assert_rejected(v, FICC, "business_date.business_date_eq", "business_date", 2)
    assert v.failure(CME, "biz_dt.business_date_eq")["failing_count"] == 1


def test_a_rule_failing_on_every_row_reports_all_and_the_first_examples(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    # Yesterday's file sent again, many times the example limit: every row fails the date rule.
    header, *rows = inbox.text("ficc_positions").splitlines()
    rows = [r.replace("2026-11-20,", "2026-11-19,", 1) for r in rows] * 12
    assert len(rows) > 2 * 20
    inbox.write("ficc_positions", "\n".join([header, *rows]) + "\n")
    v = inbox.validate(capsys)
    failure = assert_rejected(v, FICC, "business_date.business_date_eq", "business_date", len(rows))
    # The first 20 failing rows, by their line numbers in the file, with the values read there.
    assert [e["line"] for e in failure["examples"]] == list(range(2, 22))
    assert [e["values"]["business_date"] for e in failure["examples"]] == ["2026-11-19"] * 20
    lines = inbox.text("ficc_positions").splitlines()
    assert [e["values"]["account_id"] for e in failure["examples"]] == [
        lines[n - 1].split(",")[2] for n in range(2, 22)
    ]
    # GX's own result, kept beside the report, labels the same rows by the same line numbers.
    gx = json.loads((v.validation_dir() / "ficc_positions.json").read_text())
    result = next(
        r
        for s in gx["great_expectations"]
        for r in s["results"]
        if r["expectation_config"]["meta"]["rule"] == "business_date.business_date_eq"
    )
    assert result["result"]["unexpected_count"] == len(rows)
    assert result["result"]["partial_unexpected_index_list"] == list(range(2, 22))


def test_truncated_csv(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    text = inbox.text("ficc_positions")
    inbox.write("ficc_positions", text[: len(text) - 12])
    v = inbox.validate(capsys)
    assert v.code == 1
    assert f"{FICC}: rule row_shape" in v.message
    assert (v.quarantine() / FICC).is_file()
    assert v.failure(FICC, "row_shape")["failing_count"] >= 1


def test_truncated_xml(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    text = inbox.text("cme_positions")
    inbox.write("cme_positions", text[: len(text) // 2])
    v = inbox.validate(capsys)
    assert v.code == 1
    assert f"{CME}: rule xml_wellformed" in v.message
    assert v.failure(CME, "xml_wellformed")["failing_count"] >= 1
    assert (v.quarantine() / CME).is_file()


def test_non_utf8_byte(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    path = inbox.path("balances")
    path.write_bytes(path.read_bytes().replace(b"NX1", b"NX\xff", 1))
    v = inbox.validate(capsys)
    assert v.code == 1
    assert f"{BALANCES}: rule encoding" in v.message
    assert (v.quarantine() / BALANCES).read_bytes() == path.read_bytes()


def test_missing_column(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pl.read_csv(inbox.path("accounts"), infer_schema=False).drop("hrp")
    frame.write_csv(inbox.path("accounts"))
    assert_rejected(inbox.validate(capsys), ACCOUNTS, "hrp.present", "hrp", 1)


@pytest.mark.parametrize("bad", ["NaN", "inf", "1e5"])
def test_non_plain_numbers(inbox: Inbox, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    inbox.replace("balances", "XM1,50000.00,", f"XM1,{bad},")
    failure = assert_rejected(
        inbox.validate(capsys), BALANCES, "cash_balance.plain_decimal", "cash_balance", 1
    )
    assert failure["examples"][0]["values"]["cash_balance"] == bad


XXE = """<?xml version="1.0"?>
<!DOCTYPE FIXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<FIXML><Batch><PosRpt RptID="&xxe;" BizDt="2026-11-20"/></Batch></FIXML>
"""
BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<FIXML><Batch><PosRpt RptID="&lol3;"/></Batch></FIXML>
"""


@pytest.mark.parametrize("payload", [XXE, BOMB], ids=["xxe", "entity_bomb"])
def test_unsafe_xml(inbox: Inbox, capsys: pytest.CaptureFixture[str], payload: str) -> None:
    inbox.write("cme_positions", payload)
    v = inbox.validate(capsys)
    assert v.code == 1
    assert f"{CME}: rule xml_safety" in v.message
    assert "root:" not in v.err
    assert (v.quarantine() / CME).is_file()


def test_reserve_item_15_is_refused(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    inbox.write("reserve_items", inbox.text("reserve_items") + "PAB,15,10.00\n")
    failure = assert_rejected(inbox.validate(capsys), ITEMS, "item.enum", "item", 1)
    assert failure["examples"][0] == {
        "line": 4,
        "values": {"book": "PAB", "item": "15", "amount": "10.00"},
    }


def test_account_with_positions_needs_a_balance_row(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = inbox.text("balances").splitlines(keepends=True)
    inbox.write("balances", "".join(line for line in lines if not line.startswith("HX1,")))
    failure = assert_rejected(
        inbox.validate(capsys),
        BALANCES,
        "accounts_with_positions_have_balance",
        "account_id",
        1,
    )
    assert failure["examples"] == [{"account_id": "HX1"}]


def test_missing_file_exits_3(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    inbox.path("reserve_bank").unlink()
    v = inbox.validate(capsys)
    assert v.code == 3
    assert "reserve_bank_20261120.csv" in v.message
    assert not (v.root / "quarantine").exists()


def test_extra_column_is_a_warning(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pl.read_csv(inbox.path("cme_contracts"), infer_schema=False)
    frame.with_columns(pl.lit("x").alias("desk")).write_csv(inbox.path("cme_contracts"))
    v = inbox.validate(capsys)
    assert v.code == 0, v.err
    results = json.loads((v.validation_dir() / "validation_results.json").read_text())
    entry = next(f for f in results["files"] if f["name"] == "cme_contracts")
    assert entry["outcome"] == "warning"
    [warning] = entry["failures"]
    assert (warning["rule"], warning["severity"], warning["failing_count"]) == (
        "unknown_columns",
        "warning",
        1,
    )
    assert "desk" in warning["detail"]
    staged = pl.read_parquet(v.validation_dir().parent / "staged" / "cme_contracts.parquet")
    assert "desk" not in staged.columns
    outcome = ValidationOutcome(
        dt.date(2026, 11, 20), "r", [FileOutcome.from_json(f) for f in results["files"]]
    )
    exceptions = outcome.warnings_frame()
    assert exceptions["kind"].to_list() == ["VALIDATION_WARNING"]
    assert exceptions.schema["business_date"] == pl.Date
    assert "cme_contracts_20261120.csv: rule unknown_columns" in exceptions["detail"][0]
    manifest = {m["input"]: m for m in outcome.to_manifest()}
    assert manifest["cme_contracts"]["outcome"] == "warning"
    assert manifest["accounts"]["rows"] == 3 and manifest["accounts"]["contract_version"]
    assert not (v.root / "quarantine").exists()


def test_product_codes_are_those_of_the_parameter_file_in_force(
    inbox: Inbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The product_code enum is read from cme.products (SPEC §2.10), never a second list."""
    contracts = "cme_contracts_20261120.csv"
    inbox.write("cme_contracts", inbox.text("cme_contracts") + "ZXZ6,ZX,202612,100.0,50,5.0\n")
    failure = assert_rejected(
        inbox.validate(capsys), contracts, "product_code.enum", "product_code", 1
    )
    assert failure["examples"][0]["values"]["product_code"] == "ZX"
    # The same file under a parameter file that trades ZX passes.
    doc = yaml.safe_load(PARAMS.read_text())
    doc["cme"]["products"]["ZX"] = {"scan_bp": 50, "intra_bp": 7}
    with_zx = tmp_path / "with_zx.yaml"
    with_zx.write_text(yaml.safe_dump(doc, sort_keys=False))
    v = inbox.validate(capsys, with_zx)
    assert v.code == 0, v.err
