"""Streaming, XXE-safe reader of the CME FIXML position file into raw Arrow columns (SPEC §2.3).

No business rule is applied here: attributes are carried as the strings found in the file (an
absent attribute is null, an absent `Long`/`Short` of a present `Qty` is "0", the FIX reading),
and the counts `n_fin_qty` / `n_account_parties` let the contract judge "exactly one FIN
quantity" and "exactly one party of the account role" per report.

How a file is read (every accepted shape alike: namespace or none, reports in one or more
`Batch` elements or directly under the root, `Hdr` elements, comments, other messages):
- the file is opened once; every byte is read through that descriptor, hashed (SHA-256) as it is
  fed to the parser, and scanned first for `<!DOCTYPE` / `<!ENTITY` (refused before the parser
  sees them) and for the lines of the `<PosRpt` start tags (comments, CDATA and processing
  instructions skipped, so the lines stay exact);
- lxml parses it in 64 KiB feeds; each finished `PosRpt` becomes a row and is freed with the
  messages before it (other message elements are counted by name for a validation warning);
- a file of `SPLIT_MIN_BYTES` or more is cut at a `<PosRpt` start tag into `PARTS` byte ranges,
  all but the first parsed by worker processes that read the same open file (both cores of the
  nightly machine); each part is a document of its own between a copy of the file's envelope
  start tags and their end tags. A part whose result cannot be trusted (an error only a whole
  read can place, a cut that fell inside a comment) makes the file be read whole, and the reader
  says so in its log, as it says why a big file was not cut.
The per-byte and per-report work is done by the compiled `_fixml_native` module, or by its
pure-Python twin `_fixml_python` where it was not built (the log says which).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from xml.sax.saxutils import quoteattr

import pyarrow as pa
from lxml import etree

from pipeline.errors import InputFormatError, InternalError
from pipeline.ingest import _fixml_python

log = logging.getLogger("xmargin.ingest")

FIXML_NAMESPACES = (
    "http://www.fixprotocol.org/FIXML-5-0",
    "http://www.fixprotocol.org/FIXML-5-0-SP1",
    "http://www.fixprotocol.org/FIXML-5-0-SP2",
)
# Reports per Arrow batch (a Parquet row group when a destination file is written).
BATCH_REPORTS = 25_000
# Block size of `scan_for_dtd`.
SCAN_CHUNK = 4 << 20
# Bytes fed to the parser at a time: 64 KiB measured ~15% faster than 1 MiB (cache-sized).
LINE_CHUNK = 1 << 16
# Searched case-insensitively anywhere in the bytes: XML markup is case-sensitive, but refusing
# `<!doctype` too costs nothing.
_FORBIDDEN = (b"<!doctype", b"<!entity")
# Files this big are parsed in PARTS byte ranges by as many processes (one of them this one);
# below it the worker start-up (~0.5 s) would cost more than it saves.
SPLIT_MIN_BYTES = 64 << 20
PARTS = 2
# A worker parses alone in its process: with a second thread (pyarrow's jemalloc background
# thread, OpenBLAS's pool) glibc's malloc takes a lock on each of libxml2's ~60 allocations per
# report, measured 7% of the parse.
_WORKER_ENV = {"JE_ARROW_MALLOC_CONF": "background_thread:false", "OPENBLAS_NUM_THREADS": "1"}
# How far into the file the first `<PosRpt` may be for a split (headers, other messages first).
_HEAD_MAX = 16 << 20
# A `<` and name bytes up to the end of the data: a tag name that may go on in the next read.
_OPEN_NAME = re.compile(rb"<[\w.\-:\x80-\xff]*")
# libxml2 does not accept longer names (without huge_tree): no need to hold more back.
_MAX_NAME = 50_016
_LINE_IN_TEXT = re.compile(r"\bline (\d+)")
_EXPECTED = (
    "expected a <FIXML> root (FIXML 5.0, SP1 or SP2 namespace, or none) holding <PosRpt> "
    "reports, directly or in <Batch> elements"
)

_STRING = pa.string_view()
RAW_SCHEMA = pa.schema(
    [
        ("line", pa.int64()),
        ("rpt_id", _STRING),
        ("biz_dt", _STRING),
        ("req_typ", _STRING),
        ("set_ses_id", _STRING),
        ("set_px", _STRING),
        ("pri_set_px", _STRING),
        ("account_id", _STRING),
        ("account_role", _STRING),
        ("n_account_parties", pa.int64()),
        ("clearing_firm_id", _STRING),
        ("contract_id", _STRING),
        ("product_symbol", _STRING),
        ("security_type", _STRING),
        ("maturity_month", _STRING),
        ("exchange", _STRING),
        ("sod_long", _STRING),
        ("sod_short", _STRING),
        ("fin_long", _STRING),
        ("fin_short", _STRING),
        ("n_fin_qty", pa.int64()),
        ("fmtm_amount", _STRING),
        ("fmtm_ccy", _STRING),
    ]
)
# Where each column of `Extractor.take` (line, the two counts, then the strings) goes.
_TAKE_ORDER = [
    RAW_SCHEMA.get_field_index(name)
    for name in ("line", "n_account_parties", "n_fin_qty", *_fixml_python.STRING_COLUMNS)
]


def _load_native() -> ModuleType | None:
    try:
        from pipeline.ingest import _fixml_native  # type: ignore[attr-defined]
    except ImportError:
        return None
    module: ModuleType = _fixml_native
    return module


# The compiled module if it was built; tests swap in `_fixml_python` to read both ways.
_native = _load_native()
IMPLEMENTATION: ModuleType = _native or _fixml_python
_IMPLEMENTATIONS = {"native": _native, "python": _fixml_python}


def _name_of(impl: ModuleType) -> str:
    return "native" if impl is _native and _native is not None else "python"


@dataclass(frozen=True)
class FixmlRead:
    """What `read_cme_positions` read: counts, the hash of exactly the bytes parsed, how.

    `ignored` counts the message elements other than `PosRpt` by tag (SPEC §2.3: a validation
    warning each); `table` holds the rows when no destination file was asked for.
    """

    reports: int
    sha256: str
    size: int
    ignored: dict[str, int]
    parts: int
    how: str
    implementation: str
    table: pa.Table | None = field(default=None, repr=False)


def read_cme_positions(path: Path, dest: Path | None = None) -> FixmlRead:
    """Stream the SPEC §2.3 FIXML file into raw columns: Parquet at `dest`, or in memory.

    Raises `InputFormatError` with rule `xml_safety` for any `<!DOCTYPE` / `<!ENTITY` in the
    bytes (they win over any other error), `xml_wellformed` for malformed or truncated XML or a
    document that is not a FIXML position file, and `file_unchanged` when the file was written
    to while it was read. `dest` is written atomically: on error it is left untouched. With a
    `dest`, memory stays flat whatever the file size; without one the rows are returned in
    `FixmlRead.table`.
    """
    impl = IMPLEMENTATION
    if _native is None:
        log.warning(
            "%s: the compiled FIXML extractor is not built (no C compiler at install?): "
            "reading with the pure-Python one, about 2x slower",
            path.name,
        )
    with _Source(path) as src:
        sink = _Sink(RAW_SCHEMA, dest)
        try:
            ranges, why = _plan(src, impl)
            outcome = _read_split(src, ranges, sink, impl) if ranges else None
            if outcome is None:
                if ranges:
                    why = "a part could not be trusted (see above), read whole instead"
                sink.restart()
                outcome = _read_whole(src, sink, impl)
            if src.changed():
                raise InputFormatError(
                    path,
                    "file_unchanged",
                    "the file was modified while it was read; expected a complete file that "
                    "no one writes to (rerun once its transfer is done)",
                )
            table = sink.finish()
        finally:
            sink.discard()
    count, digest, ignored, parts = outcome
    how = f"in {parts} parts" if parts > 1 else f"whole ({why})"
    log.info(
        "%s: %d reports, %d bytes read %s by the %s extractor%s",
        path.name,
        count,
        src.size,
        how,
        _name_of(impl),
        "".join(f"; ignored {n} <{tag}>" for tag, n in sorted(ignored.items())),
    )
    return FixmlRead(count, digest, src.size, dict(ignored), parts, how, _name_of(impl), table)


def scan_for_dtd(path: Path, chunk_size: int = SCAN_CHUNK) -> None:
    """Refuse a file whose bytes hold `<!DOCTYPE` or `<!ENTITY` anywhere (SPEC §2.3, XXE).

    The reader makes the same check on every block before the parser sees it; this is that
    check on its own. A marker split across two reads is found: a block never ends inside one.
    Parsing is forced to UTF-8, so a file in another encoding (where the markers would look
    different) fails to parse instead.
    """
    with _Source(path) as src:
        scanner = IMPLEMENTATION.Scanner(forbidden=_FORBIDDEN)
        for data in _chunks(src, 0, src.size, chunk_size):
            scanner.scan(data)
            if scanner.forbidden_at >= 0:
                raise _forbidden_error(path, scanner)


class _Source:
    """The input file, opened once: reads, hash and workers all go through this descriptor.

    A file renamed over the path while it is read does not matter (the descriptor keeps the
    bytes it opened); one written to in place is caught by `changed` (size or mtime moved).
    """

    def __init__(self, path: Path, fd: int | None = None) -> None:
        self.path = path
        self.file: Any = None
        if fd is None:
            # Here, not at the top: `staging` loads Polars, and a worker (given `fd`) stays lean.
            from pipeline.ingest.staging import open_input

            self.file = open_input(path)
            fd = self.file.fileno()
        self.fd = fd
        stat = os.fstat(self.fd)
        self.size = stat.st_size
        self._mark = (stat.st_size, stat.st_mtime_ns)

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()

    def read(self, offset: int, size: int) -> bytes:
        return os.pread(self.fd, size, offset)

    def changed(self) -> bool:
        stat = os.fstat(self.fd)
        return (stat.st_size, stat.st_mtime_ns) != self._mark


def _chunks(src: _Source, start: int, stop: int, size: int = LINE_CHUNK) -> Iterator[bytes]:
    """Yield bytes `start`..`stop` in order, none ending inside a tag name or a `<!` marker.

    Such an end is held back for the next read, so the scanner and the parser always see a
    whole `<PosRpt`, `<!--` or `<!DOCTYPE` in one block: a forbidden marker is refused before
    any of it reaches the parser. Anything else goes as read (a long run after the last `<`,
    a zero-filled tail, is not copied over and over).
    """
    at = start
    carry = b""
    while at < stop:
        chunk = src.read(at, min(size, stop - at))
        if not chunk:
            break
        at += len(chunk)
        data = carry + chunk if carry else chunk
        cut = len(data)
        last = data.rfind(b"<")
        if last >= 0 and at < stop:
            tail = len(data) - last
            if (tail < len(b"<!doctype") and data.startswith(b"<!", last)) or (
                tail <= _MAX_NAME and _OPEN_NAME.fullmatch(data, last)
            ):
                cut = last
        if cut:
            yield data if cut == len(data) else data[:cut]
        carry = data[cut:]
    if carry:
        yield carry


@dataclass(frozen=True)
class _Range:
    """Bytes `start`..`stop` of the file, fed to a parser between synthetic `head` and `tail`.

    `head` (the file's envelope start tags, `<FIXML>` and maybe `<Batch>`, with their namespace
    declarations, ending in a newline) and `tail` (their end tags) make a part of a split file a
    document of its own. Lines are counted from 1 at `start`: the reader shifts a part's lines
    by the line of its first byte once the parts before it are read.
    """

    start: int
    stop: int
    head: bytes = b""
    tail: bytes = b""

    def file_line(self, seen: int) -> int | None:
        """The range's line for a line the parser saw; None inside the synthetic head."""
        head_lines = self.head.count(b"\n")
        return seen - head_lines if seen > head_lines else None

    @property
    def synthetic(self) -> bool:
        """Whether the parser sees bytes that are not the file's (a part of a split read)."""
        return bool(self.head or self.tail)


@dataclass
class _Part:
    """What one range gave: reports, ignored messages by tag, and its newline count."""

    count: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    newlines: int = 0


class _NeedsSerial(Exception):
    """A part of a split read failed where only a whole-file read can name the error exactly."""


Emit = Callable[[pa.RecordBatch], None]


def _read_whole(src: _Source, sink: _Sink, impl: ModuleType) -> tuple[int, str, Counter[str], int]:
    """Parse the whole file in this process."""
    digest = hashlib.sha256()
    scanner = impl.Scanner(forbidden=_FORBIDDEN)
    try:
        part = _parse_range(src, _Range(0, src.size), sink.write, impl, scanner, digest)
    except InputFormatError as exc:
        raise _finish_failed(src, exc, scanner, digest, impl) from None
    return part.count, digest.hexdigest(), part.ignored, 1


def _finish_failed(
    src: _Source, exc: InputFormatError, scanner: Any, digest: Any, impl: ModuleType
) -> InputFormatError:
    """Read the rest of a refused file: a forbidden marker anywhere wins over an earlier error
    (as if the whole file had been scanned first), and the error carries the file's hash."""
    if exc.rule != "xml_safety" and scanner is not None:
        try:
            _scan_rest(src, int(scanner.offset), impl, digest)
        except InputFormatError as forbidden:
            exc = forbidden
            digest = None
    if digest is not None and scanner is not None and exc.rule != "xml_safety":
        exc.sha256, exc.size = digest.hexdigest(), src.size
    return exc


def _scan_rest(src: _Source, start: int, impl: ModuleType, digest: Any = None) -> None:
    """Read `start`..end (hashing it when a digest is given); raise on a forbidden marker."""
    scanner = impl.Scanner(offset=start, forbidden=_FORBIDDEN)
    for data in _chunks(src, start, src.size):
        scanner.scan(data)
        if scanner.forbidden_at >= 0:
            raise _forbidden_error(src.path, scanner)
        if digest is not None:
            digest.update(data)


def _forbidden_error(path: Path, scanner: Any) -> InputFormatError:
    found = scanner.forbidden_marker.decode().upper()
    at = scanner.forbidden_at
    return InputFormatError(
        path,
        "xml_safety",
        f"byte offset {at}: found {found}; expected no document type or entity declarations "
        "(XXE-safe input)",
        examples=[{"byte_offset": at, "found": found}],
    )


def _parser() -> Any:
    return etree.XMLPullParser(
        events=("end",),
        tag=("{*}PosRpt", "{*}Batch"),
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


def _parse_range(
    src: _Source,
    rng: _Range,
    emit: Emit,
    impl: ModuleType,
    scanner: Any,
    digest: Any = None,
    batch_reports: int | None = None,
) -> _Part:
    """Parse one byte range of the FIXML with an lxml feed parser, emitting batches of rows.

    Every block is hashed into `digest` (when given) and scanned by `scanner` before the parser
    sees it, so after an error both have covered exactly `rng.start`..`scanner.offset`. Raises
    `InputFormatError` for a malformed or unsafe file; for a synthetic range (a part of a split
    read) it raises `_NeedsSerial` instead whenever the error's place in the file is not certain.
    Lines are the range's own (counted from 1 at its first byte).
    """
    parser = _parser()
    state = _State(src.path, impl.Extractor(), emit, batch_reports or BATCH_REPORTS)
    stage = "head"
    try:
        if rng.head:
            parser.feed(rng.head)
            state.handle(list(parser.read_events()))
        stage = "file"
        for data in _chunks(src, rng.start, rng.stop):
            if digest is not None:
                digest.update(data)
            lines = scanner.scan(data)
            if scanner.forbidden_at >= 0:
                raise _forbidden_error(src.path, scanner)
            state.extractor.queue_lines(lines)
            parser.feed(data)
            events = list(parser.read_events())
            if events:
                state.handle(events)
        if rng.tail:
            stage = "tail"
            parser.feed(rng.tail)
            state.handle(list(parser.read_events()))
        root = parser.close()
        state.handle(list(parser.read_events()))
        state.finish(root)
    except etree.XMLSyntaxError as exc:
        # libxml2 says line 0 for an empty file; the reader means the first line.
        seen = max(1, exc.position[0] if exc.position else exc.lineno)
        # An error in a synthetic head or tail has no place in the file.
        line = rng.file_line(seen) if stage == "file" else None
        # The message names lines too ("tag mismatch: Pty line 7 and PosRpt"): map them alike.
        named = [rng.file_line(int(n)) for n in _LINE_IN_TEXT.findall(exc.msg)]
        if line is None or None in named:
            if rng.synthetic:
                raise _NeedsSerial from None
            line = line or seen
        mapped = iter(named)
        msg = _LINE_IN_TEXT.sub(lambda _: f"line {next(mapped)}", exc.msg)
        raise InputFormatError(
            src.path,
            "xml_wellformed",
            f"line {line}: {msg}; expected well-formed XML (truncated or corrupt file?)",
            examples=[{"line": line, "error": msg}],
        ) from None
    except InputFormatError as exc:
        if rng.synthetic and exc.rule != "xml_safety":
            raise _NeedsSerial from None
        raise
    if state.extractor.lines_short or state.extractor.lines_left:
        # The scanner and the parser disagree on the reports: a cut inside a comment, or a bug.
        if rng.synthetic:
            raise _NeedsSerial
        raise InternalError(
            f"{src.path.name}: the FIXML reader found {scanner.tags} <PosRpt> start tags but "
            f"parsed {state.count} reports"
        )
    return _Part(state.count, state.ignored, int(scanner.line) - 1)


class _State:
    """What a range parse has seen: the root's namespace, the reports, the ignored messages."""

    def __init__(self, path: Path, extractor: Any, emit: Emit, batch_reports: int) -> None:
        self.path = path
        self.extractor = extractor
        self.emit = emit
        self.batch_reports = batch_reports
        self.ns: str | None = None
        self.root: Any = None
        self.count = 0
        self.ignored: Counter[str] = Counter()

    def handle(self, events: list[tuple[str, Any]]) -> None:
        """Turn finished `PosRpt` elements into rows and free them with what precedes them.

        Takes ownership of `events` and empties it: a report with a live Python proxy is freed
        by lxml slowly (it is moved to a document of its own), so none may be held at the free.
        """
        if not events:
            return
        if self.root is None:
            self._set_root(events[0][1].getroottree().getroot())
        extractor = self.extractor
        before = extractor.rows
        bad, others = extractor.add(events)
        self.count += extractor.rows - before
        if bad >= 0:
            raise self._misplaced(events[bad][1])
        batches = [elem for _, elem in events if _local(elem.tag) == "Batch"] if others else []
        last = events[-1][1]
        events.clear()
        for batch in batches:
            self._end_batch(batch)
        if all(last is not batch for batch in batches):
            parent = last.getparent()
            index, found = extractor.others(parent, last)
            self.ignored.update(found)
            del parent[:index]
            # The parser's latest sibling is only emptied (lxml's safe iterparse idiom); it
            # goes with the next deletion.
            last.clear(keep_tail=True)
        if extractor.rows >= self.batch_reports:
            self._emit()

    def finish(self, root: Any) -> None:
        """At the end: check a root no event showed, count what is left, emit the last rows."""
        if root is None:
            raise InputFormatError(
                self.path, "xml_wellformed", f"found no root element; {_EXPECTED}"
            )
        if self.root is None:
            self._set_root(root)
        self.ignored.update(self.extractor.others(root, None)[1])
        self._emit()

    def _emit(self) -> None:
        arrays = self.extractor.take()
        columns: list[Any] = [None] * len(arrays)
        for array, position in zip(arrays, _TAKE_ORDER, strict=True):
            columns[position] = array
        batch = pa.RecordBatch.from_arrays(columns, schema=RAW_SCHEMA)
        for offset in range(0, batch.num_rows, self.batch_reports):
            self.emit(batch.slice(offset, self.batch_reports))

    def _set_root(self, root: Any) -> None:
        tag: str = root.tag
        ns = tag[1:].partition("}")[0] if tag.startswith("{") else None
        if _local(tag) != "FIXML" or (ns is not None and ns not in FIXML_NAMESPACES):
            raise _structure_error(self.path, root, f"root element {tag}")
        self.root = root
        self.ns = ns
        self.extractor.set_namespace(ns)

    def _end_batch(self, batch: Any) -> None:
        parent = batch.getparent()
        ns = f"{{{self.ns}}}" if self.ns else ""
        if parent.getparent() is None:
            if batch.tag != ns + "Batch":
                raise _structure_error(self.path, batch, f"element {batch.tag} inside {parent.tag}")
        elif parent.tag == ns + "Batch" and parent.getparent().getparent() is None:
            raise _structure_error(self.path, batch, f"element {batch.tag} inside {parent.tag}")
        else:
            # Inside another message or a report: not the envelope, nothing of ours.
            return
        self.ignored.update(self.extractor.others(batch, None)[1])
        batch.clear(keep_tail=True)

    def _misplaced(self, report: Any) -> InputFormatError:
        """A report outside the root or a root's `Batch`: name the outermost foreign element."""
        ns = f"{{{self.ns}}}" if self.ns else ""
        chain = []
        elem = report
        while elem.getparent() is not None:
            chain.append(elem)
            elem = elem.getparent()
        # chain: report .. child of the root. The first one not in the root's namespace, or
        # else the report itself, is what is out of place.
        for elem in reversed(chain):
            if not elem.tag.startswith(ns) or (not ns and elem.tag.startswith("{")):
                return _structure_error(
                    self.path, elem, f"element {elem.tag} inside {elem.getparent().tag}"
                )
        return _structure_error(
            self.path, report, f"element {report.tag} inside {report.getparent().tag}"
        )


def _structure_error(path: Path, elem: Any, found: str) -> InputFormatError:
    """Report an element that is out of place in a FIXML position file."""
    return InputFormatError(
        path,
        "xml_wellformed",
        f"line {elem.sourceline}: found {found}; {_EXPECTED}",
        examples=[{"line": elem.sourceline, "found": found}],
    )


def _local(tag: Any) -> str:
    """Strip a `{namespace}` prefix from an element tag."""
    return str(tag).rpartition("}")[2]


# --- Splitting a big file ------------------------------------------------------------------------


def _plan(src: _Source, impl: ModuleType) -> tuple[list[_Range], str]:
    """The byte ranges to parse in parallel (none: read whole) and, if none, why not."""
    if PARTS < 2 or src.size < SPLIT_MIN_BYTES:
        return [], f"smaller than {SPLIT_MIN_BYTES >> 20} MiB"
    head_bytes = src.read(0, min(_HEAD_MAX, src.size))
    scanner = impl.Scanner(forbidden=_FORBIDDEN)
    scanner.scan(head_bytes)
    if scanner.forbidden_at >= 0:
        return [], "the head holds a forbidden declaration"
    first = int(scanner.first_tag_at)
    if first < 0:
        return [], f"no <PosRpt> in the first {_HEAD_MAX:,} bytes"
    envelope = _envelope(head_bytes[:first])
    if envelope is None:
        return [], "the reports are not in a <FIXML> or <FIXML> > <Batch> envelope"
    head, tail = envelope
    cuts: list[int] = []
    for k in range(1, PARTS):
        target = src.size * k // PARTS
        cut = _next_start_tag(src, max(target, cuts[-1] + 1 if cuts else first + 1))
        if cut is not None:
            cuts.append(cut)
    if not cuts:
        return [], "no <PosRpt> after the middle of the file"
    bounds = [0, *cuts, src.size]
    ranges = [
        _Range(
            bounds[i],
            bounds[i + 1],
            head if i else b"",
            tail if i < len(cuts) else b"",
        )
        for i in range(len(bounds) - 1)
    ]
    return ranges, ""


def _next_start_tag(src: _Source, offset: int) -> int | None:
    """The byte offset of the first `<PosRpt` start tag text at or after `offset`."""
    overlap = 64
    pattern = re.compile(rb"<(?:[\w.\-\x80-\xff]+:)?PosRpt(?=[\s/>])")
    while offset < src.size:
        window = src.read(offset, LINE_CHUNK + overlap)
        match = pattern.search(window)
        if match is not None:
            return offset + match.start()
        if len(window) <= overlap:
            return None
        offset += len(window) - overlap
    return None


def _envelope(head: bytes) -> tuple[bytes, bytes] | None:
    """Parse the file's head (up to its first `<PosRpt`); return a synthetic head and tail.

    None unless the head is well-formed so far and leaves open exactly `<FIXML>` (a FIXML 5.0
    namespace or none) or `<FIXML>` > `<Batch>`, whatever came before (a header, other
    messages, comments): those are the first range's, the synthetic head holds only the open
    start tags with their namespace declarations.
    """
    parser = etree.XMLPullParser(
        events=("start", "end"),
        encoding="UTF-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    stack: list[Any] = []
    try:
        parser.feed(head)
        for event, elem in parser.read_events():
            if event == "start":
                stack.append(elem)
            else:
                stack.pop()
    except etree.XMLSyntaxError:
        return None
    if not stack or len(stack) > 2:
        return None
    root = stack[0]
    ns = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else None
    if _local(root.tag) != "FIXML" or (ns is not None and ns not in FIXML_NAMESPACES):
        return None
    if len(stack) == 2 and stack[1].tag != (f"{{{ns}}}Batch" if ns else "Batch"):
        return None
    starts: list[str] = []
    ends: list[str] = []
    inherited: dict[str | None, str] = {}
    for elem in stack:
        qname = f"{elem.prefix}:{_local(elem.tag)}" if elem.prefix else _local(elem.tag)
        declared = {p: uri for p, uri in elem.nsmap.items() if inherited.get(p) != uri}
        decls = "".join(
            f" xmlns{':' + p if p else ''}={quoteattr(uri)}" for p, uri in declared.items()
        )
        inherited = dict(elem.nsmap)
        starts.append(f"<{qname}{decls}>\n")
        ends.insert(0, f"</{qname}>")
    synthetic = '<?xml version="1.0" encoding="UTF-8"?>\n' + "".join(starts)
    return synthetic.encode(), "".join(ends).encode()


def _read_split(
    src: _Source, ranges: list[_Range], sink: _Sink, impl: ModuleType
) -> tuple[int, str, Counter[str], int] | None:
    """Parse every range in a worker; None if a whole read must decide (the log says why).

    Workers (`python -m pipeline.ingest._fixml_worker`, plain subprocesses: no `__main__`
    re-import, allowed in daemonic Celery workers) inherit the open file and write Arrow IPC
    parts beside the output. They run single-threaded (see `_WORKER_ENV`); this process hashes
    and scans the whole file meanwhile, then takes the parts in file order with their lines
    shifted to the file's.
    """
    digest = hashlib.sha256()
    procs: list[tuple[subprocess.Popen[str], Path]] = []
    with tempfile.TemporaryDirectory(dir=sink.scratch, prefix=".fixml-parts-") as work:
        try:
            for i, rng in enumerate(ranges):
                part = Path(work) / f"part-{i}.arrows"
                spec = {
                    "path": str(src.path),
                    "fd": src.fd,
                    "start": rng.start,
                    "stop": rng.stop,
                    "head": rng.head.decode(),
                    "tail": rng.tail.decode(),
                    "part": str(part),
                    "batch_reports": BATCH_REPORTS,
                    "implementation": _name_of(impl),
                }
                try:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "pipeline.ingest._fixml_worker", json.dumps(spec)],
                        stdout=subprocess.PIPE,
                        text=True,
                        pass_fds=(src.fd,),
                        env={**os.environ, **_WORKER_ENV},
                    )
                except OSError as exc:
                    log.warning("%s: no worker process (%s)", src.path.name, exc)
                    return None
                procs.append((proc, part))
            # The workers check their own bytes before parsing them; this pass hashes the file
            # and finds a forbidden marker anywhere, which wins over any other error.
            try:
                _scan_rest(src, 0, impl, digest)
            except InputFormatError as exc:
                raise _finish_failed(src, exc, None, None, impl) from None
            outcomes = []
            for proc, _ in procs:
                out, _ = proc.communicate()
                if proc.returncode != 0:
                    log.warning(
                        "%s: a FIXML worker failed (exit %s)", src.path.name, proc.returncode
                    )
                    return None
                outcomes.append(json.loads(out.strip().splitlines()[-1]))
            line = 1
            count = 0
            ignored: Counter[str] = Counter()
            for (_, part), outcome in zip(procs, outcomes, strict=True):
                if outcome["needs_serial"]:
                    log.warning(
                        "%s: a part found what only a whole read can place (an error, or a "
                        "cut inside a comment)",
                        src.path.name,
                    )
                    return None
                if outcome["error"] is not None:
                    rule, detail, examples = outcome["error"]
                    error = InputFormatError(
                        src.path,
                        rule,
                        _shift_text(detail, line - 1),
                        examples=[_shift_example(e, line - 1) for e in examples],
                    )
                    error.sha256, error.size = digest.hexdigest(), src.size
                    raise error
                count += int(outcome["count"])
                ignored.update(outcome["ignored"])
                sink.append_part(part, line - 1, impl)
                line += int(outcome["newlines"])
        finally:
            # Only on an error here: a worker still running is of no use any more.
            for proc, _ in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return count, digest.hexdigest(), ignored, len(ranges)


def _shift_text(text: str, delta: int) -> str:
    return _LINE_IN_TEXT.sub(lambda m: f"line {int(m.group(1)) + delta}", text)


def _shift_example(example: dict[str, Any], delta: int) -> dict[str, Any]:
    shifted = dict(example)
    if isinstance(shifted.get("line"), int):
        shifted["line"] += delta
    return shifted


def parse_part(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker side of `_read_split`: parse one range into an Arrow IPC file; report as JSON data.

    Lines are the range's own (1 at its first byte). Errors travel back as data (rule, detail,
    examples); `needs_serial` asks the parent to read the whole file itself.
    """
    impl = _IMPLEMENTATIONS[spec["implementation"]]
    if impl is None:
        raise InternalError("the compiled FIXML extractor is not importable in the worker")
    rng = _Range(
        int(spec["start"]), int(spec["stop"]), spec["head"].encode(), spec["tail"].encode()
    )
    outcome: dict[str, Any] = {
        "count": 0,
        "ignored": {},
        "newlines": 0,
        "error": None,
        "needs_serial": False,
    }
    src = _Source(Path(spec["path"]), fd=int(spec["fd"]))
    scanner = impl.Scanner(offset=rng.start, forbidden=_FORBIDDEN)
    try:
        with pa.OSFile(spec["part"], "wb") as sink, pa.ipc.new_stream(sink, RAW_SCHEMA) as stream:
            part = _parse_range(
                src, rng, stream.write_batch, impl, scanner, None, int(spec["batch_reports"])
            )
        outcome.update(count=part.count, ignored=dict(part.ignored), newlines=part.newlines)
    except _NeedsSerial:
        outcome["needs_serial"] = True
    except InputFormatError as exc:
        outcome["error"] = [exc.rule, exc.detail, exc.examples]
    return outcome


# --- Where the rows go ---------------------------------------------------------------------------


class _Sink:
    """Rows to a Parquet file written atomically (`dest`), or to an in-memory table."""

    def __init__(self, schema: pa.Schema, dest: Path | None) -> None:
        self.schema = schema
        self.dest = dest
        self.scratch = None if dest is None else dest.parent
        self.tmp: Path | None = None
        if dest is not None:
            # Here, not at the top: `staging` loads Polars, and a worker must stay lean.
            from pipeline.ingest.staging import temp_path

            self.tmp = temp_path(dest)
        self.writer: Any = None
        self.batches: list[pa.RecordBatch] = []
        self.mapped: list[Any] = []
        if dest is not None:
            dest.parent.mkdir(parents=True, exist_ok=True)

    def write(self, batch: pa.RecordBatch) -> None:
        if self.tmp is None:
            self.batches.append(batch)
            return
        if self.writer is None:
            self.writer = _parquet_writer(self.tmp, self.schema)
        self.writer.write_batch(batch)

    def append_part(self, part: Path, delta: int, impl: ModuleType) -> None:
        """Append a worker's Arrow IPC part, its lines shifted by `delta` to the file's."""
        if self.tmp is None:
            # Mapped, not copied: the batches keep the mapping (the file may go, the pages stay).
            source = pa.memory_map(str(part))
            self.mapped.append(source)
            reader = pa.ipc.open_stream(source)
        else:
            # Read, not mapped: a mapped part would count its whole size in our RSS.
            reader = pa.ipc.open_stream(pa.OSFile(str(part)))
        for batch in reader:
            if delta:
                # Not pyarrow.compute nor NumPy: their first call costs ~50 MB RSS (a thread
                # pool, OpenBLAS buffers), and this is one pass over an int64 column.
                column = batch.column(0)
                values = impl.shift(column.buffers()[1], column.offset, len(column), delta)
                lines = pa.Array.from_buffers(pa.int64(), len(column), [None, pa.py_buffer(values)])
                batch = pa.RecordBatch.from_arrays([lines, *batch.columns[1:]], schema=self.schema)
            self.write(batch)
            if self.tmp is not None:
                del batch
                # Hand each part's freed buffers back at once: the pool would otherwise keep
                # them for a while beside the next ones (measured +60 MB peak on 150 MB).
                pa.default_memory_pool().release_unused()

    def restart(self) -> None:
        """Forget what a failed split read wrote."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.batches = []

    def finish(self) -> pa.Table | None:
        if self.tmp is None:
            return pa.Table.from_batches(self.batches, schema=self.schema)
        if self.writer is None:
            self.writer = _parquet_writer(self.tmp, self.schema)
        self.writer.close()
        self.writer = None
        from pipeline.ingest.staging import commit_temp

        assert self.dest is not None
        commit_temp(self.tmp, self.dest)
        return None

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def _parquet_writer(path: Path, schema: pa.Schema) -> Any:
    # Here, not at the top: a worker never writes Parquet, and the import costs it ~0.1 s.
    import pyarrow.parquet as pq

    return pq.ParquetWriter(path, schema)
