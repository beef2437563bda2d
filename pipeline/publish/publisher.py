"""Staging folder, manifest, `_SUCCESS`, atomic symlink swap and history (SPEC §7, §8)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

import pipeline
from pipeline.context import RunContext
from pipeline.errors import InternalError
from pipeline.ingest.staging import (
    commit_temp,
    crash_point,
    disk_space,
    fsync_path,
    require_space,
    swap_symlink,
    temp_path,
    write_json_durable,
)
from pipeline.outputs import PUBLISHED_NAMES
from pipeline.publish.tables import write_table

log = logging.getLogger("xmargin.publish")

SUCCESS = "_SUCCESS"
MANIFEST = "manifest.json"


def runs_dir(outputs_root: Path, business_date: dt.date) -> Path:
    """`outputs/_runs/YYYY-MM-DD/`: one folder per published (or staging) run of D."""
    return outputs_root / "_runs" / business_date.isoformat()


def history_dir(outputs_root: Path, business_date: dt.date) -> Path:
    """`outputs/_history/business_date=YYYY-MM-DD/`: manifests of sets once published, filed
    just before each was replaced."""
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


def _manifest_run_id(folder: Path) -> str:
    try:
        return str(json.loads((folder / MANIFEST).read_text())["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return folder.name


def _keep_manifest(folder: Path, history: Path) -> Path | None:
    """File the published set's manifest in history, before it is replaced (SPEC §8).

    Returns the history file if this call created it (None if there was nothing to file or it
    was filed before), so that a publish failing afterwards can take it back.
    """
    source = folder / MANIFEST
    if not source.is_file():
        return None
    dest = history / f"{_manifest_run_id(folder)}.manifest.json"
    existed = dest.is_file()
    tmp = temp_path(dest)
    try:
        with disk_space(dest, source.stat().st_size):
            history.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp)
            commit_temp(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return None if existed else dest


def _remove_leftovers(link: Path, runs: Path, history: Path, current: Path | None) -> None:
    """Clear what killed or failed publishes of D left, before this one starts (SPEC §8).

    Under the date lock nobody else is publishing D, so: every run folder but the published one
    (a staging folder, even with `_SUCCESS`, was never published; a replaced one was filed in
    history before its swap), temporary swap links `.business_date=D.*.tmp`, and temporary
    files in D's history. Nothing here is filed: only the published set ever is.
    """
    for entry in link.parent.glob(f".{link.name}.*.tmp"):
        entry.unlink(missing_ok=True)
    if history.is_dir():
        for entry in history.glob("*.tmp*"):
            entry.unlink(missing_ok=True)
    if runs.is_dir():
        for folder in runs.iterdir():
            if current is not None and folder.resolve() == current:
                continue
            _remove(folder)


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def publish(
    ctx: RunContext,
    tables: dict[str, pl.DataFrame],
    inputs_manifest: list[dict[str, Any]],
    control_totals: dict[str, Any],
    render_report: Callable[[Path], None] | None = None,
    space_needed: int = 0,
) -> Path:
    """Write D's outputs to a staging folder and swap them in atomically (SPEC §7, §8).

    The caller holds the date lock. Everything that can fail (tables, manifest, report, the
    validation copy in `render_report`, filing the replaced manifest in history) happens before
    the one rename that publishes, and the rename is the last step: a publish that raises has
    left the previously published set (or none) as it was. `space_needed` (bytes, a lower bound
    of what the set takes) is checked first, so a disk that cannot hold the set refuses at once.
    """
    _check_tables(tables)
    outputs = ctx.outputs_root
    link = ctx.output_dir
    runs = runs_dir(outputs, ctx.business_date)
    history = history_dir(outputs, ctx.business_date)
    current = _current_target(link)
    _remove_leftovers(link, runs, history, current)
    runs.mkdir(parents=True, exist_ok=True)
    require_space(runs, space_needed)
    staging = _staging_folder(runs, ctx.run_id, current)
    legacy: Path | None = None
    filed: Path | None = None
    try:
        with disk_space(staging, space_needed or None):
            staging.mkdir()
            _write_set(ctx, staging, tables, inputs_manifest, control_totals, render_report)
            fsync_path(runs)
        crash_point("publish:success")
        if current is not None:
            filed = _keep_manifest(current, history)
        elif link.is_dir() and not link.is_symlink():
            # A real folder from an older layout cannot be replaced by rename: file its manifest
            # and move it among the runs (same filesystem); the swap then installs the new set.
            filed = _keep_manifest(link, history)
            legacy = runs / f"legacy-{_manifest_run_id(link)}"
            _remove(legacy)
            os.replace(link, legacy)
        crash_point("publish:filed")
        swap_symlink(link, staging)
    except BaseException:
        if _current_target(link) != staging.resolve():
            # Not published: as it was before, the set still published is not yet history.
            shutil.rmtree(staging, ignore_errors=True)
            if legacy is not None and not os.path.lexists(link):
                os.replace(legacy, link)
            if filed is not None:
                filed.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    history.rmdir()  # only if that left it empty
        raise
    crash_point("publish:swapped")
    _remove_stale(runs, keep=staging)
    return link


def _write_set(
    ctx: RunContext,
    staging: Path,
    tables: dict[str, pl.DataFrame],
    inputs_manifest: list[dict[str, Any]],
    control_totals: dict[str, Any],
    render_report: Callable[[Path], None] | None,
) -> None:
    """The tables, manifest and report of D in `staging`, then `_SUCCESS` (SPEC §7)."""
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
    write_json_durable(staging / MANIFEST, manifest)
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


def _remove_stale(runs: Path, keep: Path) -> None:
    """After the swap, drop every other run folder of D; their manifests are already filed.

    Best effort: the swap has published the set, so nothing here may fail the run; whatever
    stays is removed by the next publish (`_remove_leftovers`).
    """
    for folder in runs.iterdir():
        if folder.resolve() == keep.resolve():
            continue
        try:
            _remove(folder)
        except OSError as exc:
            log.warning("could not remove replaced run folder %s: %s", folder, exc)
