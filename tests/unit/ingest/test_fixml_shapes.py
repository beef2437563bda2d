"""Every FIXML shape SPEC §2.3 accepts publishes the numbers of the plain file (issue 10).

A small generated book is run once as the generator writes it; then its CME file is rewritten
into each shape a FIX writer may send and the night is run again through the real CLI. The
published tables must hash alike (the exceptions table may only add the shape's own warnings).
The shapes follow the FIX standard's examples (FIXTradingCommunity/FIXML, "FIXML 1.1/FIXML.md":
"FIXML Batch Message Example" - a batch header, multi-line reports, the position account party
R="38" with a Sub, quantities with an attribute left out - and "FIXML Single Message Example",
a message directly under the root) and CME's party roles (R="24" customer account, R="38"
position account, R="4" clearing firm, R="21" clearing organization).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline.cli import main

D = "2026-11-20"
SP2 = "http://www.fixprotocol.org/FIXML-5-0-SP2"
HEAD = f'<?xml version="1.0" encoding="UTF-8"?>\n<FIXML xmlns="{SP2}">\n<Batch>\n'
TAIL = "</Batch>\n</FIXML>\n"

pytestmark = pytest.mark.slow


def cme_file(root: Path) -> Path:
    return root / "inbox" / "20261120" / "cme_positions_20261120.xml"


def run(root: Path) -> int:
    return main(["--quiet", "run", "--date", D, "--data-root", str(root)])


def published(root: Path) -> tuple[dict[str, str], dict[str, Any], pl.DataFrame]:
    out = root / "outputs" / f"business_date={D}"
    manifest = json.loads((out / "manifest.json").read_text())
    hashes = {o["name"]: o["sha256"] for o in manifest["outputs"]}
    return hashes, manifest["control_totals"], pl.read_parquet(out / "exceptions.parquet")


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plain")
    gen = ["--quiet", "generate", "--date", D, "--accounts", "60", "--seed", "11"]
    assert main([*gen, "--data-root", str(root)]) == 0
    text = cme_file(root).read_text()
    assert text.startswith(HEAD) and text.endswith(TAIL), "the generator's layout changed"
    assert run(root) == 0
    return root


def reports(root: Path) -> list[str]:
    """The generator's reports, one line each."""
    text = cme_file(root).read_text()
    return text[len(HEAD) : -len(TAIL)].splitlines()


def namespace(uri: str | None) -> Callable[[list[str]], str]:
    def shape(lines: list[str]) -> str:
        head = HEAD.replace(f' xmlns="{SP2}"', f' xmlns="{uri}"' if uri else "")
        return head + "\n".join(lines) + "\n" + TAIL

    return shape


def prefixed(lines: list[str]) -> str:
    body = "\n".join(re.sub(r"<(/?)(\w+)", r"<\1f:\2", line) for line in lines)
    return (
        f'<?xml version="1.0"?>\n<f:FIXML xmlns:f="{SP2}">\n<f:Batch>\n{body}\n'
        "</f:Batch>\n</f:FIXML>\n"
    )


def under_the_root(lines: list[str]) -> str:
    # "FIXML Single Message Example": messages directly under the root, here with a header.
    body = "\n".join(lines)
    header = '<Hdr Snt="2026-11-20T19:00:00" SID="CME"/>'
    return f'<FIXML xmlns="{SP2}" v="FIX.5.0SP2">\n{header}\n{body}\n</FIXML>'


def batches_headers_comments(lines: list[str]) -> str:
    # Several batches, each with its header (EP178), comments, and a position request's
    # acknowledgement among the reports: ignored with one warning.
    third = len(lines) // 3
    parts = [lines[:third], lines[third : 2 * third], lines[2 * third :]]
    body = ""
    for i, part in enumerate(parts):
        body += f'<Batch ID="{i}" TotMsg="{len(part)}">\n<Hdr SID="CME" TID="905"/>\n'
        body += "<!-- reports <PosRpt> of the batch -->\n" + "\n".join(part) + "\n"
        if i == 1:
            body += '<PosReqAck RptID="ACK" Rslt="0" TotRpts="1"/>\n'
        body += "</Batch>\n"
    return f'<?xml version="1.0"?>\n<!-- CME Clearing -->\n<FIXML xmlns="{SP2}">\n{body}</FIXML>\n'


def like_the_fix_standards_example(lines: list[str]) -> str:
    """Multi-line reports; the account as position account R="38" with a Sub; zero quantities
    left out and the others written as decimals; an IAS quantity; a header in the batch."""

    def rewrite(line: str) -> str:
        line = line.replace(' R="24"/>', ' R="38"><Sub ID="C" Typ="26"/></Pty>')
        line = re.sub(r' (Long|Short)="0"', "", line)
        line = re.sub(r'(Typ="FIN"[^/]*?) Long="(\d+)"', r'\1 Long="\2.0"', line)
        line = re.sub(r'(Typ="SOD"[^/]*?) Short="(\d+)"', r'\1 Short="\2.00"', line)
        line = line.replace('<Amt Typ="FMTM"', '<Qty Typ="IAS" Long="1"/><Amt Typ="FMTM"')
        return re.sub(r"><(Pty|Instrmt|Qty|Amt)", r">\n        <\1", line).replace(
            "></PosRpt>", ">\n    </PosRpt>"
        )

    body = "\n".join("    " + rewrite(line) for line in lines)
    return (
        f'<FIXML v="FIX.5.0SP2" xv="192" s="2014-05-07" xmlns="{SP2}">\n'
        f'    <Batch ID="11212" TotMsg="{len(lines)}">\n'
        '        <Hdr Snt="2026-11-20T18:30:47-05:00" SID="CME" TID="Firm"/>\n'
        f"{body}\n    </Batch>\n</FIXML>\n"
    )


def customer_and_position_account(lines: list[str]) -> str:
    # Both parties: the customer account R="24" is the one read.
    body = "\n".join(
        line.replace('<Pty ID="905" R="4"/>', '<Pty ID="905" R="4"/><Pty ID="905-CUST" R="38"/>')
        for line in lines
    )
    return HEAD + body + "\n" + TAIL


SHAPES: dict[str, tuple[Callable[[list[str]], str], dict[str, int]]] = {
    "fixml-5-0": (namespace("http://www.fixprotocol.org/FIXML-5-0"), {}),
    "fixml-5-0-sp1": (namespace("http://www.fixprotocol.org/FIXML-5-0-SP1"), {}),
    "no-namespace": (namespace(None), {}),
    "prefixed": (prefixed, {}),
    "under-the-root": (under_the_root, {}),
    "batches-headers-comments": (batches_headers_comments, {"PosReqAck": 1}),
    "fix-standard-example": (like_the_fix_standards_example, {}),
    "customer-and-position-account": (customer_and_position_account, {}),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_an_accepted_shape_publishes_the_plain_files_numbers(
    book: Path, tmp_path: Path, name: str
) -> None:
    shape, warnings = SHAPES[name]
    root = tmp_path / name
    shutil.copytree(book / "inbox", root / "inbox")
    lines = reports(book)
    cme_file(root).write_text(shape(lines))
    assert cme_file(root).read_bytes() != cme_file(book).read_bytes()
    assert run(root) == 0
    hashes, totals, exceptions = published(root)
    plain_hashes, plain_totals, plain_exceptions = published(book)
    assert totals == plain_totals
    assert {k: v for k, v in hashes.items() if k != "exceptions"} == {
        k: v for k, v in plain_hashes.items() if k != "exceptions"
    }
    # The exceptions are the plain file's plus one warning per ignored element name.
    added = exceptions.join(plain_exceptions, on=exceptions.columns, how="anti")
    assert added["kind"].to_list() == ["VALIDATION_WARNING"] * len(warnings)
    for tag, count in warnings.items():
        [detail] = [d for d in added["detail"] if f"other_messages.{tag}" in d]
        assert f"{count} <{tag}> element(s) ignored" in detail
    assert exceptions.height == plain_exceptions.height + len(warnings)


def test_a_signed_quantity_stops_the_night(book: Path, tmp_path: Path) -> None:
    root = tmp_path / "signed"
    shutil.copytree(book / "inbox", root / "inbox")
    text = cme_file(book).read_text()
    # One report's FIN Short written with a plus sign: SPEC §2.3 refuses it.
    signed = re.sub(r'(Typ="FIN" Long="\d+" Short=")(\d+)"', r'\1+\2"', text, count=1)
    assert signed != text
    cme_file(root).write_text(signed)
    assert run(root) == 1
    assert not (root / "outputs" / f"business_date={D}").exists()
    [report] = (root / "quarantine" / "20261120").glob("*/report.json")
    failures = {
        f["rule"] for entry in json.loads(report.read_text())["files"] for f in entry["failures"]
    }
    assert "fin_short.fix_quantity" in failures
