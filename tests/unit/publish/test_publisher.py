"""Atomic publish, history and the date lock (SPEC §7.5, §8)."""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

import pipeline
from pipeline.context import RunContext
from pipeline.errors import ConcurrentRunError, InternalError
from pipeline.outputs import DV01_BY_TENOR, PUBLISHED_NAMES
from pipeline.publish import DateLock, history_dir, publish, runs_dir
from pipeline.publish import publisher as publisher_module

Tables = Callable[..., dict[str, pl.DataFrame]]
Ctx = Callable[[Path, str], RunContext]
INPUTS = [{"name": "accounts_20261120.csv", "sha256": "0" * 64, "bytes": 10, "rows": 3}]
TOTALS = {"sum_call_amount": 80100, "reserve_requirement": {"CUSTOMER": 266200.0}}


def _published(ctx: RunContext) -> list[str]:
    return sorted(p.name for p in ctx.outputs_root.iterdir() if p.name.startswith("business_date"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


class _SuccessWatch:
    """Snapshots the staging folder the moment `_SUCCESS` is first created, and what was fsynced.

    Hooks every way Python creates a file by name (open, os.open, os.replace, os.rename), so the
    check holds whichever of them the publisher uses for the marker.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.snapshot: dict[str, bytes] | None = None
        self.synced: set[str] = set()
        self.synced_before: set[str] | None = None
        real_open, real_os_open = builtins.open, os.open
        real_replace, real_rename, real_fsync = os.replace, os.rename, os.fsync

        def seen(target: object) -> None:
            path = Path(os.fsdecode(target))  # type: ignore[arg-type]
            if path.name == "_SUCCESS" and self.snapshot is None:
                self.snapshot = {
                    str(p.relative_to(path.parent)): p.read_bytes()
                    for p in sorted(path.parent.rglob("*"))
                    if p.is_file() and p.name != "_SUCCESS"
                }
                self.synced_before = set(self.synced)

        def fsync(fd: int) -> None:
            real_fsync(fd)
            self.synced.add(os.readlink(f"/proc/self/fd/{fd}"))

        def open_(file: object, *args: object, **kwargs: object) -> object:
            if isinstance(file, str | os.PathLike):
                seen(file)
            return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

        def os_open(path: object, *args: object, **kwargs: object) -> int:
            flags = args[0] if args else kwargs.get("flags", 0)
            if int(flags) & os.O_CREAT:  # type: ignore[call-overload]
                seen(path)
            return real_os_open(path, *args, **kwargs)  # type: ignore[arg-type]

        def replace(src: object, dst: object, *args: object, **kwargs: object) -> None:
            seen(dst)
            real_replace(src, dst, *args, **kwargs)  # type: ignore[arg-type]

        def rename(src: object, dst: object, *args: object, **kwargs: object) -> None:
            seen(dst)
            real_rename(src, dst, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(builtins, "open", open_)
        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "rename", rename)
        monkeypatch.setattr(os, "fsync", fsync)


def test_publish_writes_a_complete_set_behind_a_relative_symlink(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = dataclasses.replace(build_ctx(tmp_path, "run-1"), started_at=dt.datetime.now(dt.UTC))

    def report(staging: Path) -> None:
        # The report is rendered before the marker: the folder is not yet complete.
        assert not (staging / "_SUCCESS").exists()
        assert (staging / "manifest.json").is_file()
        (staging / "report.html").write_text("<html></html>")

    watch = _SuccessWatch(monkeypatch)
    before = dt.datetime.now(dt.UTC)
    out = publish(ctx, build_tables(), INPUTS, TOTALS, render_report=report)
    after = dt.datetime.now(dt.UTC)
    monkeypatch.undo()
    assert out == ctx.output_dir
    assert out.is_symlink()
    target = os.readlink(out)
    assert not os.path.isabs(target)
    assert (ctx.outputs_root / target).resolve() == runs_dir(
        ctx.outputs_root, ctx.business_date
    ) / "run-1"
    names = {p.name for p in out.iterdir()}
    assert names == {
        "margin_by_account.parquet",
        "margin_calls.parquet",
        "reserve_computation.parquet",
        "xm_segregation.parquet",
        "xm_segregation_summary.parquet",
        "exceptions.parquet",
        "dv01_by_tenor.parquet",
        "manifest.json",
        "report.html",
        "_SUCCESS",
    }
    # _SUCCESS is the last file: when it was created every other file was there with its final
    # bytes, and flushed to disk.
    folder = out.resolve()
    final = {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "_SUCCESS"
    }
    assert watch.snapshot == final
    assert watch.synced_before is not None
    assert {str(folder / name) for name in final} <= watch.synced_before
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_id"] == "run-1"
    assert manifest["business_date"] == "2026-11-20"
    assert manifest["software_version"] == pipeline.__version__
    assert manifest["params"]["version"] == ctx.params.version
    assert manifest["params"]["sha256"] == ctx.params.sha256
    assert manifest["inputs"] == INPUTS
    assert manifest["control_totals"] == TOTALS
    # Both times are the run's own: started when the context was made, finished while publishing.
    assert dt.datetime.fromisoformat(manifest["started_at"]) == ctx.started_at
    finished = dt.datetime.fromisoformat(manifest["finished_at"])
    assert ctx.started_at <= before <= finished <= after
    outputs = {o["name"]: o for o in manifest["outputs"]}
    tables = {n.removesuffix(".parquet") for n in names if n.endswith(".parquet")}
    assert set(outputs) == tables
    for name, entry in outputs.items():
        data = (out / f"{name}.parquet").read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["rows"] == pl.read_parquet(out / f"{name}.parquet").height


def test_rerun_replaces_outputs_keeps_old_manifest_and_drops_old_folder(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx
) -> None:
    first = build_ctx(tmp_path, "run-1")
    publish(first, build_tables(), INPUTS, TOTALS)
    old_manifest = (first.output_dir / "manifest.json").read_bytes()
    second = build_ctx(tmp_path, "run-2")
    publish(second, build_tables(equity_xm1=1.0), INPUTS, TOTALS)
    runs = runs_dir(first.outputs_root, first.business_date)
    assert [p.name for p in runs.iterdir()] == ["run-2"]
    assert _published(first) == ["business_date=2026-11-20"]
    kept = history_dir(first.outputs_root, first.business_date) / "run-1.manifest.json"
    assert kept.read_bytes() == old_manifest
    seg = pl.read_parquet(second.output_dir / "xm_segregation.parquet")
    assert str(seg["equity"][0]) == "1.00"


def test_same_data_gives_same_output_hashes(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx
) -> None:
    publish(build_ctx(tmp_path, "run-1"), build_tables(), INPUTS, TOTALS)
    ctx = build_ctx(tmp_path, "run-2")
    m1 = json.loads((ctx.output_dir / "manifest.json").read_text())
    publish(ctx, build_tables(), INPUTS, TOTALS)
    m2 = json.loads((ctx.output_dir / "manifest.json").read_text())
    assert m1["outputs"] == m2["outputs"]


@pytest.mark.parametrize("where", ["report", "swap", "table"])
def test_crash_leaves_the_previous_set_intact(
    tmp_path: Path,
    build_tables: Tables,
    build_ctx: Ctx,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    first = build_ctx(tmp_path, "run-1")
    publish(first, build_tables(), INPUTS, TOTALS)
    before = _snapshot(first.output_dir)
    target_before = os.readlink(first.output_dir)

    def boom(*_: object) -> None:
        raise RuntimeError("crash")

    report = None
    tables = build_tables(equity_xm1=5.0)
    if where == "report":
        report = boom
    elif where == "swap":
        monkeypatch.setattr(publisher_module, "swap_symlink", boom)
    else:
        tables["exceptions"] = tables["exceptions"].drop("detail")
    with pytest.raises(Exception, match=r"crash|detail"):
        publish(build_ctx(tmp_path, "run-2"), tables, INPUTS, TOTALS, render_report=report)
    assert os.readlink(first.output_dir) == target_before
    assert _snapshot(first.output_dir) == before
    assert _published(first) == ["business_date=2026-11-20"]
    assert not history_dir(first.outputs_root, first.business_date).exists()
    # The failed attempt's staging folder is gone; the published one is untouched.
    assert [p.name for p in runs_dir(first.outputs_root, first.business_date).iterdir()] == [
        "run-1"
    ]


def test_crash_with_nothing_published_leaves_nothing(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx
) -> None:
    ctx = build_ctx(tmp_path, "run-1")

    def boom(_: Path) -> None:
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        publish(ctx, build_tables(), INPUTS, TOTALS, render_report=boom)
    assert _published(ctx) == []
    assert not ctx.output_dir.exists()


def test_leftover_staging_of_a_killed_run_is_cleaned_by_the_next_publish(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx
) -> None:
    ctx = build_ctx(tmp_path, "run-2")
    crashed = runs_dir(ctx.outputs_root, ctx.business_date) / "run-1"
    crashed.mkdir(parents=True)
    (crashed / "margin_by_account.parquet").write_bytes(b"partial")
    publish(ctx, build_tables(), INPUTS, TOTALS)
    assert [p.name for p in crashed.parent.iterdir()] == ["run-2"]
    assert not history_dir(ctx.outputs_root, ctx.business_date).exists()


def test_republishing_the_same_run_id_never_touches_the_published_folder(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx
) -> None:
    ctx = build_ctx(tmp_path, "run-1")
    publish(ctx, build_tables(), INPUTS, TOTALS)
    # A retried publish task carries the same run id.
    publish(ctx, build_tables(equity_xm1=2.0), INPUTS, TOTALS)
    assert (ctx.output_dir / "_SUCCESS").is_file()
    seg = pl.read_parquet(ctx.output_dir / "xm_segregation.parquet")
    assert str(seg["equity"][0]) == "2.00"
    assert len(list(runs_dir(ctx.outputs_root, ctx.business_date).iterdir())) == 1


def test_crash_after_the_swap_files_the_replaced_manifest_on_the_next_publish(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(build_ctx(tmp_path, "run-1"), build_tables(), INPUTS, TOTALS)

    def killed(*_: object, **__: object) -> None:
        raise RuntimeError("killed after the swap")

    monkeypatch.setattr(publisher_module, "_remove_stale", killed)
    second = build_ctx(tmp_path, "run-2")
    with pytest.raises(RuntimeError):
        publish(second, build_tables(), INPUTS, TOTALS)
    assert json.loads((second.output_dir / "manifest.json").read_text())["run_id"] == "run-2"
    monkeypatch.undo()
    publish(build_ctx(tmp_path, "run-3"), build_tables(), INPUTS, TOTALS)
    history = history_dir(second.outputs_root, second.business_date)
    assert sorted(p.name for p in history.iterdir()) == [
        "run-1.manifest.json",
        "run-2.manifest.json",
    ]
    assert [p.name for p in runs_dir(second.outputs_root, second.business_date).iterdir()] == [
        "run-3"
    ]


def test_legacy_real_folder_is_moved_aside_with_its_manifest_kept(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx
) -> None:
    ctx = build_ctx(tmp_path, "run-2")
    ctx.output_dir.mkdir(parents=True)
    (ctx.output_dir / "manifest.json").write_text(json.dumps({"run_id": "old-run"}))
    (ctx.output_dir / "_SUCCESS").write_text("")
    publish(ctx, build_tables(), INPUTS, TOTALS)
    assert ctx.output_dir.is_symlink()
    kept = history_dir(ctx.outputs_root, ctx.business_date) / "old-run.manifest.json"
    assert json.loads(kept.read_text()) == {"run_id": "old-run"}
    assert [p.name for p in runs_dir(ctx.outputs_root, ctx.business_date).iterdir()] == ["run-2"]


@pytest.mark.parametrize("missing", PUBLISHED_NAMES)
def test_missing_table_is_refused_before_anything_is_written(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx, missing: str
) -> None:
    ctx = build_ctx(tmp_path, "run-1")
    tables = build_tables()
    del tables[missing]
    with pytest.raises(InternalError, match=rf"missing \['{missing}'\]"):
        publish(ctx, tables, INPUTS, TOTALS)
    assert not ctx.output_dir.exists()


def test_unknown_table_is_refused(tmp_path: Path, build_tables: Tables, build_ctx: Ctx) -> None:
    ctx = build_ctx(tmp_path, "run-1")
    tables = {**build_tables(), "exceptions_margin": build_tables()["exceptions"]}
    with pytest.raises(InternalError, match=r"unknown \['exceptions_margin'\]"):
        publish(ctx, tables, INPUTS, TOTALS)
    assert not ctx.output_dir.exists()


def test_dv01_table_is_published_in_tenor_order(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx
) -> None:
    ctx = build_ctx(tmp_path, "run-1")
    tables = build_tables()
    dv01 = tables["dv01_by_tenor"]
    publish(ctx, tables, INPUTS, TOTALS)
    back = pl.read_parquet(ctx.output_dir / "dv01_by_tenor.parquet")
    assert back.equals(dv01.reverse())
    assert back.columns == list(DV01_BY_TENOR.schema.names)
    manifest = json.loads((ctx.output_dir / "manifest.json").read_text())
    assert [o["name"] for o in manifest["outputs"]] == list(PUBLISHED_NAMES)


# ---- the date lock -----------------------------------------------------------------------------

HOLDER = """
import datetime as dt, sys, time
from pathlib import Path
from pipeline.publish import DateLock
lock = DateLock(Path(sys.argv[1]), dt.date(2026, 11, 20), "holder-run")
lock.__enter__()
print("held", flush=True)
time.sleep(120)
"""


def test_second_holder_is_refused_until_the_first_is_killed(tmp_path: Path) -> None:
    import datetime as dt

    day = dt.date(2026, 11, 20)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ConcurrentRunError) as refused:
            DateLock(tmp_path, day, "second").__enter__()
        message = str(refused.value)
        assert f"pid {holder.pid}" in message
        assert "holder-run" in message
        assert "2026-11-20" in message
        # Another date is not blocked.
        with DateLock(tmp_path, dt.date(2026, 11, 23), "other-date"):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel released the lock with the killed process.
    deadline = time.monotonic() + 5
    while True:
        try:
            with DateLock(tmp_path, day, "after-kill") as lock:
                assert lock.held
            break
        except ConcurrentRunError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_lock_is_released_on_exit_and_refused_within_one_process(tmp_path: Path) -> None:
    import datetime as dt

    day = dt.date(2026, 11, 20)
    with DateLock(tmp_path, day, "first"), pytest.raises(ConcurrentRunError):
        DateLock(tmp_path, day, "second").__enter__()
    with DateLock(tmp_path, day, "third") as again:
        assert again.held
    assert not again.held


def _leave_staged_set(ctx: RunContext, run_id: str) -> Path:
    """What a run killed after writing `_SUCCESS` but before the swap leaves: a complete set."""
    runs = runs_dir(ctx.outputs_root, ctx.business_date)
    staged = runs / run_id
    shutil.copytree(ctx.output_dir.resolve(), staged)
    manifest = json.loads((staged / "manifest.json").read_text())
    (staged / "manifest.json").write_text(json.dumps({**manifest, "run_id": run_id}))
    return staged


def test_a_set_never_swapped_in_is_not_filed_as_history(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx
) -> None:
    """_history holds only manifests of sets that were once the published one (issue 11)."""
    publish(build_ctx(tmp_path, "run-1"), build_tables(), INPUTS, TOTALS)
    ctx = build_ctx(tmp_path, "run-3")
    _leave_staged_set(ctx, "run-2")
    publish(ctx, build_tables(), INPUTS, TOTALS)
    history = history_dir(ctx.outputs_root, ctx.business_date)
    assert sorted(p.name for p in history.iterdir()) == ["run-1.manifest.json"]
    assert [p.name for p in runs_dir(ctx.outputs_root, ctx.business_date).iterdir()] == ["run-3"]


def test_leftovers_of_a_killed_publish_are_removed_by_the_next(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx
) -> None:
    """A kill at the swap leaves `.business_date=D.<run>.tmp`; one in history leaves `*.tmp`."""
    publish(build_ctx(tmp_path, "run-1"), build_tables(), INPUTS, TOTALS)
    ctx = build_ctx(tmp_path, "run-3")
    staged = _leave_staged_set(ctx, "run-2")
    dangling = ctx.outputs_root / f".{ctx.output_dir.name}.run-2.tmp"
    os.symlink(os.path.relpath(staged, ctx.outputs_root), dangling)
    history = history_dir(ctx.outputs_root, ctx.business_date)
    history.mkdir(parents=True)
    (history / "run-0.manifest.json.tmp").write_text("{")
    (history / "run-0.manifest.json.tmp-4242").write_text("{")
    publish(ctx, build_tables(), INPUTS, TOTALS)
    assert not os.path.lexists(dangling)
    assert sorted(p.name for p in ctx.outputs_root.iterdir()) == [
        "_history",
        "_runs",
        ctx.output_dir.name,
    ]
    assert sorted(p.name for p in history.iterdir()) == ["run-1.manifest.json"]


def test_history_is_filed_before_the_swap_so_a_failed_filing_publishes_nothing(
    tmp_path: Path, build_tables: Tables, build_ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything that can fail happens before the one rename (issue 11 defect 3)."""
    first = build_ctx(tmp_path, "run-1")
    publish(first, build_tables(), INPUTS, TOTALS)
    before = _snapshot(first.output_dir)
    swapped: list[Path] = []
    real_swap = publisher_module.swap_symlink

    def watch(link: Path, target: Path) -> None:
        swapped.append(target)
        real_swap(link, target)

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(publisher_module, "swap_symlink", watch)
    monkeypatch.setattr(publisher_module, "_keep_manifest", full)
    with pytest.raises(OSError, match="No space left"):
        publish(build_ctx(tmp_path, "run-2"), build_tables(equity_xm1=5.0), INPUTS, TOTALS)
    assert swapped == []
    assert _snapshot(first.output_dir) == before
    assert [p.name for p in runs_dir(first.outputs_root, first.business_date).iterdir()] == [
        "run-1"
    ]
