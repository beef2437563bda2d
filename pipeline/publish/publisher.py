"""Staging folder, manifest, `_SUCCESS`, atomic symlink swap and history (SPEC §7, §8)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

import pipeline
from pipeline.context import RunContext
from pipeline.errors import InternalError
from pipeline.ingest.staging import fsync_path, swap_symlink
from pipeline.outputs import PUBLISHED_NAMES
from pipeline.publish.tables import write_table

SUCCESS = "_SUCCESS"
MANIFEST = "manifest.json"


def runs_dir(outputs_root: Path, business_date: dt.date) -> Path:
    """`outputs/_runs/YYYY-MM-DD/`: one folder per published (or staging) run of D."""
    return outputs_root / "_runs" / business_date.isoformat()


def history_dir(outputs_root: Path, business_date: dt.date) -> Path:
    """`outputs/_history/business_date=YYYY-MM-DD/`: manifests of replaced runs."""
    return outputs_root / "_history" / f"business_date={business_date.isoformat()}"


def _check_tables(tables: Mapping[str, pl.DataFrame]) -> None:
    missing = [t for t in PUBLISHED_NAMES if t not in tables]
    unknown = [t for t in tables if t not in PUBLISHED_NAMES]
    if missing or unknown:
        raise InternalError(
            f"publish: tables missing {missing}, unknown {unknown}; expected"
            f" {list(PUBLISHED_NAMES)} (pipeline.outputs)"
        )


def _current_target(link: Path) -> Path | None:
    """The run folder `business_date=D` points to, or None if it is absent or not a symlink."""
    if not link.is_symlink():
        return None
    return (link.parent / os.readlink(link)).resolve()


def _staging_folder(runs: Path, run_id: str, current: Path | None) -> Path:
    """A fresh folder for this run; never the one now published (a retried task reuses run ids)."""
    candidate = runs / run_id
    attempt = 1
    while current is not None and candidate.resolve() == current:
        attempt += 1
        candidate = runs / f"{run_id}.{attempt}"
    if candidate.exists():
        # Left by a crashed attempt; under the date lock nobody else is writing it.
        shutil.rmtree(candidate)
    return candidate


def _write_json(path: Path, doc: Mapping[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def _manifest_run_id(folder: Path) -> str:
    try:
        return str(json.loads((folder / MANIFEST).read_text())["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return folder.name


def _keep_manifest(folder: Path, history: Path) -> None:
    """Copy a published run's manifest to history before it is replaced (SPEC §8)."""
    source = folder / MANIFEST
    if not source.is_file():
        return
    history.mkdir(parents=True, exist_ok=True)
    dest = history / f"{_manifest_run_id(folder)}.manifest.json"
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.copyfile(source, tmp)
    fsync_path(tmp)
    os.replace(tmp, dest)
    fsync_path(history)


def publish(
    ctx: RunContext,
    tables: dict[str, pl.DataFrame],
    inputs_manifest: list[dict[str, Any]],
    control_totals: dict[str, Any],
    render_report: Callable[[Path], None] | None = None,
) -> Path:
    """Write D's outputs to a staging folder and swap them in atomically (SPEC §7, §8).

    The caller holds the date lock. A failure at any point leaves the previously published set
    (or none) untouched: `business_date=D` only ever points at a folder that ends with `_SUCCESS`.
    """
    _check_tables(tables)
    outputs = ctx.outputs_root
    link = ctx.output_dir
    runs = runs_dir(outputs, ctx.business_date)
    history = history_dir(outputs, ctx.business_date)
    runs.mkdir(parents=True, exist_ok=True)
    staging = _staging_folder(runs, ctx.run_id, _current_target(link))
    staging.mkdir()
    try:
        described = [write_table(tables[name], name, staging) for name in PUBLISHED_NAMES]
        manifest = {
            "run_id": ctx.run_id,
            "business_date": ctx.business_date.isoformat(),
            "started_at": ctx.started_at.astimezone(dt.UTC).isoformat(),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(),
            "software_version": pipeline.__version__,
            "params": {
                "version": ctx.params.version,
                "sha256": ctx.params.sha256,
                "effective_from": ctx.params.effective_from.isoformat(),
                "source": str(ctx.params.source),
            },
            "inputs": inputs_manifest,
            "outputs": described,
            "control_totals": control_totals,
        }
        _write_json(staging / MANIFEST, manifest)
        if render_report is not None:
            render_report(staging)
        # _SUCCESS is the last file: everything before it is flushed, so its presence vouches
        # for the whole folder.
        for path in staging.rglob("*"):
            fsync_path(path)
        success = staging / SUCCESS
        with open(success, "w", encoding="utf-8") as fh:
            fh.write(f"{ctx.run_id}\n")
            fh.flush()
            os.fsync(fh.fileno())
        fsync_path(staging)
        fsync_path(runs)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    if link.is_dir() and not link.is_symlink():
        # A real folder from an older layout cannot be replaced by rename: keep its manifest,
        # move it among the runs (same filesystem), then the swap below installs the new set.
        _keep_manifest(link, history)
        legacy = runs / f"legacy-{_manifest_run_id(link)}"
        if legacy.exists():
            shutil.rmtree(legacy)
        os.replace(link, legacy)
    try:
        swap_symlink(link, staging)
    except BaseException:
        if _current_target(link) != staging.resolve():
            shutil.rmtree(staging, ignore_errors=True)
        raise
    _remove_stale(runs, keep=staging, history=history)
    return link


def _remove_stale(runs: Path, keep: Path, history: Path) -> None:
    """After the swap, drop every other run folder of D, filing the manifests of replaced sets.

    Only a folder with `_SUCCESS` was ever published; a crashed staging folder has no history.
    Doing this after the swap (not before) means a crash in between loses nothing: the next
    publish finds the replaced folder still here and files it then.
    """
    for folder in runs.iterdir():
        if folder.resolve() == keep.resolve():
            continue
        if folder.is_dir() and not folder.is_symlink():
            if (folder / SUCCESS).is_file():
                _keep_manifest(folder, history)
            shutil.rmtree(folder, ignore_errors=True)
        else:
            folder.unlink(missing_ok=True)
