"""Streaming, XXE-safe reader of the CME FIXML 5.0 SP2 position file into raw Parquet (SPEC §2.3).

No business rule is applied here: attributes are carried as the strings found in the file (an
absent attribute is null) and the counts `n_fin_qty` / `n_account_parties` let the contracts stage
judge "exactly one FIN quantity" and "one account party" per report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from lxml import etree

from pipeline.errors import InputFormatError
from pipeline.ingest.staging import commit_temp, temp_path

FIXML_NS = "http://www.fixprotocol.org/FIXML-5-0-SP2"
# Reports buffered before a Parquet row group is written: bounds memory at ~100 MB of Python
# objects whatever the file size.
BATCH_REPORTS = 100_000
SCAN_CHUNK = 4 << 20
# Lower-cased: XML markup is case-sensitive, but refusing `<!doctype` too costs nothing.
_FORBIDDEN = (b"<!doctype", b"<!entity")
_OVERLAP = max(len(marker) for marker in _FORBIDDEN) - 1

RAW_SCHEMA = pa.schema(
    [
        ("line", pa.int64()),
        ("rpt_id", pa.string()),
        ("biz_dt", pa.string()),
        ("req_typ", pa.string()),
        ("set_ses_id", pa.string()),
        ("set_px", pa.string()),
        ("pri_set_px", pa.string()),
        ("account_id", pa.string()),
        ("n_account_parties", pa.int64()),
        ("clearing_firm_id", pa.string()),
        ("contract_id", pa.string()),
        ("product_symbol", pa.string()),
        ("security_type", pa.string()),
        ("maturity_month", pa.string()),
        ("exchange", pa.string()),
        ("sod_long", pa.string()),
        ("sod_short", pa.string()),
        ("fin_long", pa.string()),
        ("fin_short", pa.string()),
        ("n_fin_qty", pa.int64()),
        ("fmtm_amount", pa.string()),
        ("fmtm_ccy", pa.string()),
    ]
)

_Row = tuple[Any, ...]


def read_cme_positions(path: Path, dest: Path) -> int:
    """Stream the SPEC §2.3 FIXML file into raw Parquet at `dest`; return the `PosRpt` count.

    Raises `InputFormatError` with rule `xml_safety` for any `<!DOCTYPE` / `<!ENTITY` (checked on
    the raw bytes before parsing) and `xml_wellformed` for malformed or truncated XML or a
    document that is not `FIXML` > `Batch` > `PosRpt`. `dest` is written atomically: on error it
    is left untouched.
    """
    scan_for_dtd(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dest)
    try:
        with pq.ParquetWriter(tmp, RAW_SCHEMA) as writer:
            count = _parse_into(path, writer)
        commit_temp(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def scan_for_dtd(path: Path, chunk_size: int = SCAN_CHUNK) -> None:
    """Refuse a file whose bytes hold `<!DOCTYPE` or `<!ENTITY` anywhere (SPEC §2.3, XXE).

    The scan streams `chunk_size` blocks and carries the last bytes of each block into the next,
    so a marker split across a block border is still found. Parsing is forced to UTF-8, so a
    file in another encoding (where the markers would look different) fails to parse instead.
    """
    offset = 0
    carry = b""
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_size):
            window = (carry + chunk).lower()
            for marker in _FORBIDDEN:
                at = window.find(marker)
                if at >= 0:
                    found = offset - len(carry) + at
                    raise InputFormatError(
                        path,
                        "xml_safety",
                        f"byte offset {found}: found {marker.decode().upper()}; "
                        "expected no document type or entity declarations (XXE-safe input)",
                        examples=[{"byte_offset": found, "found": marker.decode().upper()}],
                    )
            carry = window[-_OVERLAP:]
            offset += len(chunk)


def _parse_into(path: Path, writer: pq.ParquetWriter) -> int:
    """Parse the FIXML with lxml `iterparse`, one report at a time, writing row groups."""
    context = etree.iterparse(
        str(path),
        events=("start", "end"),
        tag=("{*}FIXML", "{*}Batch", "{*}PosRpt"),
        encoding="UTF-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    rows: list[_Row] = []
    count = 0
    ns = ""
    batches: set[Any] = set()
    try:
        for event, elem in context:
            if event == "start":
                ns = _check_structure(path, elem, ns, batches)
                continue
            if elem.tag != ns + "PosRpt":
                continue
            if elem.getparent() not in batches:
                raise _structure_error(path, elem, "a PosRpt outside FIXML > Batch")
            rows.append(_report_row(elem, ns))
            count += 1
            # Free the report and everything before it: memory stays flat on a 2 GB file.
            elem.clear(keep_tail=False)
            parent = elem.getparent()
            while elem.getprevious() is not None:
                del parent[0]
            if len(rows) >= BATCH_REPORTS:
                writer.write_table(_to_table(rows))
                rows.clear()
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else exc.lineno
        raise InputFormatError(
            path,
            "xml_wellformed",
            f"line {line}: {exc.msg}; expected well-formed XML (truncated or corrupt file?)",
            examples=[{"line": line, "error": str(exc.msg)}],
        ) from None
    root = context.root
    if root is None or not batches:
        found = "no root element" if root is None else f"root <{_local(root.tag)}>"
        if root is not None and _local(root.tag) == "FIXML":
            found = "a FIXML root with no Batch"
        raise InputFormatError(
            path,
            "xml_wellformed",
            f"found {found}; expected a <FIXML> root holding a <Batch> of <PosRpt>",
        )
    if rows:
        writer.write_table(_to_table(rows))
    return count


def _check_structure(path: Path, elem: Any, ns: str, batches: set[Any]) -> str:
    """Check a start tag sits where SPEC §2.3 puts it; return the namespace prefix `{ns}` or ``."""
    parent = elem.getparent()
    tag: str = elem.tag
    if parent is None:
        if tag not in ("FIXML", f"{{{FIXML_NS}}}FIXML"):
            raise _structure_error(path, elem, f"root element {tag}")
        return tag[: -len("FIXML")]
    if tag == ns + "Batch" and parent.tag == ns + "FIXML" and parent.getparent() is None:
        batches.add(elem)
        return ns
    if tag == ns + "PosRpt":
        # Its place (directly in a Batch) is checked at its end tag.
        return ns
    raise _structure_error(path, elem, f"element {tag} inside {parent.tag}")


def _structure_error(path: Path, elem: Any, found: str) -> InputFormatError:
    """Report an element that is out of place in the FIXML > Batch > PosRpt layout."""
    return InputFormatError(
        path,
        "xml_wellformed",
        f"line {elem.sourceline}: found {found}; expected <FIXML> (namespace {FIXML_NS} or "
        "none) > <Batch> > <PosRpt>",
        examples=[{"line": elem.sourceline, "found": found}],
    )


def _local(tag: str) -> str:
    """Strip a `{namespace}` prefix from an element tag."""
    return tag.rpartition("}")[2]


def _report_row(elem: Any, ns: str) -> _Row:
    """Pull the raw fields of one `PosRpt` (first occurrence wins; FIN and R=24 are counted)."""
    get = elem.get
    account = firm = None
    n_account = 0
    instrmt = None
    sod = fin = fmtm = None
    n_fin = 0
    t_pty, t_instrmt, t_qty, t_amt = ns + "Pty", ns + "Instrmt", ns + "Qty", ns + "Amt"
    for child in elem:
        tag = child.tag
        if tag == t_pty:
            role = child.get("R")
            if role == "24":
                n_account += 1
                if n_account == 1:
                    account = child.get("ID")
            elif role == "4" and firm is None:
                firm = child.get("ID")
        elif tag == t_qty:
            typ = child.get("Typ")
            if typ == "FIN":
                n_fin += 1
                if fin is None:
                    fin = child
            elif typ == "SOD" and sod is None:
                sod = child
        elif tag == t_instrmt:
            if instrmt is None:
                instrmt = child
        elif tag == t_amt and fmtm is None and child.get("Typ") == "FMTM":
            fmtm = child
    return (
        elem.sourceline,
        get("RptID"),
        get("BizDt"),
        get("ReqTyp"),
        get("SetSesID"),
        get("SetPx"),
        get("PriSetPx"),
        account,
        n_account,
        firm,
        *(
            (None,) * 5
            if instrmt is None
            else (
                instrmt.get("ID"),
                instrmt.get("Sym"),
                instrmt.get("SecTyp"),
                instrmt.get("MMY"),
                instrmt.get("Exch"),
            )
        ),
        *((None, None) if sod is None else (sod.get("Long"), sod.get("Short"))),
        *((None, None) if fin is None else (fin.get("Long"), fin.get("Short"))),
        n_fin,
        *((None, None) if fmtm is None else (fmtm.get("Amt"), fmtm.get("Ccy"))),
    )


def _to_table(rows: list[_Row]) -> pa.Table:
    """Columnise a batch of report tuples into the raw schema."""
    columns = list(zip(*rows, strict=True))
    return pa.Table.from_arrays(
        [
            pa.array(values, type=field.type)
            for values, field in zip(columns, RAW_SCHEMA, strict=True)
        ],
        schema=RAW_SCHEMA,
    )
