"""Atomic writes, fsync and streamed hashes (SPEC §7.5, §8): shared by ingest, publish, reports."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

import polars as pl

from pipeline.errors import UnusableInputError
from pipeline.inputs import file_kind

_HASH_CHUNK = 1 << 20


def temp_path(dest: Path) -> Path:
    """Return the private temporary name beside `dest` used before the atomic rename (SPEC §8)."""
    # The pid keeps two processes (e.g. Airflow retries overlapping) off each other's temp file.
    return dest.with_name(f"{dest.name}.tmp-{os.getpid()}")


def fsync_path(path: Path) -> None:
    """Flush a file (or a directory entry) to disk, so a crash cannot lose what follows it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so a completed rename survives a crash (POSIX; no-op elsewhere)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        # Some filesystems refuse fsync on directories; the rename itself is still atomic.
        pass
    finally:
        os.close(fd)


def commit_temp(tmp: Path, dest: Path) -> None:
    """Move a fully written temp file onto `dest` atomically and durably (SPEC §8)."""
    fsync_path(tmp)
    os.replace(tmp, dest)
    fsync_dir(dest.parent)


def swap_symlink(link: Path, target: Path) -> None:
    """Point `link` at `target` in one rename of a fresh symlink: readers see old or new (SPEC §8).

    The link is relative, so the tree it lives in can be moved or mounted elsewhere.
    """
    tmp = link.parent / f".{link.name}.{target.name}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(target, link.parent), tmp)
    os.replace(tmp, link)
    fsync_path(link.parent)


def write_parquet_atomic(frame: pl.DataFrame, dest: Path) -> None:
    """Write `frame` to `dest` as Parquet: readers see the old or the whole new file (SPEC §8)."""
    tmp = write_parquet_temp(frame, dest)
    try:
        commit_temp(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet_temp(frame: pl.DataFrame, dest: Path) -> Path:
    """Write `frame` as Parquet to the temp name of `dest`; `commit_temp` publishes it later."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dest)
    try:
        frame.write_parquet(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path`: readers see the old or the whole new file (SPEC §8)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        tmp.write_bytes(data)
        commit_temp(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 `text` to `path`: readers see the old or the whole new file (SPEC §8)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def open_input(path: Path) -> BinaryIO:
    """Open an input for reading, refusing by fstat anything but a regular file (SPEC §2, §8).

    The presence check already refused such entries; this holds the readers to it should an
    entry change in between. O_NONBLOCK keeps the open of a FIFO from waiting for a writer.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnusableInputError(path.parent, {path.name: f"is {file_kind(mode)}"})
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of a file read in 1 MiB chunks, for the manifest (SPEC §7.5)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
