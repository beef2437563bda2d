"""The CME FIXML contract through `xmargin validate` (SPEC §2.3, §3): what is refused, what warns.

The golden inbox of case 01 with its FIXML file changed one defect at a time; each refused
defect is its own rule with the report's line, the attribute and the value, exit 1 and the file
in quarantine.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from tests.unit.contracts.conftest import Inbox, Validated

CME = "cme_positions_20261120.xml"
# The golden FIXML: reports G0001-G0003 on lines 4-6 (XM1, NX1, HX1).
FIN_HX1 = '<Qty Typ="FIN" Long="10" Short="60"/>'


def rejected(v: Validated, rule: str, column: str, count: int) -> dict[str, object]:
    assert v.code == 1, v.err
    assert f"{CME}: rule {rule}, column {column}: {count} failing" in v.message, v.message
    assert (v.quarantine() / CME).is_file()
    failure = v.failure(CME, rule)
    assert failure["failing_count"] == count and failure["severity"] == "error"
    return failure


@pytest.mark.parametrize(
    ("attribute", "bad"),
    [
        ("Long", "10.5"),  # a fraction
        ("Short", "+60"),  # a sign, even a plus
        ("Short", "-60"),
        ("Long", "1e1"),  # an exponent
        ("Long", "ten"),  # text
        ("Long", ""),  # empty is not absent
        ("Long", " 10"),  # surrounding space
        ("Long", "10."),  # not a plain decimal
        ("Long", "99999999999999999999"),  # no Int64 holds it
    ],
)
def test_a_fin_quantity_that_is_no_whole_fix_quantity_is_refused(
    inbox: Inbox, capsys: pytest.CaptureFixture[str], attribute: str, bad: str
) -> None:
    good = {"Long": 'Long="10"', "Short": 'Short="60"'}[attribute]
    inbox.replace("cme_positions", FIN_HX1, FIN_HX1.replace(good, f'{attribute}="{bad}"'))
    v = inbox.validate(capsys)
    column = f"fin_{attribute.lower()}"
    failure = rejected(v, f"{column}.fix_quantity", column, 1)
    # The report's source line, the attribute (its place in the message) and the value.
    assert f"line 6: {column}={bad!r}" in v.message
    assert "PosRpt/Qty[@Typ='FIN']/@" + attribute in str(failure["description"])
    assert failure["examples"][0]["line"] == 6  # type: ignore[index]
    assert not (v.validation_dir().parent / "staged" / "cme_positions.parquet").exists()


@pytest.mark.parametrize("good", ["10.0", "10.00", "010", "10"])
def test_a_whole_number_decimal_fin_quantity_is_that_number(
    inbox: Inbox, capsys: pytest.CaptureFixture[str], good: str
) -> None:
    inbox.replace("cme_positions", FIN_HX1, FIN_HX1.replace('Long="10"', f'Long="{good}"'))
    v = inbox.validate(capsys)
    assert v.code == 0, v.err
    staged = pl.read_parquet(v.validation_dir().parent / "staged" / "cme_positions.parquet")
    assert staged["long_qty"].to_list() == [0, 0, 10]


def test_an_omitted_fin_quantity_is_zero(inbox: Inbox, capsys: pytest.CaptureFixture[str]) -> None:
    inbox.replace(
        "cme_positions", '<Qty Typ="FIN" Long="0" Short="100"/>', '<Qty Typ="FIN" Short="100"/>'
    )
    inbox.replace("cme_positions", FIN_HX1, '<Qty Long="10" Typ="FIN"/>')
    v = inbox.validate(capsys)
    assert v.code == 0, v.err
    staged = pl.read_parquet(v.validation_dir().parent / "staged" / "cme_positions.parquet")
    assert staged.select("long_qty", "short_qty").rows() == [(0, 100), (0, 100), (10, 0)]


def test_a_report_without_a_fin_quantity_is_refused(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox.replace("cme_positions", FIN_HX1, '<Qty Typ="IAS" Long="10"/>')
    v = inbox.validate(capsys)
    rejected(v, "n_fin_qty.range", "n_fin_qty", 1)


def test_the_position_account_r38_is_the_account_when_r24_is_absent(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox.replace("cme_positions", 'Pty ID="NX1" R="24"', 'Pty ID="NX1" R="38"')
    v = inbox.validate(capsys)
    assert v.code == 0, v.err
    staged = pl.read_parquet(v.validation_dir().parent / "staged" / "cme_positions.parquet")
    assert staged["account_id"].to_list() == ["XM1", "NX1", "HX1"]


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ('<Pty ID="NX1" R="24"/>', '<Pty ID="NX1" R="4"/>', "neither R=24 nor R=38"),
        ('<Pty ID="NX1" R="24"/>', '<Pty ID="NX1" Role="24"/>', "FIXML 4.4's Role= is not read"),
        ('<Pty ID="NX1" R="24"/>', '<Pty ID="NX1" R="38"/><Pty ID="NX2" R="38"/>', "two R=38"),
        ('<Pty ID="NX1" R="24"/>', '<Pty ID="NX1" R="24"/><Pty ID="NX2" R="24"/>', "two R=24"),
    ],
)
def test_not_exactly_one_party_of_the_account_role_is_refused(
    inbox: Inbox, capsys: pytest.CaptureFixture[str], old: str, new: str, why: str
) -> None:
    inbox.replace("cme_positions", old, new)
    v = inbox.validate(capsys)
    failure = rejected(v, "n_account_parties.range", "n_account_parties", 1)
    assert failure["examples"][0]["line"] == 5, why  # type: ignore[index]


def test_a_party_nested_deeper_is_not_the_account(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox.replace(
        "cme_positions",
        '<Pty ID="NX1" R="24"/>',
        '<Qty Typ="XYZ" Long="1"><Pty ID="NX1" R="24"/></Qty>',
    )
    v = inbox.validate(capsys)
    rejected(v, "n_account_parties.range", "n_account_parties", 1)
    assert v.failure(CME, "account_id.required")["failing_count"] == 1


def test_a_bad_sod_quantity_is_staged_null_with_one_warning(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox.replace("cme_positions", '<Qty Typ="SOD" Long="10"', '<Qty Typ="SOD" Long="10.5"')
    v = inbox.validate(capsys)
    assert v.code == 0, v.err
    results = json.loads((v.validation_dir() / "validation_results.json").read_text())
    entry = next(f for f in results["files"] if f["name"] == "cme_positions")
    assert entry["outcome"] == "warning"
    [warning] = entry["failures"]
    assert (warning["rule"], warning["severity"], warning["failing_count"]) == (
        "sod_long.fix_quantity",
        "warning",
        1,
    )
    assert warning["examples"][0]["line"] == 6
    staged = pl.read_parquet(v.validation_dir().parent / "staged" / "cme_positions.parquet")
    assert staged["sod_long"].to_list() == [0, 0, None]
    assert staged["long_qty"].to_list() == [0, 0, 10]


def test_other_messages_are_one_warning_per_name_with_its_count(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    acks = '<PosReqAck RptID="A1" Rslt="0"/>\n<PosReqAck RptID="A2" Rslt="0"/>\n'
    inbox.replace("cme_positions", "<Batch>\n", "<Batch>\n" + acks + '<TrdCaptRpt RptID="T"/>\n')
    v = inbox.validate(capsys)
    assert v.code == 0, v.err
    results = json.loads((v.validation_dir() / "validation_results.json").read_text())
    entry = next(f for f in results["files"] if f["name"] == "cme_positions")
    warnings = {(w["rule"], w["failing_count"], w["severity"]) for w in entry["failures"]}
    assert warnings == {
        ("other_messages.PosReqAck", 2, "warning"),
        ("other_messages.TrdCaptRpt", 1, "warning"),
    }
    staged = pl.read_parquet(v.validation_dir().parent / "staged" / "cme_positions.parquet")
    assert staged.height == 3


@pytest.mark.parametrize(
    "root",
    [
        '<FIXML xmlns="http://www.fixprotocol.org/FIXML-4-4">',
        '<FIXML xmlns="urn:cme:positions">',
        "<Positions>",
    ],
)
def test_another_root_or_namespace_is_refused(
    inbox: Inbox, capsys: pytest.CaptureFixture[str], root: str
) -> None:
    text = inbox.text("cme_positions")
    text = text.replace('<FIXML xmlns="http://www.fixprotocol.org/FIXML-5-0-SP2">', root)
    inbox.write("cme_positions", text.replace("</FIXML>", f"</{root[1:].split()[0].rstrip('>')}>"))
    v = inbox.validate(capsys)
    assert v.code == 1, v.err
    assert f"{CME}: rule xml_wellformed" in v.message and "root element" in v.message
    assert (v.quarantine() / CME).is_file()
