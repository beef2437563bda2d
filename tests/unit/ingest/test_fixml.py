"""Streaming FIXML reader (SPEC §2.3): raw columns, XXE safety, well-formedness, structure."""

from __future__ import annotations

import json
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


def fixml_doc(reports: str, ns: bool = True, prolog: str = "") -> bytes:
    xmlns = f" {NS}" if ns else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}<FIXML{xmlns}>\n<Batch>\n'
        f"{reports}</Batch>\n</FIXML>\n"
    ).encode()


def read(tmp_path: Path, data: bytes) -> list[dict[str, object]]:
    src = tmp_path / "cme_positions_20261120.xml"
    src.write_bytes(data)
    dest = tmp_path / "raw" / "cme_positions.parquet"
    count = read_cme_positions(src, dest)
    table = pq.read_table(dest)
    assert table.schema.equals(RAW_SCHEMA)
    assert count == table.num_rows
    rows: list[dict[str, object]] = table.to_pylist()
    return rows


def reject(tmp_path: Path, data: bytes, rule: str) -> InputFormatError:
    src = tmp_path / "cme_positions_20261120.xml"
    src.write_bytes(data)
    dest = tmp_path / "raw.parquet"
    dest.write_bytes(b"previous")
    with pytest.raises(InputFormatError) as info:
        read_cme_positions(src, dest)
    assert info.value.rule == rule, str(info.value)
    assert info.value.exit_code == 1
    # Atomic: a refused file leaves the destination as it was and no temp file behind.
    assert dest.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []
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
    assert (first["fin_long"], first["fin_short"], first["n_fin_qty"]) == (" 12", None, 1)
    assert first["contract_id"] is None and first["clearing_firm_id"] is None
    assert first["fmtm_amount"] is None and first["sod_long"] is None
    assert second["rpt_id"] is None and second["account_id"] is None
    assert (second["n_account_parties"], second["n_fin_qty"], second["line"]) == (0, 0, 5)


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


def test_with_comments_lines_past_the_limit_are_null_not_wrong(tmp_path: Path) -> None:
    # A comment may hide the text `<PosRpt`, so byte positions no longer identify reports.
    n = 70_000
    reports = "<!-- <PosRpt RptID='X'/> -->\n" + "".join(
        f'<PosRpt RptID="R{i}"/>\n' for i in range(n)
    )
    lines = [r["line"] for r in read(tmp_path, fixml_doc(reports))]
    assert lines[:3] == [5, 6, 7]
    assert lines[65529] == 65534
    assert set(lines[65530:]) == {None}


def test_zero_reports_give_an_empty_typed_file(tmp_path: Path) -> None:
    assert read(tmp_path, fixml_doc("")) == []


def test_batches_are_written_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixml, "BATCH_REPORTS", 2)
    reports = "".join(f'<PosRpt RptID="R{i}"><Pty ID="A{i}" R="24"/></PosRpt>\n' for i in range(5))
    rows = read(tmp_path, fixml_doc(reports))
    assert [r["rpt_id"] for r in rows] == [f"R{i}" for i in range(5)]
    assert pq.ParquetFile(tmp_path / "raw" / "cme_positions.parquet").num_row_groups == 3


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
    monkeypatch.setattr(fixml, "scan_for_dtd", lambda path: False)
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


def test_truncated_document_names_the_line(tmp_path: Path) -> None:
    data = GOLDEN_XML.read_bytes()
    cut = data[: data.index(b"G0002") + 40]
    error = reject(tmp_path, cut, "xml_wellformed")
    assert "line 5" in error.detail


def test_bytes_after_a_finished_tag_go_to_the_parser_as_read(tmp_path: Path) -> None:
    # A zero-filled tail has no `<`: held back whole, it was re-copied on every read (quadratic).
    data = GOLDEN_XML.read_bytes() + b"\0" * 10_000
    src = tmp_path / "in.xml"
    src.write_bytes(data)
    with src.open("rb") as fh:
        whole = fixml._Range(0, len(data))
        chunks = [chunk for chunk, _ in fixml._read_range(fh, whole, True, chunk_size=100)]
    assert b"".join(chunks) == data
    # At most an unfinished tag name (`<Instrmt`) is carried into the next chunk.
    assert max(len(chunk) for chunk in chunks) <= 100 + len("<Instrmt")
    reject(tmp_path, data, "xml_wellformed")


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"", "line 1"),
        (b'<?xml version="1.0"?><Positions><Batch/></Positions>', "root element Positions"),
        (b"<FIXML/>", "FIXML root with no Batch"),
        (b"<FIXML><Batch><Batch/></Batch></FIXML>", "element Batch inside Batch"),
        (b"<FIXML><PosRpt/></FIXML>", "PosRpt outside FIXML > Batch"),
        (
            f"<FIXML {NS}><Batch><PosRpt/></Batch></FIXML>".replace("5-0-SP2", "4-4").encode(),
            "root",
        ),
        (f"<FIXML {NS}><Batch xmlns=''><PosRpt/></Batch></FIXML>".encode(), "element Batch"),
    ],
)
def test_structure_errors(tmp_path: Path, data: bytes, found: str) -> None:
    error = reject(tmp_path, data, "xml_wellformed")
    assert found in error.detail


def test_utf16_file_is_refused_rather_than_scanned_blind(tmp_path: Path) -> None:
    # In UTF-16 a DOCTYPE would slip past the byte scan, so parsing is forced to UTF-8.
    data = GOLDEN_XML.read_text().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    reject(tmp_path, b"\xff\xfe" + data.encode("utf-16-le"), "xml_wellformed")


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
from pipeline.ingest.fixml import read_cme_positions

def peak_rss():
    # VmHWM belongs to this process image; ru_maxrss would carry the forking parent's peak.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no VmHWM")

src, dest, warm = (Path(a) for a in sys.argv[1:4])
# Warm up first: the first Arrow/Parquet calls page in ~40 MB of library code, not data.
read_cme_positions(warm, dest)
base = psutil.Process().memory_info().rss
count = read_cme_positions(src, dest)
print(json.dumps({"count": count, "growth": peak_rss() - base}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc VmHWM")
def test_large_file_streams_in_bounded_memory(tmp_path: Path) -> None:
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
        [sys.executable, "-c", _MEASURE, str(src), str(dest), str(warm)],
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
    monkeypatch.setattr(fixml, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(fixml, "PARTS", parts)
    out = tmp_path / f"parts{parts}"
    out.mkdir()
    rows = read(out, data)
    # The workers' Arrow parts and the temp Parquet file are gone.
    assert sorted(p.name for p in (out / "raw").iterdir()) == ["cme_positions.parquet"]
    return rows


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
    ],
    ids=["namespaced", "plain", "prefixed"],
)
def test_split_read_equals_the_whole_file_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    src = tmp_path / "in.xml"
    src.write_bytes(data)
    monkeypatch.setattr(fixml, "SPLIT_MIN_BYTES", 0)
    ranges = fixml._split_ranges(src, 3)
    assert ranges is not None and len(ranges) == 3, "the file must really be split"
    assert data[ranges[1].start : ranges[1].start + 1] == b"<"
    whole = read_with_parts(tmp_path, monkeypatch, data, 1)
    assert len(whole) == 300
    assert read_with_parts(tmp_path, monkeypatch, data, 2) == whole
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

    def spy(path: Path, rng: fixml._Range, *args: Any) -> int:
        if not rng.synthetic:
            whole_reads.append(rng)
        return parse_range(path, rng, *args)

    monkeypatch.setattr(fixml, "_parse_range", spy)
    split = error_with_parts(tmp_path, monkeypatch, data, 2)
    assert f"line {line}:" in whole.detail
    assert split.detail == whole.detail
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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = fixml_doc(many_reports(300))
    whole = read_with_parts(tmp_path, monkeypatch, data, 1)
    monkeypatch.setattr(fixml.sys, "executable", "/bin/false")
    assert read_with_parts(tmp_path, monkeypatch, data, 2) == whole
    monkeypatch.setattr(fixml.sys, "executable", str(tmp_path / "no-such-python"))
    (tmp_path / "parts2").rename(tmp_path / "parts2-false")
    assert read_with_parts(tmp_path, monkeypatch, data, 2) == whole


def test_file_with_comments_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Byte positions of `<PosRpt` are not reports once comments may hide them: no split.
    data = fixml_doc("<!-- <PosRpt/> -->\n" + many_reports(300))
    src = tmp_path / "in.xml"
    src.write_bytes(data)
    monkeypatch.setattr(fixml, "SPLIT_MIN_BYTES", 0)
    calls: list[object] = []
    monkeypatch.setattr(fixml, "_write_parts", lambda *args: calls.append(args))
    rows = read_with_parts(tmp_path, monkeypatch, data, 2)
    assert calls == [] and len(rows) == 300 and rows[0]["line"] == 5
