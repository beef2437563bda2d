"""Streaming, XXE-safe reader of the CME FIXML 5.0 SP2 position file into raw Parquet (SPEC §2.3).

No business rule is applied here: attributes are carried as the strings found in the file (an
absent attribute is null) and the counts `n_fin_qty` / `n_account_parties` let the contracts stage
judge "exactly one FIN quantity" and "one account party" per report.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from lxml import etree

from pipeline.errors import InputFormatError
from pipeline.ingest.staging import commit_temp, open_input, temp_path

FIXML_NS = "http://www.fixprotocol.org/FIXML-5-0-SP2"
# Reports per Parquet row group. They wait as compact Arrow batches (~7 MB per 25k reports);
# only CONVERT_REPORTS of them are ever held as Python objects (~1.5 KB per report). Measured
# peak RSS growth: ~40 MB whatever the file size (a full lxml tree would need several times it).
BATCH_REPORTS = 25_000
CONVERT_REPORTS = 5_000
SCAN_CHUNK = 4 << 20
# Bytes fed to the parser at a time: 64 KiB measured ~15% faster than 1 MiB (cache-sized).
LINE_CHUNK = 1 << 16
# Lower-cased: XML markup is case-sensitive, but refusing `<!doctype` too costs nothing.
_FORBIDDEN = (b"<!doctype", b"<!entity")
# Markup in which the text `<PosRpt` would not be a start tag; see `_read_range`.
_OPAQUE = (b"<!--", b"<![cdata[")
_OVERLAP = max(len(marker) for marker in _FORBIDDEN + _OPAQUE) - 1
_START_TAG = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?PosRpt(?=[\s/>])")
# A `<` and name bytes up to the end of the data: a tag name `_START_TAG` cannot judge yet.
_OPEN_NAME = re.compile(rb"<[\w.\-:]*")
# Files this big are parsed in PARTS byte ranges by as many processes (one of them this one);
# below it the worker start-up (~0.5 s) would cost more than it saves.
SPLIT_MIN_BYTES = 64 << 20
PARTS = 2
# This process scans the whole file first and appends the workers' parts after its own range:
# a first range smaller by this fraction of a part lets all finish together (measured on 660 MB:
# scan ~1.5 s, ~16 s per half).
_FIRST_RANGE_DISCOUNT = 0.04
# How far into the file the first `<PosRpt` may be for a split (the envelope is a few lines).
_HEAD_MAX = 1 << 20
# libxml2 keeps element line numbers in 16 bits: from here on `sourceline` is not the line.
_LINE_CAP = 65535
_LINE_IN_MESSAGE = re.compile(r"\bline (\d+)")

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
    is left untouched. A file of `SPLIT_MIN_BYTES` or more without comments, CDATA or processing
    instructions is parsed in `PARTS` byte ranges cut at `<PosRpt` start tags, all but the first
    by worker processes (both cores of the nightly machine); the result is the same as a
    whole-file read's, errors included.
    """
    plain = scan_for_dtd(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dest)
    try:
        ranges = _split_ranges(path, PARTS) if plain else None
        try:
            count = _write_parts(path, ranges, tmp) if ranges else None
        except _NeedsSerial:
            count = None
        if count is None:
            # The whole file in this process; it also names any error a split read could not.
            with pq.ParquetWriter(tmp, RAW_SCHEMA) as writer:
                whole = _Range(0, path.stat().st_size)
                count = _parse_range(
                    path, whole, plain, writer.write_table, BATCH_REPORTS, CONVERT_REPORTS
                )
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
    with open_input(path) as fh:
        while chunk := fh.read(chunk_size):
            window = carry + chunk
            # Every marker starts with `<!`: most chunks of a real file hold none, and a
            # `find` costs far less than lower-casing the chunk.
            if b"<!" in window:
                window = window.lower()
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
                plain = plain and not any(marker in window for marker in _OPAQUE)
            # Only the XML declaration (at the very start, maybe after a BOM) may use `<?`.
            plain = plain and window.find(b"<?", 4 if offset == 0 else 0) < 0
            carry = window[-_OVERLAP:]
            offset += len(chunk)
    return plain


def _split_ranges(path: Path, parts: int) -> list[_Range] | None:
    """Cut a big plain file at `<PosRpt` start tags into `parts` ranges, or None to read it whole.

    Each range after the first is preceded by the file's own bytes up to its first `<PosRpt`
    (prolog, `<FIXML>`, `<Batch>`: namespace declarations and prefixes exactly as in the file);
    each range before the last is followed by the matching end tags. The envelope is parsed
    here first: a file whose head is not exactly `<FIXML>` > `<Batch>` is read whole, so that
    its error is reported as a whole-file read reports it.
    """
    size = path.stat().st_size
    if parts < 2 or size < SPLIT_MIN_BYTES:
        return None
    with path.open("rb") as fh:
        first = _next_start_tag(fh, 0, _HEAD_MAX)
        if first is None:
            return None
        fh.seek(0)
        head = fh.read(first)
        tail = _envelope_tail(head)
        if tail is None:
            return None
        cuts = [first]
        for k in range(1, parts):
            target = int(size * (k - _FIRST_RANGE_DISCOUNT) / parts)
            cut = _next_start_tag(fh, max(target, cuts[-1] + 1), size)
            if cut is not None:
                cuts.append(cut)
        cuts = cuts[1:]
        if not cuts:
            return None
        fh.seek(0)
        first_lines = []
        line = 1
        at = 0
        for cut in cuts:
            while at < cut:
                block = fh.read(min(SCAN_CHUNK, cut - at))
                line += block.count(b"\n")
                at += len(block)
            first_lines.append(line)
    bounds = [0, *cuts, size]
    return [
        _Range(
            bounds[i],
            bounds[i + 1],
            head if i else b"",
            tail if i < len(cuts) else b"",
            first_lines[i - 1] if i else 1,
        )
        for i in range(len(bounds) - 1)
    ]


def _next_start_tag(fh: BinaryIO, offset: int, limit: int) -> int | None:
    """Return the byte offset of the first `<PosRpt` start tag at or after `offset` (< `limit`)."""
    overlap = 64
    while offset < limit:
        fh.seek(offset)
        window = fh.read(min(LINE_CHUNK, limit - offset) + overlap)
        match = _START_TAG.search(window)
        if match is not None and offset + match.start() < limit:
            return offset + match.start()
        if len(window) <= overlap:
            return None
        offset += len(window) - overlap
    return None


def _envelope_tail(head: bytes) -> bytes | None:
    """Parse the file's head (up to its first `<PosRpt`); return the end tags that close it.

    None unless the head is well-formed so far and opens exactly `<FIXML>` (SPEC namespace or
    none) and, inside it, `<Batch>`, and nothing else.
    """
    parser = etree.XMLPullParser(
        events=("start",),
        encoding="UTF-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    try:
        parser.feed(head)
        started = [elem for _, elem in parser.read_events()]
    except etree.XMLSyntaxError:
        return None
    if len(started) != 2:
        return None
    fixml_elem, batch = started
    ns = fixml_elem.tag[: -len("FIXML")]
    if fixml_elem.tag not in ("FIXML", f"{{{FIXML_NS}}}FIXML") or batch.tag != ns + "Batch":
        return None
    if batch.getparent() is not fixml_elem:
        return None
    return b"".join(
        f"</{elem.prefix + ':' if elem.prefix else ''}{_local(elem.tag)}>".encode()
        for elem in (batch, fixml_elem)
    )


def _write_parts(path: Path, ranges: list[_Range], tmp: Path) -> int:
    """Parse the first range here and the others in worker processes; write all in file order.

    Only a plain file is split (see `scan_for_dtd`), so every range finds its reports' lines.

    Workers (`python -m pipeline.ingest._fixml_worker`, plain subprocesses: no `__main__`
    re-import, allowed in daemonic Celery workers) write Arrow IPC parts, cheap to write and
    read, beside `tmp`; they are appended to the Parquet file after the first range, so rows
    keep file order. Raises `_NeedsSerial` when a worker failed or found an error that only a
    whole-file read can name exactly.
    """
    procs: list[tuple[subprocess.Popen[str], Path]] = []
    with tempfile.TemporaryDirectory(dir=tmp.parent, prefix=f".{tmp.name}-parts-") as work:
        try:
            for i, rng in enumerate(ranges[1:], start=1):
                part = Path(work) / f"part-{i}.arrows"
                spec = {
                    "path": str(path),
                    "start": rng.start,
                    "stop": rng.stop,
                    "head_len": len(rng.head),
                    "tail": rng.tail.decode(),
                    "first_line": rng.first_line,
                    "part": str(part),
                    "batch_reports": BATCH_REPORTS,
                    "convert_reports": CONVERT_REPORTS,
                }
                try:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "pipeline.ingest._fixml_worker", json.dumps(spec)],
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                except OSError:
                    # No interpreter to start (embedded Python?): read the file here instead.
                    raise _NeedsSerial from None
                procs.append((proc, part))
            with pq.ParquetWriter(tmp, RAW_SCHEMA) as writer:
                count = _parse_range(
                    path, ranges[0], True, writer.write_table, BATCH_REPORTS, CONVERT_REPORTS
                )
                # Hand the first range's freed buffers back before reading the parts: the
                # pool would otherwise keep them beside the new ones (measured +30 MB peak).
                pa.default_memory_pool().release_unused()
                for proc, part in procs:
                    out, _ = proc.communicate()
                    if proc.returncode != 0:
                        raise _NeedsSerial
                    outcome = json.loads(out.strip().splitlines()[-1])
                    if outcome["needs_serial"]:
                        raise _NeedsSerial
                    if outcome["error"] is not None:
                        rule, detail, examples = outcome["error"]
                        raise InputFormatError(path, rule, detail, examples=examples)
                    count += int(outcome["count"])
                    # Read, not mapped: a mapped part would count its whole size in our RSS.
                    with pa.OSFile(str(part)) as source, pa.ipc.open_stream(source) as reader:
                        # The worker's row groups, as its tables (batches of CONVERT_REPORTS) came.
                        for table in _tables_of(reader, BATCH_REPORTS):
                            writer.write_table(table)
                            del table
                            pa.default_memory_pool().release_unused()
        finally:
            # Only on an error here: a worker still running is of no use any more.
            for proc, _ in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return count


def _tables_of(batches: Iterable[pa.RecordBatch], rows: int) -> Generator[pa.Table, None, None]:
    """Regroup small record batches into tables of at least `rows` rows (one row group each)."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        pending.append(batch)
        size += batch.num_rows
        if size >= rows:
            yield pa.Table.from_batches(pending, schema=RAW_SCHEMA)
            pending, size = [], 0
    if pending:
        yield pa.Table.from_batches(pending, schema=RAW_SCHEMA)


def parse_part(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker side of `_write_parts`: parse one range into an Arrow IPC file; report as JSON data.

    Errors travel back as data (rule, detail, examples); `needs_serial` asks the parent to read
    the whole file itself.
    """
    path = Path(spec["path"])
    with open_input(path) as fh:
        head = fh.read(int(spec["head_len"]))
    rng = _Range(
        int(spec["start"]), int(spec["stop"]), head, spec["tail"].encode(), spec["first_line"]
    )
    outcome: dict[str, Any] = {"count": 0, "error": None, "needs_serial": False}
    try:
        with (
            pa.OSFile(spec["part"], "wb") as sink,
            pa.ipc.new_stream(sink, RAW_SCHEMA) as stream,
        ):
            outcome["count"] = _parse_range(
                path,
                rng,
                True,  # only a plain file is split
                stream.write_table,
                int(spec["batch_reports"]),
                int(spec["convert_reports"]),
            )
    except _NeedsSerial:
        outcome["needs_serial"] = True
    except InputFormatError as exc:
        outcome["error"] = [exc.rule, exc.detail, exc.examples]
    return outcome


class _NeedsSerial(Exception):
    """A part of a split read failed where only a whole-file read can name the error exactly."""


@dataclass(frozen=True)
class _Range:
    """Bytes `start`..`stop` of the file, fed to a parser between synthetic `head` and `tail`.

    `head` (a copy of the file's own prolog and envelope start tags) and `tail` (the envelope's
    end tags) make one part of a split file a document of its own; `first_line` is the file line
    of byte `start`. The whole file is `_Range(0, size, b"", b"", 1)`.
    """

    start: int
    stop: int
    head: bytes = b""
    tail: bytes = b""
    first_line: int = 1

    def file_line(self, seen: int) -> int | None:
        """Map a line the parser saw to the file's line; None where that is ambiguous."""
        head_lines = self.head.count(b"\n")
        if seen <= head_lines:
            # The head is a copy of the file's first bytes: its lines are the file's.
            return seen
        if seen == head_lines + 1 and self.head and not self.head.endswith(b"\n"):
            # This line holds the head's last bytes and the range's first ones.
            return None
        return seen - head_lines - 1 + self.first_line

    @property
    def synthetic(self) -> bool:
        """Whether the parser sees bytes that are not the file's (a part of a split read)."""
        return bool(self.head or self.tail)


def _read_range(
    fh: BinaryIO, rng: _Range, plain: bool, chunk_size: int = LINE_CHUNK
) -> Generator[tuple[bytes, list[int]], None, None]:
    """Yield the range's bytes in chunks with the file lines of the `<PosRpt` starts in each.

    Lines are only found for a "plain" file (see `scan_for_dtd`). A chunk ending in an unfinished
    tag name is cut before its `<`, so that no tag name is split between two chunks.
    """
    fh.seek(rng.start)
    left = rng.stop - rng.start
    line_base = rng.first_line
    carry = b""
    while True:
        chunk = fh.read(min(chunk_size, left))
        left -= len(chunk)
        data = carry + chunk
        cut = len(data)
        if chunk:
            last = data.rfind(b"<")
            # Hold back only a last tag whose name may go on in the next read: anything else
            # goes now, so a long run after it (a zero-filled tail) is not copied over and over.
            if last >= 0 and _OPEN_NAME.fullmatch(data, last):
                cut = last
        lines: list[int] = []
        if plain and cut:
            starts = [match.start() for match in _START_TAG.finditer(data, 0, cut)]
            if starts:
                newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8, count=cut) == 0x0A)
                lines = (line_base + np.searchsorted(newlines, starts)).tolist()
            line_base += data.count(b"\n", 0, cut)
        if cut:
            yield data[:cut], lines
        carry = data[cut:]
        if not chunk:
            return


def _parse_range(
    path: Path,
    rng: _Range,
    plain: bool,
    emit: Callable[[pa.Table], None],
    batch_reports: int,
    convert_reports: int,
) -> int:
    """Parse one byte range of the FIXML with an lxml feed parser, emitting tables of rows.

    Raises `InputFormatError` for a malformed file; for a synthetic range (a part of a split
    read) it raises `_NeedsSerial` instead whenever the error's place in the file is not certain.
    """
    parser = etree.XMLPullParser(
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
    lines: deque[int] = deque()
    rows: list[_Row] = []
    pending: list[pa.RecordBatch] = []
    convert_every = min(convert_reports, batch_reports)
    state = _ParseState()
    stage = "head"
    root: Any = None
    try:
        if rng.head:
            parser.feed(rng.head)
            state.handle(path, parser.read_events(), rows, lines, plain)
        stage = "file"
        with path.open("rb") as fh:
            for data, starts in _read_range(fh, rng, plain):
                lines.extend(starts)
                parser.feed(data)
                state.handle(path, parser.read_events(), rows, lines, plain)
                # A chunk holds a few thousand reports: columnise them in slices of the size.
                while len(rows) >= convert_every:
                    pending.append(_to_batch(rows[:convert_every]))
                    del rows[:convert_every]
                    if sum(batch.num_rows for batch in pending) >= batch_reports:
                        emit(pa.Table.from_batches(pending, schema=RAW_SCHEMA))
                        pending.clear()
        if rng.tail:
            stage = "tail"
            parser.feed(rng.tail)
            state.handle(path, parser.read_events(), rows, lines, plain)
        root = parser.close()
        state.handle(path, parser.read_events(), rows, lines, plain)
    except etree.XMLSyntaxError as exc:
        # libxml2 says line 0 for an empty file; the reader means the first line.
        seen = max(1, exc.position[0] if exc.position else exc.lineno)
        # An error in a synthetic head or tail has no place in the file.
        in_file = stage == "file" and seen > rng.head.count(b"\n")
        line = rng.file_line(seen) if in_file else None
        # The message names lines too ("tag mismatch: Pty line 7 and PosRpt"): map them alike.
        lines_named = [rng.file_line(int(n)) for n in _LINE_IN_MESSAGE.findall(exc.msg)]
        if line is None or None in lines_named:
            # Only a whole-file read can place an error in the synthetic bytes.
            raise _NeedsSerial from None
        named = iter(lines_named)
        msg = _LINE_IN_MESSAGE.sub(lambda _: f"line {next(named)}", exc.msg)
        raise InputFormatError(
            path,
            "xml_wellformed",
            f"line {line}: {msg}; expected well-formed XML (truncated or corrupt file?)",
            examples=[{"line": line, "error": msg}],
        ) from None
    except InputFormatError:
        if rng.synthetic:
            raise _NeedsSerial from None
        raise
    if root is None or not state.batches:
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
        emit(pa.Table.from_batches(pending, schema=RAW_SCHEMA))
    return state.count


class _ParseState:
    """What a range parse has seen so far: the namespace, the `Batch` elements, the count."""

    def __init__(self) -> None:
        self.ns = ""
        self.batches: set[Any] = set()
        self.count = 0

    def handle(
        self,
        path: Path,
        events: Iterable[tuple[str, Any]],
        rows: list[_Row],
        lines: deque[int],
        plain: bool,
    ) -> None:
        """Check start tags' places and turn each finished `PosRpt` into a row, freeing it."""
        report_tag = self.ns + "PosRpt"
        parent = last = None
        count = 0
        for event, elem in events:
            if event == "start":
                if elem.tag != report_tag:
                    self.ns = _check_structure(path, elem, self.ns, self.batches)
                    report_tag = self.ns + "PosRpt"
                continue
            if elem.tag != report_tag:
                continue
            if elem.getparent() is not parent:
                _free_before(parent, last)
                parent = elem.getparent()
                if parent not in self.batches:
                    raise _structure_error(path, elem, "a PosRpt outside FIXML > Batch")
            line = lines.popleft() if plain and lines else None
            if line is None and elem.sourceline < _LINE_CAP:
                line = elem.sourceline
            # Otherwise (comments or CDATA past line 65535) the line is unknown: null, not wrong.
            rows.append(_report_row(elem, self.ns, line))
            count += 1
            last = elem
        self.count += count
        _free_before(parent, last)


def _free_before(parent: Any, last: Any) -> None:
    """Free the reports read so far: memory stays flat on a 2 GB file.

    One slice deletion per chunk instead of one per report (a third of the parse time). `last`
    itself, the parser's latest sibling, is only emptied (lxml's safe iterparse idiom); it goes
    with the next deletion.
    """
    if last is None:
        return
    del parent[: parent.index(last)]
    last.clear(keep_tail=True)


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
