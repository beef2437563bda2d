"""Streaming FIXML reader (SPEC §2.3): raw columns, XXE safety, well-formedness, structure.

Every test runs twice: with the compiled extractor (`_fixml_native`) and with its pure-Python
twin (`_fixml_python`); both must give the same rows and the same errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline.errors import InputFormatError
from pipeline.ingest import fixml
from pipeline.ingest.fixml import RAW_SCHEMA, read_cme_positions, scan_for_dtd

GOLDEN_XML = (
    Path(__file__).parents[2] / "golden/01_xm_basis_cap/inbox/20261120/cme_positions_20261120.xml"
)
NS = 'xmlns="http://www.fixprotocol.org/FIXML-5-0-SP2"'


@pytest.fixture(autouse=True, params=["native", "python"])
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    impl = fixml._IMPLEMENTATIONS[request.param]
    if impl is None:
        pytest.fail("the compiled FIXML extractor is not built (pip install -e . with a compiler)")
    monkeypatch.setattr(fixml, "IMPLEMENTATION", impl)
    return str(request.param)


def fixml_doc(reports: str, ns: bool = True, prolog: str = "") -> bytes:
    xmlns = f" {NS}" if ns else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}<FIXML{xmlns}>\n<Batch>\n'
        f"{reports}</Batch>\n</FIXML>\n"
    ).encode()


def read_full(tmp_path: Path, data: bytes) -> tuple[fixml.FixmlRead, list[dict[str, object]]]:
    src = tmp_path / "cme_positions_20261120.xml"
    src.write_bytes(data)
    dest = tmp_path / "raw" / "cme_positions.parquet"
    result = read_cme_positions(src, dest)
    table = pq.read_table(dest)
    assert table.schema.equals(RAW_SCHEMA)
    assert result.reports == table.num_rows
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)
    # The same rows in memory when no destination is given.
    in_memory = read_cme_positions(src)
    assert in_memory.table is not None and in_memory.table.equals(table)
    rows: list[dict[str, object]] = table.to_pylist()
    return result, rows


def read(tmp_path: Path, data: bytes) -> list[dict[str, object]]:
    return read_full(tmp_path, data)[1]


def reject(tmp_path: Path, data: bytes, rule: str) -> InputFormatError:
    src = tmp_path / "cme_positions_20261120.xml"
    src.write_bytes(data)
    dest = tmp_path / "raw.parquet"
    dest.write_bytes(b"previous")
    with pytest.raises(InputFormatError) as info:
        read_cme_positions(src, dest)
    assert info.value.rule == rule, str(info.value)
    assert info.value.exit_code == 1
    assert src.name in str(info.value)
    # Atomic: a refused file leaves the destination as it was and no temp file behind.
    assert dest.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or "parts" in p.name] == []
    return info.value


def test_golden_file_with_and_without_namespace(tmp_path: Path) -> None:
    data = GOLDEN_XML.read_bytes()
    with_ns = read(tmp_path, data)
    without_ns = read(tmp_path, data.replace(b" " + NS.encode(), b""))
    assert with_ns == without_ns
    assert [(r["line"], r["rpt_id"], r["account_id"]) for r in with_ns] == [
        (4, "G0001", "XM1"),
        (5, "G0002", "NX1"),
        (6, "G0003", "HX1"),
    ]
    assert with_ns[2] == {
        "line": 6,
        "rpt_id": "G0003",
        "biz_dt": "2026-11-20",
        "req_typ": "0",
        "set_ses_id": "EOD",
        "set_px": "111.953125",
        "pri_set_px": None,
        "account_id": "HX1",
        "account_role": "24",
        "n_account_parties": 1,
        "clearing_firm_id": "905",
        "contract_id": "ZNZ6",
        "product_symbol": "ZN",
        "security_type": "FUT",
        "maturity_month": "202612",
        "exchange": "CBT",
        "sod_long": "10",
        "sod_short": "60",
        "fin_long": "10",
        "fin_short": "60",
        "n_fin_qty": 1,
        "fmtm_amount": "0.00",
        "fmtm_ccy": "USD",
    }


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    rows = read(tmp_path, b"\xef\xbb\xbf" + GOLDEN_XML.read_bytes())
    assert [(r["line"], r["rpt_id"]) for r in rows] == [(4, "G0001"), (5, "G0002"), (6, "G0003")]


def test_repeated_qty_and_party_are_counted_first_one_wins(tmp_path: Path) -> None:
    report = (
        '<PosRpt RptID="R1" BizDt="2026-11-20">'
        '<Pty ID="905" R="4"/><Pty ID="906" R="4"/><Pty ID="A1" R="24"/><Pty ID="A2" R="24"/>'
        '<Instrmt ID="ZNZ6" Sym="ZN"/><Instrmt ID="ZBZ6"/>'
        '<Qty Typ="SOD" Long="1" Short="2"/><Qty Typ="FIN" Long="5" Short="0"/>'
        '<Qty Typ="FIN" Long="7" Short="1"/><Qty Typ="XYZ" Long="9" Short="9"/>'
        '<Amt Typ="OTHER" Amt="1" Ccy="EUR"/><Amt Typ="FMTM" Amt="-4296.88" Ccy="USD"/>'
        "</PosRpt>\n"
    )
    (row,) = read(tmp_path, fixml_doc(report))
    assert (row["account_id"], row["n_account_parties"], row["clearing_firm_id"]) == (
        "A1",
        2,
        "905",
    )
    assert (row["fin_long"], row["fin_short"], row["n_fin_qty"]) == ("5", "0", 2)
    assert (row["sod_long"], row["sod_short"]) == ("1", "2")
    assert (row["contract_id"], row["product_symbol"]) == ("ZNZ6", "ZN")
    assert (row["fmtm_amount"], row["fmtm_ccy"]) == ("-4296.88", "USD")


def test_missing_attributes_and_children_are_null_not_guessed(tmp_path: Path) -> None:
    reports = (
        '<PosRpt RptID="R1"><Pty ID="A1" R="24"/><Qty Typ="FIN" Long=" 12"/></PosRpt>\n<PosRpt/>\n'
    )
    first, second = read(tmp_path, fixml_doc(reports, ns=False))
    assert first["rpt_id"] == "R1"
    assert first["biz_dt"] is None and first["set_px"] is None
    # The value as found (the contract judges it); an absent Short of a present Qty is 0 (FIX).
    assert (first["fin_long"], first["fin_short"], first["n_fin_qty"]) == (" 12", "0", 1)
    assert first["contract_id"] is None and first["clearing_firm_id"] is None
    assert first["fmtm_amount"] is None and first["sod_long"] is None
    assert second["rpt_id"] is None and second["account_id"] is None
    assert (second["n_account_parties"], second["n_fin_qty"], second["line"]) == (0, 0, 5)
    assert (second["fin_long"], second["account_role"]) == (None, None)


def test_line_numbers_stay_exact_past_libxml2s_16_bit_limit(tmp_path: Path) -> None:
    n = 70_000
    reports = "".join(f'<PosRpt RptID="R{i}"/>\n' for i in range(n))
    rows = read(tmp_path, fixml_doc(reports))
    # fixml_doc puts the declaration, <FIXML> and <Batch> on lines 1-3.
    assert [r["line"] for r in rows] == list(range(4, n + 4))


def test_multi_line_and_prefixed_tags_keep_their_start_line(tmp_path: Path) -> None:
    data = (
        b'<?xml version="1.0"?>\n<f:FIXML xmlns:f="http://www.fixprotocol.org/FIXML-5-0-SP2">'
        b'<f:Batch>\n<f:PosRpt\n  RptID="R1"\n  BizDt="2026-11-20">\n<f:Pty ID="A1" R="24"/>'
        b'</f:PosRpt><f:PosRpt RptID="R2"/>\n</f:Batch></f:FIXML>\n'
    )
    rows = read(tmp_path, data)
    assert [(r["line"], r["rpt_id"], r["account_id"]) for r in rows] == [
        (3, "R1", "A1"),
        (6, "R2", None),
    ]


def test_comments_cdata_and_pis_that_hide_posrpt_keep_lines_exact(tmp_path: Path) -> None:
    # Their text `<PosRpt` is no start tag: the lines skip it, past line 65535 too.
    n = 70_000
    hidden = (
        "<!-- <PosRpt RptID='X'/> is not a report -->\n<?note <PosRpt/> ?>\n"
        "<Hdr><![CDATA[ <PosRpt RptID='Y'/> ]]></Hdr>\n"
    )
    reports = hidden + "".join(f'<PosRpt RptID="R{i}"/>\n' for i in range(n))
    lines = [r["line"] for r in read(tmp_path, fixml_doc(reports))]
    assert lines == list(range(7, n + 7))


def test_zero_reports_give_an_empty_typed_file(tmp_path: Path) -> None:
    assert read(tmp_path, fixml_doc("")) == []
    assert read(tmp_path, b"<FIXML/>") == []


def test_batches_are_written_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixml, "BATCH_REPORTS", 2)
    reports = "".join(f'<PosRpt RptID="R{i}"><Pty ID="A{i}" R="24"/></PosRpt>\n' for i in range(5))
    rows = read(tmp_path, fixml_doc(reports))
    assert [r["rpt_id"] for r in rows] == [f"R{i}" for i in range(5)]
    assert pq.ParquetFile(tmp_path / "raw" / "cme_positions.parquet").num_row_groups == 3


# --- The account, the quantities and the shapes SPEC §2.3 accepts. -------------------------------


def test_account_is_the_r24_child_else_the_r38_child(tmp_path: Path) -> None:
    reports = (
        # Both roles: R="24" is the customer account.
        '<PosRpt RptID="A"><Pty ID="POS1" R="38"/><Pty ID="CUST1" R="24"/></PosRpt>\n'
        # Only the position account (R="38").
        '<PosRpt RptID="B"><Pty ID="905" R="4"/><Pty ID="POS2" R="38"><Sub ID="Z" Typ="2"/>'
        "</Pty></PosRpt>\n"
        # A Pty nested deeper (here in a Qty) is not the report's party.
        '<PosRpt RptID="C"><Qty Typ="FIN" Long="1"><Pty ID="DEEP" R="24"/></Qty>'
        '<Pty ID="POS3" R="38"/></PosRpt>\n'
        # Neither role; FIXML 4.4's Role= spelling is not read.
        '<PosRpt RptID="D"><Pty ID="X" R="4"/><Pty ID="OLD" Role="24"/></PosRpt>\n'
        # Two parties of the role used: counted for the contract's "exactly one".
        '<PosRpt RptID="E"><Pty ID="P1" R="38"/><Pty ID="P2" R="38"/></PosRpt>\n'
    )
    rows = read(tmp_path, fixml_doc(reports))
    got = [(r["account_id"], r["account_role"], r["n_account_parties"]) for r in rows]
    assert got == [
        ("CUST1", "24", 1),
        ("POS2", "38", 1),
        ("POS3", "38", 1),
        (None, None, 0),
        ("P1", "38", 2),
    ]
    assert rows[2]["fin_long"] == "1" and rows[2]["fin_short"] == "0"


def test_quantities_are_carried_as_written_absent_is_zero(tmp_path: Path) -> None:
    reports = (
        '<PosRpt RptID="A"><Qty Typ="FIN" Long="55.0"/><Qty Typ="SOD" Short="3"/></PosRpt>\n'
        '<PosRpt RptID="B"><Qty Typ="FIN" Short="+3" Long="1e2"/></PosRpt>\n'
        '<PosRpt RptID="C"><Qty Typ="FIN" Long="" Short="&#49;0"/></PosRpt>\n'
    )
    rows = read(tmp_path, fixml_doc(reports))
    got = [(r["fin_long"], r["fin_short"], r["sod_long"], r["sod_short"]) for r in rows]
    assert got == [("55.0", "0", "0", "3"), ("1e2", "+3", None, None), ("", "10", None, None)]


@pytest.mark.parametrize(
    "namespace",
    [
        "http://www.fixprotocol.org/FIXML-5-0",
        "http://www.fixprotocol.org/FIXML-5-0-SP1",
        "http://www.fixprotocol.org/FIXML-5-0-SP2",
        None,
    ],
)
def test_fixml_5_0_namespaces_and_none_read_alike(tmp_path: Path, namespace: str | None) -> None:
    plain = read(tmp_path, GOLDEN_XML.read_bytes().replace(b" " + NS.encode(), b""))
    data = GOLDEN_XML.read_bytes()
    if namespace is not None:
        data = data.replace(b"FIXML-5-0-SP2", namespace.rsplit("/", 1)[1].encode())
    else:
        data = data.replace(b" " + NS.encode(), b"")
    assert read(tmp_path, data) == plain


def test_reports_under_the_root_in_several_batches_with_headers(tmp_path: Path) -> None:
    reports = [
        f'<PosRpt RptID="R{i}"><Pty ID="A{i}" R="24"/><Qty Typ="FIN" Long="{i}"/></PosRpt>'
        for i in range(6)
    ]
    in_one = fixml_doc("".join(r + "\n" for r in reports))
    under_root = (
        f'<?xml version="1.0"?>\n<FIXML {NS} v="FIX.5.0SP2">\n<Hdr Snt="x"/>\n'
        + "\n".join(reports)
        + "\n</FIXML>\n"
    ).encode()
    batches = (
        f'<?xml version="1.0"?>\n<FIXML {NS}>\n'
        f'<Batch ID="1" TotMsg="2"><Hdr SID="CME" TID="FIRM"/>\n{reports[0]}\n{reports[1]}\n'
        f"</Batch>\n<!-- second batch -->\n<Batch>\n{reports[2]}\n</Batch>\n<Batch/>\n"
        f"<Batch><Hdr/>{reports[3]}<Hdr/>\n{reports[4]}\n{reports[5]}</Batch>\n</FIXML>\n"
    ).encode()
    # A header inside a report is one of its children like any other.
    with_inner_hdr = in_one.replace(b'"><Pty ID="A2"', b'"><Hdr Snt="y"/><Pty ID="A2"')
    expected = [(f"R{i}", f"A{i}", str(i)) for i in range(6)]
    for data in (in_one, under_root, batches, with_inner_hdr):
        result, rows = read_full(tmp_path, data)
        assert [(r["rpt_id"], r["account_id"], r["fin_long"]) for r in rows] == expected
        assert result.ignored == {}


def test_other_messages_are_ignored_and_counted_by_name(tmp_path: Path) -> None:
    report = '<PosRpt RptID="R{i}"><Pty ID="A{i}" R="24"/></PosRpt>\n'
    # Its party is no report's: the acknowledgement is a message of its own.
    body = '<PosReqAck RptID="Q1" Rslt="0"><Pty ID="A" R="24"/></PosReqAck>\n'
    reports = (
        report.format(i=1)
        + body
        + report.format(i=2)
        + body
        + '<TrdCaptRpt RptID="T1"/>\n<x:Ext xmlns:x="urn:firm"/>\n'
        + report.format(i=3)
    )
    under_root = (
        f"<FIXML {NS}>\n{report.format(i=1)}<PosReqAck/>\n{report.format(i=2)}<PosReqAck/>\n"
        "</FIXML>\n"
    ).encode()
    result, rows = read_full(tmp_path, fixml_doc(reports))
    assert [r["rpt_id"] for r in rows] == ["R1", "R2", "R3"]
    assert result.ignored == {"PosReqAck": 2, "TrdCaptRpt": 1, "{urn:firm}Ext": 1}
    result, rows = read_full(tmp_path, under_root)
    assert [r["rpt_id"] for r in rows] == ["R1", "R2"]
    assert result.ignored == {"PosReqAck": 2}
    # The FIX standard's single-message example: an order, no position.
    result, rows = read_full(tmp_path, b'<FIXML v="FIX.5.0SP2"><Order ID="1"/></FIXML>')
    assert rows == [] and result.ignored == {"Order": 1}


# The FIX Trading Community's FIXML 1.1 technical standard, "FIXML Batch Message Example" (a batch
# of position reports with a header): FIXTradingCommunity/FIXML, "FIXML 1.1/FIXML.md". Its
# account is the position account party (R="38", with a Sub), its IAS quantity has no Short and
# its FMTM amount no currency. Copied as published, indentation included.
FIX_STANDARD_BATCH = b"""<FIXML v="FIX.5.0SP2" xv="192" s="2014-05-07">
    <Batch ID="11212" TotMsg="3">
        <Hdr Snt="2001-12-17T09:30:47-05:00" SID="OCC" TID="Firm"/>
        <PosRpt RptID="541386431" Rslt="0" BizDt="2003-09-10" Acct="1" AcctTyp="1" SetPx="0.00" SetPxTyp="1" PriSetPx="0.00" ReqTyp="0" Ccy="USD">
            <Pty ID="OCC" R="21"/>
            <Pty ID="99999" R="4"/>
            <Pty ID="C" R="38">
            <Sub ID="ZZZ" Typ="2"/>
            </Pty>
            <Instrmt Sym="AOL" ID="KW" Src="J" CFI="OCASPS" MMY="20031122" MatDt="2003-11-22" StrkPx="47.50" StrkCcy="USD" Mult="100"/>
            <Qty Typ="SOD" Long="35" Short="0"/>
            <Qty Typ="FIN" Long="20" Short="10"/>
            <Qty Typ="IAS" Long="10"/>
            <Amt Typ="FMTM" Amt="0.00"/>
        </PosRpt>
        <PosRpt RptID="541386536" Rslt="0" BizDt="2003-09-10" Acct="1" AcctTyp="1" SetPx="0.00" SetPxTyp="1" PriSetPx="0.00" ReqTyp="0" Ccy="USD">
            <Pty ID="OCC" R="21"/>
            <Pty ID="99999" R="4"/>
            <Pty ID="C" R="38">
            <Sub ID="ZZZ" Typ="2"/>
            </Pty>
            <Instrmt Sym="AOL" ID="KW" Src="J" CFI="OCASPS" MMY="20031122" MatDt="2003-11-22" StrkPx="47.50" StrkCcy="USD" Mult="100"/>
            <Qty Typ="SOD" Long="35" Short="0"/>
            <Qty Typ="FIN" Long="20" Short="10"/>
            <Qty Typ="IAS" Long="10"/>
            <Amt Typ="FMTM" Amt="0.00"/>
        </PosRpt>
        <PosRpt RptID="541386678" Rslt="0" BizDt="2003-09-10" Acct="1" AcctTyp="1" SetPx="0.00" SetPxTyp="1" PriSetPx="0.00" ReqTyp="0" Ccy="USD">
            <Pty ID="OCC" R="21"/>
            <Pty ID="99999" R="4"/>
            <Pty ID="C" R="38">
            <Sub ID="ZZZ" Typ="2"/>
            </Pty>
            <Instrmt Sym="AOL" ID="KW" Src="J" CFI="OCASPS" MMY="20031122" MatDt="2003-11-22" StrkPx="47.50" StrkCcy="USD" Mult="100"/>
            <Qty Typ="SOD" Long="35" Short="0"/>
            <Qty Typ="FIN" Long="20" Short="10"/>
            <Qty Typ="IAS" Long="10"/>
            <Amt Typ="FMTM" Amt="0.00"/>
        </PosRpt>
    </Batch>
</FIXML>
"""  # noqa: E501


def test_the_fix_standards_batch_example_is_read(tmp_path: Path) -> None:
    result, rows = read_full(tmp_path, FIX_STANDARD_BATCH)
    assert result.reports == 3 and result.ignored == {}
    assert [r["line"] for r in rows] == [4, 16, 28]
    assert rows[0] == {
        "line": 4,
        "rpt_id": "541386431",
        "biz_dt": "2003-09-10",
        "req_typ": "0",
        "set_ses_id": None,
        "set_px": "0.00",
        "pri_set_px": "0.00",
        "account_id": "C",
        "account_role": "38",
        "n_account_parties": 1,
        "clearing_firm_id": "99999",
        "contract_id": "KW",
        "product_symbol": "AOL",
        "security_type": None,
        "maturity_month": "20031122",
        "exchange": None,
        "sod_long": "35",
        "sod_short": "0",
        "fin_long": "20",
        "fin_short": "10",
        "n_fin_qty": 1,
        "fmtm_amount": "0.00",
        "fmtm_ccy": None,
    }


# --- XXE, entities, DOCTYPE: refused before the parser sees them. ---------------------------------


def test_external_entity_is_rejected_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-XXE")
    prolog = f'<!DOCTYPE FIXML [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
    report = '<PosRpt RptID="&xxe;"><Pty ID="A1" R="24"/>&xxe;</PosRpt>\n'
    error = reject(tmp_path, fixml_doc(report, prolog=prolog), "xml_safety")
    assert "DOCTYPE" in error.detail
    assert "TOPSECRET" not in str(error)


def test_parser_itself_does_not_resolve_entities_even_without_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Defence in depth: with the byte scan switched off, the entity still is not expanded.
    monkeypatch.setattr(fixml, "_FORBIDDEN", ())
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-XXE")
    prolog = f'<!DOCTYPE FIXML [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
    report = '<PosRpt RptID="R1"><Pty ID="A1" R="24"/>&xxe;</PosRpt>\n'
    src = tmp_path / "in.xml"
    src.write_bytes(fixml_doc(report, ns=False, prolog=prolog))
    dest = tmp_path / "out.parquet"
    read_cme_positions(src, dest)
    assert b"TOPSECRET" not in dest.read_bytes()
    assert "TOPSECRET" not in str(pq.read_table(dest).to_pylist())


def test_billion_laughs_is_rejected_quickly(tmp_path: Path) -> None:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    prolog = f"<!DOCTYPE FIXML [{entities}]>\n"
    report = '<PosRpt RptID="&lol9;"/>\n'
    started = time.perf_counter()
    reject(tmp_path, fixml_doc(report, prolog=prolog), "xml_safety")
    assert time.perf_counter() - started < 1.0


def test_entity_declaration_without_doctype_and_lower_case_are_rejected(tmp_path: Path) -> None:
    reject(tmp_path, fixml_doc("<!-- <!ENTITY x 'y'> -->\n"), "xml_safety")
    reject(tmp_path, fixml_doc("", prolog="<!doctype FIXML>\n"), "xml_safety")


def test_a_declaration_anywhere_wins_over_an_earlier_malformation(tmp_path: Path) -> None:
    data = fixml_doc(
        '<PosRpt RptID="X"<Pty/>\n' + "<!-- " + "x" * 200_000 + " <!ENTITY e 'y'> -->\n"
    )
    error = reject(tmp_path, data, "xml_safety")
    assert f"byte offset {data.index(b'<!ENTITY')}" in error.detail


@pytest.mark.parametrize("split", range(1, len("<!DOCTYPE")))
def test_doctype_split_across_a_scan_chunk_border_is_found(tmp_path: Path, split: int) -> None:
    chunk = 64
    data = b"x" * (chunk - split) + b"<!DOCTYPE FIXML []>" + b"y" * 200
    assert data[chunk - split : chunk] + data[chunk : chunk + 9 - split] == b"<!DOCTYPE"
    path = tmp_path / "split.xml"
    path.write_bytes(data)
    with pytest.raises(InputFormatError) as info:
        scan_for_dtd(path, chunk_size=chunk)
    assert info.value.rule == "xml_safety"
    assert f"byte offset {chunk - split}" in info.value.detail


def test_doctype_across_the_default_chunk_border_in_a_full_read(tmp_path: Path) -> None:
    head = b'<?xml version="1.0"?>\n<!--'
    pad = b" " * (fixml.SCAN_CHUNK - 9 - len(head)) + b" -->"
    data = head + pad + b"\n<!DOCTYPE FIXML []>" + fixml_doc("").split(b"?>", 1)[1]
    assert data.index(b"<!DOCTYPE") < fixml.SCAN_CHUNK < data.index(b"<!DOCTYPE") + 9
    reject(tmp_path, data, "xml_safety")


@pytest.mark.parametrize("at", range(fixml.LINE_CHUNK - 12, fixml.LINE_CHUNK + 2))
def test_no_marker_reaches_the_parser_split_across_two_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: int
) -> None:
    # The parser is fed nothing of a `<!DOCTYPE` before the whole marker was checked.
    data = fixml_doc("").replace(b"<FIXML", b" " * at + b"<!DOCTYPE FIXML []><FIXML", 1)
    fed: list[bytes] = []
    real_parser = fixml._parser

    def spy() -> Any:
        parser = real_parser()

        class Spy:
            def feed(self, chunk: bytes) -> None:
                fed.append(chunk)
                parser.feed(chunk)

            def __getattr__(self, name: str) -> Any:
                return getattr(parser, name)

        return Spy()

    monkeypatch.setattr(fixml, "_parser", spy)
    reject(tmp_path, data, "xml_safety")
    assert b"<!" not in b"".join(fed)


# --- Malformed or misplaced. ----------------------------------------------------------------------


def test_truncated_document_names_the_line(tmp_path: Path) -> None:
    data = GOLDEN_XML.read_bytes()
    cut = data[: data.index(b"G0002") + 40]
    error = reject(tmp_path, cut, "xml_wellformed")
    assert "line 5" in error.detail
    # The refused file's hash is of its bytes, for the quarantine report (SPEC §7.5).
    assert error.sha256 == hashlib.sha256(cut).hexdigest() and error.size == len(cut)


def test_bytes_after_a_finished_tag_go_to_the_parser_as_read(tmp_path: Path) -> None:
    # A zero-filled tail has no `<`: held back whole, it was re-copied on every read (quadratic).
    data = GOLDEN_XML.read_bytes() + b"\0" * 10_000
    src = tmp_path / "in.xml"
    src.write_bytes(data)
    with fixml._Source(src) as source:
        chunks = list(fixml._chunks(source, 0, len(data), size=100))
    assert b"".join(chunks) == data
    # At most an unfinished tag name (`<Instrmt`) is carried into the next chunk.
    assert max(len(chunk) for chunk in chunks) <= 100 + len("<Instrmt")
    reject(tmp_path, data, "xml_wellformed")


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"", "line 1"),
        (b'<?xml version="1.0"?><Positions><Batch/></Positions>', "root element Positions"),
        (b"<FIXML><Batch><Batch/></Batch></FIXML>", "element Batch inside Batch"),
        (b"<FIXML><Batch><PosRpt><PosRpt/></PosRpt></Batch></FIXML>", "PosRpt inside PosRpt"),
        (b"<FIXML><PosReqAck><PosRpt/></PosReqAck></FIXML>", "PosRpt inside PosReqAck"),
        (
            f"<FIXML {NS}><Batch><PosRpt/></Batch></FIXML>".replace("5-0-SP2", "4-4").encode(),
            "root element {http://www.fixprotocol.org/FIXML-4-4}FIXML",
        ),
        (b'<FIXML xmlns="urn:other"><PosRpt/></FIXML>', "root element {urn:other}FIXML"),
        (f"<FIXML {NS}><Batch xmlns=''><PosRpt/></Batch></FIXML>".encode(), "element Batch"),
        (f"<FIXML {NS}><Batch><PosRpt xmlns='urn:x'/></Batch></FIXML>".encode(), "{urn:x}PosRpt"),
    ],
)
def test_structure_errors(tmp_path: Path, data: bytes, found: str) -> None:
    error = reject(tmp_path, data, "xml_wellformed")
    assert found in error.detail


def test_utf16_file_is_refused_rather_than_scanned_blind(tmp_path: Path) -> None:
    # In UTF-16 a DOCTYPE would slip past the byte scan, so parsing is forced to UTF-8.
    data = GOLDEN_XML.read_text().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    reject(tmp_path, b"\xff\xfe" + data.encode("utf-16-le"), "xml_wellformed")


# --- The bytes hashed are the bytes parsed. -------------------------------------------------------


@pytest.mark.parametrize("split", [False, True])
def test_a_file_renamed_over_while_read_is_hashed_as_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, split: bool
) -> None:
    if split:
        # The workers read the inherited descriptor while this process hashes it.
        monkeypatch.setattr(fixml, "SPLIT_MIN_BYTES", 0)
    src = tmp_path / "cme_positions_20261120.xml"
    data = fixml_doc(many_reports(2000))
    src.write_bytes(data)
    other = data.replace(b'Long="', b'Long="1')
    real_read = fixml._Source.read
    swapped: list[int] = []

    def read_then_swap(self: fixml._Source, offset: int, size: int) -> bytes:
        chunk = real_read(self, offset, size)
        if not swapped and offset > 0:
            # Mid-read, the path now names another file with other numbers.
            new = tmp_path / "new.xml"
            new.write_bytes(other)
            os.replace(new, src)
            swapped.append(offset)
        return chunk

    monkeypatch.setattr(fixml._Source, "read", read_then_swap)
    result = read_cme_positions(src)
    assert result.parts == (2 if split else 1), result.how
    assert swapped and src.read_bytes() == other
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.size == len(data)
    assert result.table is not None
    assert result.table.column("fin_long").to_pylist() == [str(i) for i in range(2000)]


def test_a_file_written_to_while_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "cme_positions_20261120.xml"
    src.write_bytes(fixml_doc(many_reports(2000)))
    real_read = fixml._Source.read

    def read_then_append(self: fixml._Source, offset: int, size: int) -> bytes:
        chunk = real_read(self, offset, size)
        if offset == 0:
            with src.open("ab") as fh:
                fh.write(b"\n")
        return chunk

    monkeypatch.setattr(fixml._Source, "read", read_then_append)
    with pytest.raises(InputFormatError) as info:
        read_cme_positions(src)
    assert info.value.rule == "file_unchanged"


_REPORT = (
    '<PosRpt RptID="R{i:09d}" BizDt="2026-11-20" ReqTyp="0" SetSesID="EOD" SetPx="111.953125" '
    'PriSetPx="112.03125"><Pty ID="CME" R="21"/><Pty ID="905" R="4"/>'
    '<Pty ID="ACCT-{i:06d}" R="24"/><Instrmt ID="ZNZ6" Sym="ZN" SecTyp="FUT" MMY="202612" '
    'Exch="CBT"/><Qty Typ="SOD" Long="40" Short="0"/><Qty Typ="FIN" Long="{i}" Short="10"/>'
    '<Amt Typ="FMTM" Amt="-4296.88" Ccy="USD"/></PosRpt>\n'
)

_MEASURE = """
import json, sys
from pathlib import Path
import psutil
from pipeline.ingest import fixml

def peak_rss():
    # VmHWM belongs to this process image; ru_maxrss would carry the forking parent's peak.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no VmHWM")

src, dest, warm, impl = sys.argv[1:5]
src, dest, warm = Path(src), Path(dest), Path(warm)
fixml.IMPLEMENTATION = fixml._IMPLEMENTATIONS[impl]
# Warm up first: the first Arrow/Parquet calls page in ~40 MB of library code, not data.
fixml.read_cme_positions(warm, dest)
base = psutil.Process().memory_info().rss
count = fixml.read_cme_positions(src, dest).reports
print(json.dumps({"count": count, "growth": peak_rss() - base}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc VmHWM")
def test_large_file_streams_in_bounded_memory(tmp_path: Path, implementation: str) -> None:
    """A ~150 MB file is read with peak RSS growth far below its size (SPEC §2.3 streaming)."""
    src = tmp_path / "big.xml"
    n = 390_000
    with src.open("w") as fh:
        fh.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<FIXML {NS}>\n<Batch>\n')
        for start in range(0, n, 10_000):
            fh.write("".join(_REPORT.format(i=i) for i in range(start, min(n, start + 10_000))))
        fh.write("</Batch>\n</FIXML>\n")
    size = src.stat().st_size
    assert size > 140_000_000
    warm = tmp_path / "warm.xml"
    warm.write_bytes(fixml_doc('<PosRpt RptID="W"/>\n'))
    dest = tmp_path / "big.parquet"
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(src), str(dest), str(warm), implementation],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result = json.loads(done.stdout)
    assert result["count"] == n
    # A full in-memory tree would need several times the file size; streaming stays flat
    # (~40 MB measured, whatever the size).
    assert result["growth"] < size / 3, f"peak RSS grew {result['growth']:,} B on {size:,} B"
    table = pq.read_table(dest, columns=["line", "rpt_id", "fin_long"])
    assert table.num_rows == n
    assert table.slice(n - 1).to_pylist() == [
        {"line": n + 3, "rpt_id": f"R{n - 1:09d}", "fin_long": str(n - 1)}
    ]


# --- Split read: the file cut at `<PosRpt` boundaries, parts parsed by worker processes. ---


def read_with_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, parts: int
) -> list[dict[str, object]]:
    return read_parts_full(tmp_path, monkeypatch, data, parts)[1]


def read_parts_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, parts: int
) -> tuple[fixml.FixmlRead, list[dict[str, object]]]:
    monkeypatch.setattr(fixml, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(fixml, "PARTS", parts)
    out = tmp_path / f"parts{parts}"
    out.mkdir()
    result, rows = read_full(out, data)
    # The workers' Arrow parts and the temp Parquet file are gone.
    assert sorted(p.name for p in (out / "raw").iterdir()) == ["cme_positions.parquet"]
    return result, rows


def error_with_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, parts: int
) -> InputFormatError:
    monkeypatch.setattr(fixml, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(fixml, "PARTS", parts)
    out = tmp_path / f"parts{parts}"
    out.mkdir()
    return reject(out, data, "xml_wellformed")


def many_reports(n: int) -> str:
    return "".join(_REPORT.format(i=i) for i in range(n))


@pytest.mark.parametrize(
    "data",
    [
        fixml_doc(many_reports(300)),
        fixml_doc(many_reports(300), ns=False),
        (
            b'<?xml version="1.0"?>\n<f:FIXML xmlns:f="http://www.fixprotocol.org/FIXML-5-0-SP2">'
            b"<f:Batch>"
            + "".join(
                f'<f:PosRpt RptID="R{i}"\n BizDt="2026-11-20"><f:Pty ID="A{i}" R="24"/></f:PosRpt>'
                for i in range(300)
            ).encode()
            + b"</f:Batch></f:FIXML>"
        ),
        (f"<FIXML {NS}><Hdr/>\n" + many_reports(300) + "</FIXML>").encode(),
    ],
    ids=["namespaced", "plain", "prefixed", "no-batch"],
)
def test_split_read_equals_the_whole_file_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    src = tmp_path / "in.xml"
    src.write_bytes(data)
    monkeypatch.setattr(fixml, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(fixml, "PARTS", 3)
    with fixml._Source(src) as source:
        ranges, _ = fixml._plan(source, fixml.IMPLEMENTATION)
    assert len(ranges) == 3, "the file must really be split"
    assert data[ranges[1].start : ranges[1].start + 1] == b"<"
    whole = read_with_parts(tmp_path, monkeypatch, data, 1)
    assert len(whole) == 300
    two = read_parts_full(tmp_path, monkeypatch, data, 2)
    assert two[0].parts == 2 and two[1] == whole
    assert read_with_parts(tmp_path, monkeypatch, data, 3) == whole


def test_split_read_keeps_exact_lines_past_the_16_bit_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 140_000
    reports = "".join(f'<PosRpt RptID="R{i}"/>\n' for i in range(n))
    rows = read_with_parts(tmp_path, monkeypatch, fixml_doc(reports), 2)
    assert [r["line"] for r in rows] == list(range(4, n + 4))
    assert [r["rpt_id"] for r in rows[-2:]] == [f"R{n - 2}", f"R{n - 1}"]


def test_split_read_writes_row_groups_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fixml, "BATCH_REPORTS", 40)
    rows = read_with_parts(tmp_path, monkeypatch, fixml_doc(many_reports(300)), 2)
    assert [r["rpt_id"] for r in rows] == [f"R{i:09d}" for i in range(300)]
    parquet = pq.ParquetFile(tmp_path / "parts2" / "raw" / "cme_positions.parquet")
    # The worker's batch size reached it: several row groups, none above 40 reports.
    assert parquet.num_row_groups >= 8
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert max(sizes) <= 40


def corrupt_line(n: int, at: int, bad: str) -> tuple[bytes, int]:
    """A document of `n` one-line reports whose report `at` is replaced by `bad`."""
    reports = [_REPORT.format(i=i) for i in range(n)]
    reports[at] = bad
    return fixml_doc("".join(reports)), at + 4


@pytest.mark.parametrize(
    "bad",
    [
        '<PosRpt RptID="X"><Pty ID="A" R="24"></PosRpt>\n',  # mismatched end tag
        '<PosRpt RptID="X" RptID="Y"/>\n',  # duplicate attribute
        '<PosRpt RptID="X"<Pty/></PosRpt>\n',  # broken start tag
    ],
)
@pytest.mark.parametrize("where", [0.1, 0.9])
def test_malformed_report_in_either_part_names_its_file_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str, where: float
) -> None:
    n = 2000
    data, line = corrupt_line(n, int(n * where), bad)
    whole = error_with_parts(tmp_path, monkeypatch, data, 1)
    whole_reads: list[object] = []
    parse_range = fixml._parse_range

    def spy(src: fixml._Source, rng: fixml._Range, *args: Any) -> fixml._Part:
        if not rng.synthetic:
            whole_reads.append(rng)
        return parse_range(src, rng, *args)

    monkeypatch.setattr(fixml, "_parse_range", spy)
    split = error_with_parts(tmp_path, monkeypatch, data, 2)
    assert f"line {line}:" in whole.detail
    assert split.detail == whole.detail
    assert split.sha256 == hashlib.sha256(data).hexdigest()
    # Placed by the part itself (lines mapped back to the file's), not by a second read.
    assert whole_reads == []


def test_truncated_file_in_a_split_read_names_the_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = fixml_doc(many_reports(2000))
    cut = data[: data.rindex(b"<PosRpt") + 30]
    whole = error_with_parts(tmp_path, monkeypatch, cut, 1)
    last_line = cut.count(b"\n") + 1
    assert f"line {last_line}:" in whole.detail
    assert error_with_parts(tmp_path, monkeypatch, cut, 2).detail == whole.detail


@pytest.mark.parametrize(
    "bad",
    [
        "<Batch/>\n",  # a structure error in the second part
        '<PosRpt RptID="A"><PosRpt RptID="B"/></PosRpt>\n',  # a report inside a report
        "</Batch>\n",  # the Batch closes early
    ],
)
def test_errors_a_part_cannot_place_are_named_by_a_whole_file_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    n = 2000
    data, _ = corrupt_line(n, n // 2 + 10, bad)
    whole = error_with_parts(tmp_path, monkeypatch, data, 1)
    assert error_with_parts(tmp_path, monkeypatch, data, 2).detail == whole.detail


def test_second_batch_is_read_alike_when_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    half = many_reports(500)
    data = fixml_doc(half + "</Batch><Batch>\n" + half.replace('RptID="R', 'RptID="S'))
    whole = read_with_parts(tmp_path, monkeypatch, data, 1)
    assert len(whole) == 1000
    assert read_with_parts(tmp_path, monkeypatch, data, 2) == whole


def test_a_failing_worker_falls_back_to_a_whole_file_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data = fixml_doc(many_reports(300))
    whole = read_with_parts(tmp_path, monkeypatch, data, 1)
    monkeypatch.setattr(fixml.sys, "executable", "/bin/false")
    result, rows = read_parts_full(tmp_path, monkeypatch, data, 2)
    assert rows == whole and result.parts == 1
    assert "a FIXML worker failed" in caplog.text
    monkeypatch.setattr(fixml.sys, "executable", str(tmp_path / "no-such-python"))
    (tmp_path / "parts2").rename(tmp_path / "parts2-false")
    assert read_with_parts(tmp_path, monkeypatch, data, 2) == whole


def test_a_cut_inside_a_comment_is_read_whole_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A long comment full of `<PosRpt` text around the middle: the cut lands in it.
    hidden = "<!--\n" + "<PosRpt RptID='commented out'/>\n" * 10_000 + "-->\n"
    data = fixml_doc(many_reports(300) + hidden + many_reports(10))
    whole = read_with_parts(tmp_path, monkeypatch, data, 1)
    assert len(whole) == 310
    result, rows = read_parts_full(tmp_path, monkeypatch, data, 2)
    assert rows == whole and result.parts == 1
    assert "read whole" in result.how and "a part" in caplog.text


def test_why_a_big_file_is_not_cut_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(fixml, "_HEAD_MAX", 4096)
    data = fixml_doc("<Hdr>" + "<x/>" * 2000 + "</Hdr>\n" + many_reports(300))
    caplog.set_level("INFO", logger="xmargin.ingest")
    result, rows = read_parts_full(tmp_path, monkeypatch, data, 2)
    assert result.parts == 1 and len(rows) == 300
    assert "no <PosRpt> in the first" in result.how and result.how in caplog.text


# A real-shaped file as CME and the FIX standard allow it (SPEC §2.3): a prolog comment, a
# header in each of several batches, comments between reports (one holding `<PosRpt` text),
# the position account R="38" for every other account, decimal and omitted quantities, a
# position-request acknowledgement. The same reports as a plain generator-like file.
def real_shaped(n: int, batches: int = 3) -> tuple[bytes, bytes]:
    plain = []
    shaped = []
    for i in range(n):
        role = "24" if i % 2 else "38"
        plain.append(
            f'<PosRpt RptID="R{i:09d}" BizDt="2026-11-20" ReqTyp="0" SetPx="111.953125">'
            f'<Pty ID="CME" R="21"/><Pty ID="905" R="4"/><Pty ID="ACCT-{i:06d}" R="{role}"/>'
            f'<Instrmt ID="ZNZ6" Sym="ZN"/><Qty Typ="SOD" Long="40" Short="0"/>'
            f'<Qty Typ="FIN" Long="{i}" Short="0"/><Amt Typ="FMTM" Amt="-4296.88" Ccy="USD"/>'
            "</PosRpt>\n"
        )
        shaped.append(
            f'<PosRpt RptID="R{i:09d}" BizDt="2026-11-20" ReqTyp="0" SetPx="111.953125">\n'
            f'  <Pty ID="CME" R="21"/>\n  <Pty ID="905" R="4"><Sub ID="X" Typ="2"/></Pty>\n'
            f'  <Pty ID="ACCT-{i:06d}" R="{role}"/>\n  <Instrmt ID="ZNZ6" Sym="ZN"/>\n'
            f'  <Qty Typ="SOD" Long="40.00"/>\n  <Qty Typ="FIN" Long="{i}.0"/>\n'
            '  <Amt Typ="FMTM" Amt="-4296.88" Ccy="USD"/>\n</PosRpt>\n'
        )
    per = -(-n // batches)
    body = []
    for b in range(batches):
        body.append(
            f'<Batch ID="B{b}" TotMsg="{per}">\n  <Hdr Snt="2026-11-20T18:30:00" SID="CME"/>\n'
        )
        for k, report in enumerate(shaped[b * per : (b + 1) * per]):
            if k % 5000 == 17:
                body.append("<!-- next page <PosRpt RptID='not a report'/> -->\n")
            body.append(report)
        if b == 0:
            body.append(f'<PosReqAck RptID="ACK1" Rslt="0" TotRpts="{n}"/>\n')
        body.append("</Batch>\n")
    shaped_doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!-- CME Clearing end of day -->\n'
        f'<FIXML {NS} v="FIX.5.0SP2" s="2014-05-07">\n' + "".join(body) + "</FIXML>\n"
    ).encode()
    return fixml_doc("".join(plain)), shaped_doc


@pytest.mark.slow
def test_a_big_real_shaped_file_is_cut_and_read_like_the_plain_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain, shaped = real_shaped(200_000)
    assert len(shaped) >= fixml.SPLIT_MIN_BYTES
    src = tmp_path / "cme_positions_20261120.xml"
    src.write_bytes(shaped)
    result = read_cme_positions(src)
    # Cut and parsed on both cores, as the plain file is.
    assert result.parts == fixml.PARTS == 2, result.how
    assert result.ignored == {"PosReqAck": 1}
    assert result.sha256 == hashlib.sha256(shaped).hexdigest()
    (tmp_path / "plain.xml").write_bytes(plain)
    expected = read_cme_positions(tmp_path / "plain.xml")
    assert result.table is not None and expected.table is not None
    columns = ["rpt_id", "account_id", "account_role", "n_account_parties", "contract_id"]
    assert result.table.select(columns).equals(expected.table.select(columns))
    assert result.table.column("fin_long").to_pylist()[:3] == ["0.0", "1.0", "2.0"]
    assert result.table.column("sod_short").to_pylist()[:1] == ["0"]
    # Lines are the file's: the first report of the second batch sits after its header.
    lines = result.table.column("line").to_pylist()
    text = shaped.split(b"\n")
    assert all(text[line - 1].startswith(b"<PosRpt") for line in lines[::9973])
