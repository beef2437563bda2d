"""Pure-Python twin of the compiled `_fixml_native` module of the FIXML reader (SPEC §2.3).

`pipeline.ingest.fixml` drives one of the two through the same small API; this one is used when
the compiled module was not built (no C compiler when xmargin was installed), and the reader logs
that it is. It is also the readable statement of what the C code does: the tests read every
accepted and rejected shape through both and require the same tables and the same errors.

- `Scanner` reads the file's bytes in order, as they are fed to the parser: the file line of each
  `<PosRpt` start tag (outside comments, CDATA sections and processing instructions, which may
  hold that text), the newline count, and the first `<!DOCTYPE` / `<!ENTITY` anywhere.
- `Extractor` turns the `PosRpt` elements the parser has finished into columns, one row each, in
  file order; a report's line is the next one its scanner found.

Neither applies a business rule: values are the attribute strings found (an absent attribute is
null), except that an absent `Long` or `Short` of a present `Qty` is `"0"` (FIX: an omitted
quantity is zero, SPEC §2.3).
"""

from __future__ import annotations

import re
from array import array
from typing import Any

import pyarrow as pa

# Lexical modes of the scanner: in markup or text, or inside a construct that may hold `<PosRpt`.
_OUT, _COMMENT, _CDATA, _PI = 0, 1, 2, 3
_END = {_COMMENT: b"-->", _CDATA: b"]]>", _PI: b"?>"}
# Outside comments, CDATA and PIs every `<` starts markup (XML forbids it in text and attribute
# values), so this finds exactly the report start tags, with any namespace prefix.
_TOKEN = re.compile(rb"<(?:!--|!\[CDATA\[|\?|(?:[\w.\-\x80-\xff]+:)?PosRpt(?=[\s/>]))")

# Column order of `Extractor.take` (the raw schema of `pipeline.ingest.fixml`, after `line`).
STRING_COLUMNS = (
    "rpt_id",
    "biz_dt",
    "req_typ",
    "set_ses_id",
    "set_px",
    "pri_set_px",
    "account_id",
    "account_role",
    "clearing_firm_id",
    "contract_id",
    "product_symbol",
    "security_type",
    "maturity_month",
    "exchange",
    "sod_long",
    "sod_short",
    "fin_long",
    "fin_short",
    "fmtm_amount",
    "fmtm_ccy",
)
_REPORT_ATTRS = ("RptID", "BizDt", "ReqTyp", "SetSesID", "SetPx", "PriSetPx")
_INSTRMT_ATTRS = ("ID", "Sym", "SecTyp", "MMY", "Exch")


class Scanner:
    """The report start lines and forbidden markers of a byte stream fed in order."""

    def __init__(
        self, first_line: int = 1, offset: int = 0, forbidden: tuple[bytes, ...] = ()
    ) -> None:
        # `forbidden`: lower-case markers searched case-insensitively anywhere in the bytes.
        self.line = first_line
        self.offset = offset
        self.forbidden = forbidden
        self.forbidden_at = -1
        self.forbidden_marker = b""
        self.first_tag_at = -1
        self.tags = 0
        self._mode = _OUT
        self._tail = b""

    def scan(self, data: bytes) -> bytes:
        """Scan the next bytes; return the lines of the report start tags in them (int64)."""
        if self.forbidden and self.forbidden_at < 0 and b"<!" in data:
            low = data.lower()
            hits = [(low.find(m), m) for m in self.forbidden]
            found = [(at, m) for at, m in hits if at >= 0]
            if found:
                at, marker = min(found)
                self.forbidden_at = self.offset + at
                self.forbidden_marker = marker
        lines: list[int] = []
        counted = 0
        line = self.line
        i = 0
        n = len(data)
        while i < n:
            if self._mode == _OUT:
                match = _TOKEN.search(data, i)
                if match is None:
                    break
                token = match.group()
                if token == b"<!--":
                    self._mode = _COMMENT
                elif token == b"<![CDATA[":
                    self._mode = _CDATA
                elif token == b"<?":
                    self._mode = _PI
                else:
                    at = match.start()
                    line += data.count(b"\n", counted, at)
                    counted = at
                    lines.append(line)
                    if self.first_tag_at < 0:
                        self.first_tag_at = self.offset + at
                i = match.end()
                continue
            end = _END[self._mode]
            # An end marker may straddle two reads: search from the previous read's last bytes.
            joined = self._tail + data[i:]
            at = joined.find(end)
            if at < 0:
                self._tail = joined[-(len(end) - 1) :]
                break
            self._tail = b""
            self._mode = _OUT
            i += at - (len(joined) - (n - i)) + len(end)
        self.line = line + data.count(b"\n", counted)
        self.offset += n
        self.tags += len(lines)
        return array("q", lines).tobytes()


class Extractor:
    """Columns of the finished `PosRpt` elements of one byte range, with their start lines."""

    def __init__(self) -> None:
        self._ns = ""
        self._lines: list[int] = []
        self._next_line = 0
        self.lines_short = False
        self._columns: list[list[Any]] = [[] for _ in range(len(STRING_COLUMNS) + 3)]
        self._parent: Any = None

    def set_namespace(self, ns: str | None) -> None:
        """The root's namespace (None: no namespace): only elements in it are FIXML."""
        self._ns = f"{{{ns}}}" if ns else ""

    def queue_lines(self, lines: bytes) -> None:
        """Append start lines found by the scanner (int64), consumed one per report."""
        self._lines.extend(array("q", lines))

    @property
    def lines_left(self) -> int:
        return len(self._lines) - self._next_line

    @property
    def rows(self) -> int:
        return len(self._columns[0])

    def add(self, events: list[tuple[str, Any]]) -> tuple[int, int]:
        """Extract the `PosRpt` end events in order; return (bad index or -1, other events).

        A report is bad when it is not in the root's namespace or not a child of the root or of
        a root's `Batch`; extraction stops there. Other events (the `Batch` ends) are counted.
        """
        report = self._ns + "PosRpt"
        others = 0
        for index, (_, elem) in enumerate(events):
            tag = elem.tag
            if tag.rpartition("}")[2] != "PosRpt":
                others += 1
                continue
            if tag != report or not self._placed(elem.getparent()):
                return index, others
            self._row(elem)
        return -1, others

    def _placed(self, parent: Any) -> bool:
        if parent is self._parent:
            return True
        grand = parent.getparent()
        ok = grand is None or (parent.tag == self._ns + "Batch" and grand.getparent() is None)
        if ok:
            self._parent = parent
        return ok

    def _row(self, elem: Any) -> None:
        ns = self._ns
        t_pty, t_qty, t_instrmt, t_amt = ns + "Pty", ns + "Qty", ns + "Instrmt", ns + "Amt"
        acc24 = acc38 = firm = instrmt = sod = fin = fmtm = None
        n24 = n38 = n_fin = 0
        has_firm = False
        for child in elem:
            tag = child.tag
            if tag == t_pty:
                role = child.get("R")
                if role == "24":
                    n24 += 1
                    if n24 == 1:
                        acc24 = child.get("ID")
                elif role == "38":
                    n38 += 1
                    if n38 == 1:
                        acc38 = child.get("ID")
                elif role == "4" and not has_firm:
                    has_firm = True
                    firm = child.get("ID")
            elif tag == t_qty:
                typ = child.get("Typ")
                if typ == "FIN":
                    n_fin += 1
                    if n_fin == 1:
                        fin = child
                elif typ == "SOD" and sod is None:
                    sod = child
            elif tag == t_instrmt:
                if instrmt is None:
                    instrmt = child
            elif tag == t_amt and fmtm is None and child.get("Typ") == "FMTM":
                fmtm = child
        if self._next_line < len(self._lines):
            line: int | None = self._lines[self._next_line]
            self._next_line += 1
        else:
            line = None
            self.lines_short = True
        account, role, n_account = (
            (acc24, "24", n24) if n24 else (acc38, "38", n38) if n38 else (None, None, 0)
        )
        values = [
            *(elem.get(a) for a in _REPORT_ATTRS),
            account,
            role,
            firm,
            *((None,) * 5 if instrmt is None else (instrmt.get(a) for a in _INSTRMT_ATTRS)),
            *_quantity(sod),
            *_quantity(fin),
            *((None, None) if fmtm is None else (fmtm.get("Amt"), fmtm.get("Ccy"))),
        ]
        columns = self._columns
        columns[0].append(line)
        columns[1].append(n_account)
        columns[2].append(n_fin)
        for column, value in zip(columns[3:], values, strict=True):
            column.append(value)

    def others(self, parent: Any, stop: Any) -> tuple[int, list[str]]:
        """The index of `stop` among the elements of `parent` (all of them if None), and the
        tags of the message elements before it other than reports.

        `Hdr` elements are allowed anywhere and `Batch` under the root is the envelope: neither
        is another message. (One walk for both: lxml's `index` would walk the children again.)
        """
        ns = self._ns
        skip = {ns + "PosRpt", ns + "Hdr"}
        if parent.getparent() is None:
            skip.add(ns + "Batch")
        found = []
        index = 0
        for child in parent:
            if child is stop:
                break
            index += 1
            if isinstance(child.tag, str) and child.tag not in skip:
                found.append(child.tag[len(ns) :] if child.tag.startswith(ns) else child.tag)
        return index, found

    def take(self) -> list[pa.Array]:
        """The rows so far as Arrow arrays (line, n_account_parties, n_fin_qty, strings...)."""
        columns = self._columns
        arrays = [pa.array(columns[i], pa.int64()) for i in range(3)]
        arrays += [pa.array(c, pa.string_view()) for c in columns[3:]]
        self._columns = [[] for _ in columns]
        del self._lines[: self._next_line]
        self._next_line = 0
        return arrays


def _quantity(qty: Any) -> tuple[str | None, str | None]:
    """`Long`, `Short` of a `Qty` element: absent means "0" (FIX), no element means null."""
    if qty is None:
        return None, None
    return qty.get("Long", "0"), qty.get("Short", "0")


def shift(values: Any, offset: int, length: int, delta: int) -> bytes:
    """`length` int64 values from `offset` of a buffer, each plus `delta` (a part's lines)."""
    shifted = array("q", bytes(values))[offset : offset + length]
    return array("q", (v + delta for v in shifted)).tobytes()
