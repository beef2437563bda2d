"""Streaming, XXE-safe reader of the CME FIXML 5.0 SP2 position file into raw Parquet (SPEC §2.3).

No business rule is applied here: attributes are carried as the strings found in the file (an
absent attribute is null) and the counts `n_fin_qty` / `n_account_parties` let the contracts stage
judge "exactly one FIN quantity" and "one account party" per report.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from lxml import etree

from pipeline.errors import InputFormatError
from pipeline.ingest.staging import commit_temp, temp_path

FIXML_NS = "http://www.fixprotocol.org/FIXML-5-0-SP2"
# Reports per Parquet row group. They wait as compact Arrow batches (~7 MB per 25k reports);
# only CONVERT_REPORTS of them are ever held as Python objects (~1.5 KB per report). Measured
# peak RSS growth: ~40 MB whatever the file size (a full lxml tree would need several times it).
BATCH_REPORTS = 25_000
CONVERT_REPORTS = 5_000
SCAN_CHUNK = 4 << 20
# Smaller: this read runs alongside the parse, so its buffers add to the peak.
LINE_CHUNK = 1 << 20
# Lower-cased: XML markup is case-sensitive, but refusing `<!doctype` too costs nothing.
_FORBIDDEN = (b"<!doctype", b"<!entity")
# Markup in which the text `<PosRpt` would not be a start tag; see `_start_tag_lines`.
_OPAQUE = (b"<!--", b"<![cdata[")
_OVERLAP = max(len(marker) for marker in _FORBIDDEN + _OPAQUE) - 1
_START_TAG = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?PosRpt(?=[\s/>])")
# libxml2 keeps element line numbers in 16 bits: from here on `sourceline` is not the line.
_LINE_CAP = 65535

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
    plain = scan_for_dtd(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dest)
    try:
        with pq.ParquetWriter(tmp, RAW_SCHEMA) as writer:
            count = _parse_into(path, writer, plain)
        commit_temp(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def scan_for_dtd(path: Path, chunk_size: int = SCAN_CHUNK) -> bool:
    """Refuse a file whose bytes hold `<!DOCTYPE` or `<!ENTITY` anywhere (SPEC §2.3, XXE).

    The scan streams `chunk_size` blocks and carries the last bytes of each block into the next,
    so a marker split across a block border is still found. Parsing is forced to UTF-8, so a
    file in another encoding (where the markers would look different) fails to parse instead.
    Returns whether the file is free of comments, CDATA and processing instructions (other than
    the XML declaration), i.e. whether every `<PosRpt` in its bytes is a start tag.
    """
    offset = 0
    carry = b""
    plain = True
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
            if plain:
                plain = not any(marker in window for marker in _OPAQUE)
                # Only the XML declaration (at the very start, maybe after a BOM) may use `<?`.
                plain = plain and window.find(b"<?", 4 if offset == 0 else 0) < 0
            carry = window[-_OVERLAP:]
            offset += len(chunk)
    return plain


def _start_tag_lines(path: Path, chunk_size: int = LINE_CHUNK) -> Generator[int, None, None]:
    """Yield the 1-based line of each `<PosRpt` start tag, in file order, streaming the bytes.

    Needed because lxml's `sourceline` stops at 65535; only valid for a "plain" file (see
    `scan_for_dtd`), where the n-th `<PosRpt` in the bytes is the n-th report element.
    """
    line_base = 1
    carry = b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            data = carry + chunk
            # Cut before the last `<` so that no tag name is split between two reads.
            cut = data.rfind(b"<") if chunk else len(data)
            if cut < 0:
                cut = len(data)
            starts = np.fromiter(
                (match.start() for match in _START_TAG.finditer(data, 0, cut)), dtype=np.int64
            )
            if len(starts):
                newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8, count=cut) == 0x0A)
                yield from (line_base + np.searchsorted(newlines, starts)).tolist()
            line_base += data.count(b"\n", 0, cut)
            carry = data[cut:]
            if not chunk:
                return


def _parse_into(path: Path, writer: pq.ParquetWriter, plain: bool) -> int:
    """Parse the FIXML with lxml `iterparse`, one report at a time, writing row groups."""
    lines = _start_tag_lines(path) if plain else None
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
    pending: list[pa.RecordBatch] = []
    convert_every = min(CONVERT_REPORTS, BATCH_REPORTS)
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
            line = next(lines, None) if lines is not None else None
            if line is None and elem.sourceline < _LINE_CAP:
                line = elem.sourceline
            # Otherwise (comments or CDATA past line 65535) the line is unknown: null, not wrong.
            rows.append(_report_row(elem, ns, line))
            count += 1
            # Free the report and everything before it: memory stays flat on a 2 GB file.
            elem.clear(keep_tail=False)
            parent = elem.getparent()
            while elem.getprevious() is not None:
                del parent[0]
            if len(rows) >= convert_every:
                pending.append(_to_batch(rows))
                rows.clear()
                if sum(batch.num_rows for batch in pending) >= BATCH_REPORTS:
                    writer.write_table(pa.Table.from_batches(pending, schema=RAW_SCHEMA))
                    pending.clear()
    except etree.XMLSyntaxError as exc:
        # libxml2 says line 0 for an empty file; the reader means the first line.
        line = max(1, exc.position[0] if exc.position else exc.lineno)
        raise InputFormatError(
            path,
            "xml_wellformed",
            f"line {line}: {exc.msg}; expected well-formed XML (truncated or corrupt file?)",
            examples=[{"line": line, "error": str(exc.msg)}],
        ) from None
    finally:
        if lines is not None:
            lines.close()
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
        pending.append(_to_batch(rows))
    if pending:
        writer.write_table(pa.Table.from_batches(pending, schema=RAW_SCHEMA))
    return count


def _check_structure(path: Path, elem: Any, ns: str, batches: set[Any]) -> str:
    """Check a start tag sits where SPEC §2.3 puts it; return the namespace prefix `{ns}` or ``."""
    parent = elem.getparent()
    tag: str = elem.tag
    if parent is None:
        if tag not in ("FIXML", f"{{{FIXML_NS}}}FIXML"):
            raise _structure_error(path, elem, f"root element {tag}")
        return tag[: -len("FIXML")]
    if parent.getparent() is None and parent.tag != ns + "FIXML":
        # A root with another name does not produce a start event (tag filter): name it here.
        raise _structure_error(path, parent, f"root element {parent.tag}")
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


def _report_row(elem: Any, ns: str, line: int | None) -> _Row:
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
        line,
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


def _to_batch(rows: list[_Row]) -> pa.RecordBatch:
    """Columnise buffered report tuples into one Arrow batch of the raw schema."""
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays(
        [
            pa.array(values, type=field.type)
            for values, field in zip(columns, RAW_SCHEMA, strict=True)
        ],
        schema=RAW_SCHEMA,
    )
