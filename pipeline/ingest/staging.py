"""Atomic writes, fsync and streamed hashes (SPEC §7.5, §8): shared by ingest, publish, reports."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from pipeline.errors import DiskFullError, UnusableInputError
from pipeline.inputs import file_kind

_HASH_CHUNK = 1 << 20
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# How Polars and Arrow word the OS error when they wrap it in their own exception types.
_FULL_TEXTS = ("No space left on device", "Disk quota exceeded", "os error 28")
CRASH_ENV = "XMARGIN_CRASH_AT"


def crash_point(name: str) -> None:
    """Test seam: SIGKILL this very process at step `name` when `$XMARGIN_CRASH_AT` names it.

    The crash-safety tests kill a real run between exact steps of publishing; in production the
    variable is unset and this is one dictionary lookup.
    """
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a full disk or quota, however a library wrapped it."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        if isinstance(current, shutil.Error) and current.args and isinstance(current.args[0], list):
            if any(any(t in str(entry) for t in _FULL_TEXTS) for entry in current.args[0]):
                return True
        elif any(t in str(current) for t in _FULL_TEXTS):
            return True
        todo += [current.__cause__, current.__context__]
    return False


def free_bytes(path: Path) -> int:
    """Free bytes on the filesystem that holds (or would hold) `path`."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return 0


@contextmanager
def disk_space(path: Path, needed: int | None = None) -> Iterator[None]:
    """Turn a full disk while writing `path` into one DiskFullError naming it (SPEC §8, exit 4)."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise DiskFullError(path, free_bytes(path), needed) from None


def disk_full_error(exc: BaseException, fallback: Path) -> DiskFullError:
    """The DiskFullError for a full-disk `exc` raised where no `disk_space` named the path:
    the file the OS error names, else `fallback` (e.g. the run's work folder)."""
    path = fallback
    if isinstance(exc, OSError) and exc.filename:
        path = Path(str(exc.filename))
    elif isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list):
        path = Path(str(exc.args[0][0][1])) if exc.args[0] else fallback
    return DiskFullError(path, free_bytes(path))


def require_space(path: Path, needed: int) -> None:
    """Refuse before writing when the filesystem of `path` has less than `needed` bytes free."""
    free = free_bytes(path)
    if free < needed:
        raise DiskFullError(path, free, needed)


def folder_bytes(folder: Path) -> int:
    """Total size of the files under `folder` (0 if absent)."""
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def copy_folder(source: Path, dest: Path) -> None:
    """Copy the tree `source` to `dest`; a full disk is one DiskFullError naming `dest`, not
    shutil.Error's list of (source, destination, reason) for every file that failed."""
    with disk_space(dest, folder_bytes(source)):
        shutil.copytree(source, dest, dirs_exist_ok=True)


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
    tmp = swap_link_temp(link, target)
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(target, link.parent), tmp)
    crash_point("swap:link")
    os.replace(tmp, link)
    # After the rename nothing may fail the swap: it happened (fsync_dir never raises).
    fsync_dir(link.parent)


def swap_link_temp(link: Path, target: Path) -> Path:
    """The temporary symlink `swap_symlink` renames onto `link`: `.<link>.<target>.tmp`."""
    return link.parent / f".{link.name}.{target.name}.tmp"


def write_parquet_atomic(frame: pl.DataFrame, dest: Path) -> None:
    """Write `frame` to `dest` as Parquet: readers see the old or the whole new file (SPEC §8)."""
    tmp = write_parquet_temp(frame, dest)
    try:
        with disk_space(dest):
            commit_temp(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet_temp(frame: pl.DataFrame, dest: Path) -> Path:
    """Write `frame` as Parquet to the temp name of `dest`; `commit_temp` publishes it later."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dest)
    try:
        with disk_space(dest):
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
        with disk_space(path, len(data)):
            tmp.write_bytes(data)
            commit_temp(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 `text` to `path`: readers see the old or the whole new file (SPEC §8)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_durable(path: Path, doc: Mapping[str, Any]) -> None:
    """Write `doc` as indented JSON into a folder not yet published, fsynced before return.

    For manifests written inside a staging folder that one rename publishes later; the rename,
    not this write, is what makes them visible.
    """
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


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
