"""Strict all-string CSV reader (SPEC §2): nulls, encoding, row shape, header."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.errors import InputFormatError
from pipeline.ingest.csv_reader import read_csv_strings


def write(tmp_path: Path, data: bytes, name: str = "accounts_20261120.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def reject(path: Path, rule: str) -> InputFormatError:
    with pytest.raises(InputFormatError) as info:
        read_csv_strings(path)
    assert info.value.rule == rule, str(info.value)
    assert info.value.exit_code == 1
    assert path.name in str(info.value)
    return info.value


def test_bom_is_dropped_and_names_are_exact(tmp_path: Path) -> None:
    table = read_csv_strings(write(tmp_path, b"\xef\xbb\xbfaccount_id,Hrp\nA1,true\n")).table
    assert table.column_names == ["account_id", "Hrp"]
    assert table.to_pylist() == [{"account_id": "A1", "Hrp": "true"}]


def test_only_empty_and_quoted_empty_are_null_and_nothing_is_type_guessed(tmp_path: Path) -> None:
    data = b'id,a,b,c,d\n1,,"",NA,NULL\n2,1E5,"NA",0012,true\n3,nan,-0.50, x,2026-11-20\n'
    table = read_csv_strings(write(tmp_path, data)).table
    assert all(field.type == pa.string() for field in table.schema)
    assert table.to_pylist() == [
        {"id": "1", "a": None, "b": None, "c": "NA", "d": "NULL"},
        {"id": "2", "a": "1E5", "b": "NA", "c": "0012", "d": "true"},
        {"id": "3", "a": "nan", "b": "-0.50", "c": " x", "d": "2026-11-20"},
    ]


def test_crlf_line_endings_and_missing_final_newline_read_alike(tmp_path: Path) -> None:
    crlf = read_csv_strings(write(tmp_path, b"a,b\r\n1,2\r\n3,4", "crlf.csv")).table
    assert crlf.to_pylist() == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


def test_extra_columns_are_kept(tmp_path: Path) -> None:
    table = read_csv_strings(write(tmp_path, b"account_id,unexpected_extra\nA1,zzz\n")).table
    assert table.column_names == ["account_id", "unexpected_extra"]
    assert table.column("unexpected_extra").to_pylist() == ["zzz"]


def test_header_only_file_is_an_empty_string_table(tmp_path: Path) -> None:
    table = read_csv_strings(write(tmp_path, b"book,item,amount\n")).table
    assert table.num_rows == 0
    assert table.schema == pa.schema([(n, pa.string()) for n in ("book", "item", "amount")])


def test_header_only_without_newline(tmp_path: Path) -> None:
    table = read_csv_strings(write(tmp_path, b"book,on_deposit")).table
    assert (table.num_rows, table.column_names) == (0, ["book", "on_deposit"])


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n1,2\n"])
def test_empty_file_or_blank_first_line_is_a_header_error(tmp_path: Path, data: bytes) -> None:
    reject(write(tmp_path, data), "header")


def test_duplicate_and_blank_names_are_all_reported(tmp_path: Path) -> None:
    error = reject(write(tmp_path, b"a,b,a,,c\n1,2,3,4,5\n"), "header")
    assert "column 3 repeats the name 'a'" in error.detail
    assert "column 4 has a blank name" in error.detail
    assert error.failing_count == 2


def test_ragged_rows_name_every_line_with_found_and_expected(tmp_path: Path) -> None:
    error = reject(write(tmp_path, b"a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n"), "row_shape")
    assert error.failing_count == 2
    assert "first at line 3: found 2 field(s), expected 3" in error.detail
    assert [(e["line"], e["found_fields"], e["expected_fields"]) for e in error.examples] == [
        (3, 2, 3),
        (5, 4, 3),
    ]


def test_truncated_last_line_is_a_row_shape_error(tmp_path: Path) -> None:
    error = reject(write(tmp_path, b"a,b,c\n1,2,3\n4,5"), "row_shape")
    assert error.examples[0]["line"] == 3


def test_last_line_cut_inside_a_quote_is_a_row_shape_error(tmp_path: Path) -> None:
    error = reject(write(tmp_path, b'a,b\n1,2\n3,"4'), "row_shape")
    assert "quoted field" in error.detail


def test_unterminated_quote_swallowing_the_rest_is_a_row_shape_error(tmp_path: Path) -> None:
    error = reject(write(tmp_path, b'a,b\n1,"2\n3,4\n5,6\n'), "row_shape")
    assert error.examples == [{"line": 2, "column": "b"}]


def test_closed_multi_line_quoted_value_is_a_row_shape_error(tmp_path: Path) -> None:
    # RFC 4180 allows it, SPEC §2 values never span lines, and it would shift every line number.
    error = reject(write(tmp_path, b'a,b\n1,2\n3,"x\ny"\n5,6\n'), "row_shape")
    assert error.examples == [{"line": 3, "column": "b"}]


def test_blank_line_is_a_row_shape_error(tmp_path: Path) -> None:
    error = reject(write(tmp_path, b"a,b\n1,2\n\n3,4\n"), "row_shape")
    assert error.examples[0] == {"line": 3, "found_fields": 1, "expected_fields": 2}


def test_row_of_empty_fields_is_a_row_of_nulls_not_a_shape_error(tmp_path: Path) -> None:
    table = read_csv_strings(write(tmp_path, b"a,b\n1,2\n,\n")).table
    assert table.to_pylist() == [{"a": "1", "b": "2"}, {"a": None, "b": None}]


def test_non_utf8_byte_names_line_column_and_offset(tmp_path: Path) -> None:
    data = b"a,b\n1,2\n3,caf\xe9\n"
    error = reject(write(tmp_path, data), "encoding")
    offset = data.index(b"\xe9")
    assert f"line 3, column 'b', byte offset {offset}" in error.detail
    assert "0xe9" in error.detail


def test_non_utf8_byte_in_header(tmp_path: Path) -> None:
    error = reject(write(tmp_path, b"a,\xff\n1,2\n"), "encoding")
    assert "line 1" in error.detail


def test_row_index_maps_to_line_and_errors_are_found_deep_in_a_multi_block_file(
    tmp_path: Path,
) -> None:
    # ~20 MB: more than one Arrow block, so the threaded read and the serial diagnosis both run.
    n = 1_000_000
    body = b"".join(b"ACCT-%07d,%d.25\n" % (i, i) for i in range(n))
    good = read_csv_strings(write(tmp_path, b"account_id,amount\n" + body, "good.csv")).table
    assert good.num_rows == n
    assert good.column("account_id")[n - 1].as_py() == f"ACCT-{n - 1:07d}"
    bad_line = 900_000  # file line; data row index bad_line - 2
    lines = body.split(b"\n")
    lines[bad_line - 2] = b"ACCT-BROKEN"
    bad = write(tmp_path, b"account_id,amount\n" + b"\n".join(lines), "bad.csv")
    error = reject(bad, "row_shape")
    assert error.examples[0]["line"] == bad_line
    assert error.examples[0]["text"] == "ACCT-BROKEN"


def test_sha256_and_size_are_of_the_bytes_read(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfa,b\r\n1,2\r\n3,4"
    read = read_csv_strings(write(tmp_path, data))
    assert (read.sha256, read.size) == (hashlib.sha256(data).hexdigest(), len(data))
    header_only = b"book,on_deposit"
    read = read_csv_strings(write(tmp_path, header_only, "h.csv"))
    assert (read.sha256, read.size) == (hashlib.sha256(header_only).hexdigest(), len(header_only))


def test_a_rejected_file_reports_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    data = b"a,b\n1,2\n3\n" + b"4,5\n" * 1000
    error = reject(write(tmp_path, data), "row_shape")
    assert (error.sha256, error.size) == (hashlib.sha256(data).hexdigest(), len(data))
    error = reject(write(tmp_path, b"a,a\n1,2\n", "dup.csv"), "header")
    assert error.sha256 == hashlib.sha256(b"a,a\n1,2\n").hexdigest()


def test_a_file_replaced_while_it_is_read_is_hashed_as_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaced by rename mid-read: the rows and the hash are both of the file that was opened."""
    from pipeline.ingest import csv_reader

    old = b"a,b\n" + b"1,2\n" * 100_000
    new = b"a,b\n" + b"9,9\n" * 10
    path = write(tmp_path, old)
    other = write(tmp_path, new, "other.csv")
    real_read = csv_reader._Bytes.read
    swapped: list[bool] = []

    def read_then_swap(self: csv_reader._Bytes, size: int | None = -1) -> bytes:
        data = real_read(self, size)
        if not swapped:
            other.replace(path)
            swapped.append(True)
        return data

    monkeypatch.setattr(csv_reader._Bytes, "read", read_then_swap)
    read = read_csv_strings(path)
    assert swapped and path.read_bytes() == new
    assert read.table.num_rows == 100_000
    assert (read.sha256, read.size) == (hashlib.sha256(old).hexdigest(), len(old))
