"""`compliance/D1_D2/`: staged in a run folder, then swapped in with one rename (SPEC §10, §8).

`compliance/YYYY-MM-DD_YYYY-MM-DD` is a symlink to `compliance/_runs/YYYY-MM-DD_YYYY-MM-DD/<run>`,
the layout of `outputs/`: a reader sees the previous complete pack or the new one, never a mix,
and a crash at any point leaves the previous pack (or none) in place.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.ingest.staging import fsync_dir, fsync_path, swap_symlink, write_json_durable
from pipeline.publish.tables import write_arrow

MANIFEST = "manifest.json"
SUCCESS = "_SUCCESS"


def pack_name(start: dt.date, end: dt.date) -> str:
    """`YYYY-MM-DD_YYYY-MM-DD` (SPEC §10)."""
    return f"{start.isoformat()}_{end.isoformat()}"


def compliance_root(data_root: Path) -> Path:
    return data_root / "compliance"


def pack_dir(data_root: Path, start: dt.date, end: dt.date) -> Path:
    """`compliance/D1_D2/` under the data root (SPEC §10)."""
    return compliance_root(data_root) / pack_name(start, end)


@contextmanager
def _pack_lock(data_root: Path, name: str) -> Iterator[None]:
    """Writers of one pack take turns (a second waits); readers never need the lock."""
    path = compliance_root(data_root) / "_locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_pack(
    data_root: Path,
    start: dt.date,
    end: dt.date,
    run_id: str,
    tables: Mapping[str, pa.Table],
    manifest: Callable[[list[dict[str, Any]]], dict[str, Any]],
    render: Callable[[Path], object],
) -> Path:
    """Write the tables, `manifest.json` (given the outputs' descriptions) and the page, then
    swap the pack in (SPEC §10). Returns the `compliance/D1_D2` link."""
    name = pack_name(start, end)
    link = pack_dir(data_root, start, end)
    runs = compliance_root(data_root) / "_runs" / name
    with _pack_lock(data_root, name):
        runs.mkdir(parents=True, exist_ok=True)
        staging = runs / run_id
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        try:
            described = [
                write_arrow(arrow, table, staging / f"{table}.parquet")
                for table, arrow in tables.items()
            ]
            write_json_durable(staging / MANIFEST, manifest(described))
            render(staging)
            for path in staging.iterdir():
                fsync_path(path)
            # As in outputs/ (SPEC §8): _SUCCESS is the last file, vouching for all before it.
            success = staging / SUCCESS
            success.write_text(f"{run_id}\n", encoding="utf-8")
            fsync_path(success)
            fsync_dir(staging)
            fsync_dir(runs)
            swap_symlink(link, staging)
        except BaseException:
            if not (link.is_symlink() and link.resolve() == staging.resolve()):
                shutil.rmtree(staging, ignore_errors=True)
            raise
        # Earlier packs of the window and staging left by a crashed writer (under the lock,
        # nobody else is writing one).
        for folder in runs.iterdir():
            if folder.name != staging.name:
                shutil.rmtree(folder, ignore_errors=True)
    return link
