"""Atomic Parquet staging and streamed hashing (SPEC §7.5, §8)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import polars as pl
import pytest

from pipeline.ingest import staging
from pipeline.ingest.staging import sha256_file, write_parquet_atomic


def test_write_parquet_atomic_round_trips_and_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "staged" / "accounts.parquet"
    frame = pl.DataFrame({"account_id": ["A1", "NA"], "ficc_multiplier": [1.0, 2.5]})
    write_parquet_atomic(frame, dest)
    assert pl.read_parquet(dest).equals(frame)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["accounts.parquet"]


def test_write_parquet_atomic_replaces_an_existing_file(tmp_path: Path) -> None:
    dest = tmp_path / "x.parquet"
    write_parquet_atomic(pl.DataFrame({"a": [1]}), dest)
    write_parquet_atomic(pl.DataFrame({"a": [2, 3]}), dest)
    assert pl.read_parquet(dest)["a"].to_list() == [2, 3]


def test_failed_write_keeps_the_old_file_and_removes_the_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "x.parquet"
    write_parquet_atomic(pl.DataFrame({"a": [1]}), dest)

    def crash(tmp: Path, target: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(staging, "commit_temp", crash)
    with pytest.raises(OSError, match="disk full"):
        write_parquet_atomic(pl.DataFrame({"a": [9]}), dest)
    assert pl.read_parquet(dest)["a"].to_list() == [1]
    assert not staging.temp_path(dest).exists()
    assert f"tmp-{os.getpid()}" in staging.temp_path(dest).name


def test_sha256_file_matches_hashlib_across_chunk_borders(tmp_path: Path) -> None:
    data = os.urandom((1 << 20) * 2 + 123)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_sha256_of_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert sha256_file(path) == hashlib.sha256(b"").hexdigest()


@pytest.mark.timeout(30)
def test_the_readers_refuse_a_fifo_by_fstat_without_blocking(tmp_path: Path) -> None:
    """Should an entry turn into a FIFO after the presence check, no reader hangs on it."""
    from pipeline.errors import UnusableInputError
    from pipeline.ingest.csv_reader import read_csv_strings
    from pipeline.ingest.fixml import read_cme_positions

    fifo = tmp_path / "accounts_20261120.csv"
    os.mkfifo(fifo)
    with pytest.raises(UnusableInputError, match="named pipe"):
        staging.open_input(fifo)
    with pytest.raises(UnusableInputError, match=r"accounts_20261120\.csv is a named pipe"):
        read_csv_strings(fifo)
    with pytest.raises(UnusableInputError, match="named pipe"):
        read_cme_positions(fifo, tmp_path / "raw.parquet")
    with pytest.raises(UnusableInputError, match="a directory"):
        staging.open_input(tmp_path)
    regular = tmp_path / "ok.csv"
    regular.write_bytes(b"a\n1\n")
    with staging.open_input(regular) as fh:
        assert fh.read() == b"a\n1\n"
