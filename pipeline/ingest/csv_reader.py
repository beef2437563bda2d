"""Strict all-string CSV reader for the SPEC §2 input files (no type guessing, no null markers)."""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipeline.errors import InputFormatError
from pipeline.ingest.staging import open_input

_BOM = codecs.BOM_UTF8
_HEADER_LIMIT = 1 << 20
_SCAN_CHUNK = 8 << 20
_TAIL_BYTES = 1 << 16
_MAX_EXAMPLES = 10
# Past this many ragged rows the file is plainly not the expected format; stop collecting.
_MAX_BAD_ROWS = 10_000
_TEXT_PREVIEW = 200
_ROW_RE = re.compile(r"Row #(\d+)")


@dataclass(frozen=True)
class CsvFile:
    """A SPEC §2 CSV as read: its all-string table, and the sha256 and size of the bytes parsed."""

    table: pa.Table
    sha256: str
    size: int


class _Bytes:
    """The bytes of one open file from offset 0, as a file-like object for Arrow's CSV reader.

    Reads by position (`os.pread`), so other reads of the same descriptor do not move it. Every
    byte handed out is hashed and its line ends counted, and the last bytes are kept: the hash,
    the line count and the last line are of exactly the bytes parsed, in the one pass that
    parses them (issue 11: a file replaced by rename meanwhile is not what gets hashed).
    """

    closed = False

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.offset = 0
        self.lines = 0
        self.tail = b""
        self.digest = hashlib.sha256()

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 30
        data = os.pread(self.fd, size, self.offset)
        self.offset += len(data)
        # hashlib and numpy release the GIL on big buffers; Arrow's parser threads go on meanwhile.
        self.digest.update(data)
        self.lines += int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A))
        if len(data) >= _TAIL_BYTES:
            self.tail = data[-_TAIL_BYTES:]
        else:
            self.tail = (self.tail + data)[-_TAIL_BYTES:]
        return data

    def drain(self) -> None:
        """Hash the bytes not read yet (after an error, or a header-only file)."""
        while self.read(_SCAN_CHUNK):
            pass

    @property
    def line_count(self) -> int:
        """The lines read: the line ends, plus one if the last line has none."""
        return self.lines + (self.offset > 0 and not self.tail.endswith(b"\n"))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.offset

    def close(self) -> None:
        self.closed = True


def read_csv_strings(path: Path) -> CsvFile:
    """Read a SPEC §2 CSV with every column as `string`; only an empty field or `""` is null.

    Row `i` (0-based) of the table is line `i + 2` of the file. The file is opened once: the
    header, the rows, the checks and the sha256 all come from that one open file. Raises
    `InputFormatError` with rule `header` (empty file, blank or duplicate names), `encoding`
    (bytes that are not UTF-8) or `row_shape` (a row with the wrong number of fields, an
    unterminated quote, a blank line); the error carries the sha256 and size of the file's bytes.
    """
    with open_input(path) as fh:
        fd = fh.fileno()
        source = _Bytes(fd)
        try:
            table = _read_all(path, fd, source)
        except InputFormatError as exc:
            source.drain()
            exc.sha256, exc.size = source.digest.hexdigest(), source.offset
            raise
    return CsvFile(table, source.digest.hexdigest(), source.offset)


def _read_all(path: Path, fd: int, source: _Bytes) -> pa.Table:
    names, has_body = _read_header(path, os.pread(fd, _HEADER_LIMIT, 0))
    if not has_body:
        # Arrow cannot skip a header that has no line end; there is nothing else to read.
        source.drain()
        return pa.table({name: pa.array([], pa.string()) for name in names})
    try:
        table = _read(source, names, use_threads=True)
    except pa.ArrowInvalid as exc:
        # The threaded reader does not know line numbers; a serial re-read on this rare path
        # finds every bad row with its line, so the error names them all.
        raise _diagnose(path, fd, names, exc) from None
    # Arrow reads to the end; anything it left would still be hashed and counted here.
    source.drain()
    _check_line_breaks(path, table, source.line_count)
    _check_last_line(path, source.tail)
    _check_blank_lines(path, fd, names, table)
    return table


def _read(
    source: _Bytes,
    names: list[str],
    use_threads: bool,
    bad_rows: list[pacsv.InvalidRow] | None = None,
) -> pa.Table:
    """Run the Arrow CSV reader with our own header names and every column typed `string`."""

    def on_invalid(row: pacsv.InvalidRow) -> str:
        assert bad_rows is not None
        bad_rows.append(row)
        return "skip" if len(bad_rows) < _MAX_BAD_ROWS else "error"

    read_options = pacsv.ReadOptions(
        use_threads=use_threads,
        column_names=names,
        # The header was parsed (and checked) by `_read_header`; giving the names explicitly
        # guarantees every column gets the string type below, so nothing is type-guessed.
        skip_rows=1,
        block_size=16 << 20,
    )
    parse_options = pacsv.ParseOptions(
        delimiter=",",
        quote_char='"',
        double_quote=True,
        escape_char=False,
        newlines_in_values=False,
        # Keeping blank lines as rows keeps "row i is line i + 2" true; they are rejected later.
        ignore_empty_lines=False,
        invalid_row_handler=on_invalid if bad_rows is not None else None,
    )
    convert_options = pacsv.ConvertOptions(
        check_utf8=True,
        column_types={name: pa.string() for name in names},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        true_values=[],
        false_values=[],
    )
    return pacsv.read_csv(
        source,
        read_options=read_options,
        parse_options=parse_options,
        convert_options=convert_options,
    )


def _read_header(path: Path, head: bytes) -> tuple[list[str], bool]:
    """Parse and check the header line: present, UTF-8, no blank or duplicate names (SPEC §2).

    `head` is the file's first bytes. Also says whether anything follows the header line.
    """
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    if not head:
        raise InputFormatError(path, "header", "file is empty; expected a header line")
    end = head.find(b"\n")
    if end < 0 and len(head) == _HEADER_LIMIT:
        raise InputFormatError(
            path, "header", f"line 1 is longer than {_HEADER_LIMIT} bytes; expected a header line"
        )
    raw = (head if end < 0 else head[:end]).rstrip(b"\r")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFormatError(
            path,
            "encoding",
            f"line 1 (header), byte {exc.start + 1}: found byte 0x{raw[exc.start]:02x}; "
            "expected UTF-8",
        ) from None
    if not text:
        raise InputFormatError(path, "header", "line 1 is blank; expected a header line")
    names = next(csv.reader([text], strict=True))
    problems: list[str] = []
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name.strip():
            problems.append(f"column {position} has a blank name")
        elif name in seen:
            problems.append(f"column {position} repeats the name {name!r}")
        seen.add(name)
    if problems:
        raise InputFormatError(
            path,
            "header",
            f"line 1: {'; '.join(problems)}; expected unique non-blank column names",
            failing_count=len(problems),
        )
    return names, end >= 0


def _diagnose(path: Path, fd: int, names: list[str], exc: pa.ArrowInvalid) -> InputFormatError:
    """Turn an Arrow read failure into an `InputFormatError` naming the lines at fault."""
    bad_rows: list[pacsv.InvalidRow] = []
    try:
        _read(_Bytes(fd), names, use_threads=False, bad_rows=bad_rows)
        serial_error: pa.ArrowInvalid | None = None
    except pa.ArrowInvalid as again:
        serial_error = again
    if bad_rows:
        examples: list[dict[str, object]] = [
            {
                "line": row.number,
                "found_fields": row.actual_columns,
                "expected_fields": row.expected_columns,
                "text": row.text[:_TEXT_PREVIEW],
            }
            for row in bad_rows[:_MAX_EXAMPLES]
        ]
        first = bad_rows[0]
        more = "" if len(bad_rows) < _MAX_BAD_ROWS else " (stopped counting)"
        return InputFormatError(
            path,
            "row_shape",
            f"{len(bad_rows)} row(s){more} with the wrong number of fields, first at line "
            f"{first.number}: found {first.actual_columns} field(s), expected "
            f"{first.expected_columns} (the header's)",
            examples=examples,
            failing_count=len(bad_rows),
        )
    message = str(serial_error or exc)
    if "UTF8" in message or "UTF-8" in message:
        return _encoding_error(path, fd, names)
    match = _ROW_RE.search(message)
    where = f"line {match.group(1)}: " if match else ""
    return InputFormatError(path, "row_shape", f"{where}{message}; expected a RFC 4180 CSV row")


def _chunks(fd: int) -> Iterator[bytes]:
    """The open file's bytes from offset 0 in `_SCAN_CHUNK` blocks (for the rare error paths)."""
    offset = 0
    while chunk := os.pread(fd, _SCAN_CHUNK, offset):
        offset += len(chunk)
        yield chunk


def _encoding_error(path: Path, fd: int, names: list[str]) -> InputFormatError:
    """Find the first byte that is not UTF-8 and report its line, column and byte offset."""
    line_base = 1
    offset_base = 0
    carry = b""
    for chunk in _chunks(fd):
        data = carry + chunk
        # Cut at the last newline: "\n" never occurs inside a multi-byte UTF-8 sequence,
        # so each decoded piece holds whole characters.
        cut = data.rfind(b"\n") + 1 if len(chunk) == _SCAN_CHUNK else len(data)
        piece, carry = data[:cut], data[cut:]
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = line_base + piece.count(b"\n", 0, exc.start)
            line_start = piece.rfind(b"\n", 0, exc.start) + 1
            field = piece.count(b",", line_start, exc.start)
            column = names[field] if field < len(names) else f"#{field + 1}"
            return InputFormatError(
                path,
                "encoding",
                f"line {line}, column {column!r}, byte offset {offset_base + exc.start}: "
                f"found byte 0x{piece[exc.start]:02x}; expected UTF-8 text",
                examples=[{"line": line, "column": column, "byte_offset": offset_base + exc.start}],
            )
        line_base += piece.count(b"\n")
        offset_base += len(piece)
    return InputFormatError(path, "encoding", "bytes that are not UTF-8; expected UTF-8 text")


def _check_line_breaks(path: Path, table: pa.Table, lines: int) -> None:
    """Refuse values holding a line break: a quoted newline or an unterminated quote (SPEC §2).

    No SPEC §2 field may span lines, and allowing it would break "row i is line i + 2". `lines`
    is the file's line count, counted as it was read.
    """
    # Cheap common case: as many lines as rows (plus the header) means no value holds one.
    if lines == table.num_rows + 1:
        return
    for name, column in zip(table.column_names, table.columns, strict=True):
        if column.null_count == len(column):
            continue
        hits = pc.match_substring_regex(column, "[\r\n]")
        if not pc.any(hits).as_py():
            continue
        index = pc.index(hits, True).as_py()
        count = pc.sum(hits).as_py()
        raise InputFormatError(
            path,
            "row_shape",
            f"{count} value(s) of column {name!r} contain a line break (an unterminated or "
            f"multi-line quoted field), first in the row starting at line {index + 2}; "
            "expected one row per line",
            examples=[{"line": index + 2, "column": name}],
            failing_count=count,
        )


def _check_last_line(path: Path, tail: bytes) -> None:
    """Refuse a last line cut inside a quoted field (odd number of quotes), e.g. `a,"12`.

    `tail` is the file's last bytes, kept as they were read.
    """
    tail = tail.rstrip(b"\r\n")
    last = tail[tail.rfind(b"\n") + 1 :]
    if last.count(b'"') % 2:
        raise InputFormatError(
            path,
            "row_shape",
            "the last line ends inside a quoted field (file truncated?); "
            "expected every quote to be closed",
            examples=[{"text": last[:_TEXT_PREVIEW].decode("utf-8", "replace")}],
        )


def _check_blank_lines(path: Path, fd: int, names: list[str], table: pa.Table) -> None:
    """Refuse blank lines in a multi-column file: a row with 1 field where the header has more."""
    if len(names) < 2 or table.num_rows == 0:
        return
    # A blank line reads as an all-null row; if any column has no nulls there is none (cheap).
    if any(column.null_count == 0 for column in table.columns):
        return
    all_null = pc.is_null(table.column(0))
    for column in table.columns[1:]:
        all_null = pc.and_(all_null, pc.is_null(column))
    if not pc.any(all_null).as_py():
        return
    # Rare path: an all-null row is either a blank line or a row of empty fields (`,,`);
    # only the former is a shape error, so look at the raw lines (of the same open file).
    blank: list[int] = []
    number = 0
    carry = b""
    for chunk in _chunks(fd):
        *whole, carry = (carry + chunk).split(b"\n")
        for raw in whole:
            number += 1
            if number > 1 and not raw.rstrip(b"\r"):
                blank.append(number)
    if carry == b"\r":
        blank.append(number + 1)
    if blank:
        raise InputFormatError(
            path,
            "row_shape",
            f"{len(blank)} blank line(s), first at line {blank[0]}: found 1 empty field, "
            f"expected {len(names)} (the header's)",
            examples=[
                {"line": n, "found_fields": 1, "expected_fields": len(names)}
                for n in blank[:_MAX_EXAMPLES]
            ],
            failing_count=len(blank),
        )
