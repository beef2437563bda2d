"""Work folders of ended runs are removed, all but the newest few; a live one never (issue 11).

Folders are built as runs leave them (`context.json` with its driver and start time); which
process holds one is real: a subprocess takes the shared flock and keeps it while it lives.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from pipeline import scratch

D = dt.date(2026, 11, 20)


def _folder(root: Path, run_id: str, driver: str, hour: int) -> Path:
    work = root / "work" / "20261120" / run_id
    work.mkdir(parents=True)
    started = dt.datetime(2026, 11, 21, hour, tzinfo=dt.UTC).isoformat()
    doc = {
        "business_date": D.isoformat(),
        "run_id": run_id,
        "driver": driver,
        "started_at": started,
    }
    (work / "context.json").write_text(json.dumps(doc))
    return work


def _left(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "work" / "20261120").iterdir())


def test_killed_cli_runs_beyond_the_newest_three_are_removed(tmp_path: Path) -> None:
    for hour in range(6):
        _folder(tmp_path, f"cli-{hour}", scratch.DRIVER_CLI, hour)
    removed = scratch.tidy(tmp_path, D, own=None)
    assert sorted(p.name for p in removed) == ["cli-0", "cli-1", "cli-2"]
    assert _left(tmp_path) == ["cli-3", "cli-4", "cli-5"]
    assert scratch.KEEP_FAILED == 3


def test_the_caller_s_own_folder_is_never_counted(tmp_path: Path) -> None:
    for hour in range(4):
        _folder(tmp_path, f"cli-{hour}", scratch.DRIVER_CLI, hour)
    scratch.tidy(tmp_path, D, own="cli-0", keep=1)
    assert _left(tmp_path) == ["cli-0", "cli-3"]


def test_a_folder_held_by_a_live_process_is_never_removed(tmp_path: Path) -> None:
    held = _folder(tmp_path, "cli-0", scratch.DRIVER_CLI, 0)
    for hour in range(1, 5):
        _folder(tmp_path, f"cli-{hour}", scratch.DRIVER_CLI, hour)
    code = (
        "import sys, time; from pathlib import Path; from pipeline import scratch;"
        f"scratch.hold(Path({str(held)!r})); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        scratch.tidy(tmp_path, D, own=None, keep=1)
        assert _left(tmp_path) == ["cli-0", "cli-4"]
    finally:
        holder.kill()
        holder.wait()
    # Killed, its flock is gone with it: now it is the scratch of a dead run like the others.
    scratch.tidy(tmp_path, D, own=None, keep=1)
    assert _left(tmp_path) == ["cli-4"]


def test_an_airflow_run_between_tasks_is_kept_until_it_has_ended(tmp_path: Path) -> None:
    dag_run = _folder(tmp_path, "scheduled__2026-11-20", scratch.DRIVER_AIRFLOW, 0)
    for hour in range(1, 4):
        _folder(tmp_path, f"cli-{hour}", scratch.DRIVER_CLI, hour)
    scratch.tidy(tmp_path, D, own=None, keep=1)
    assert _left(tmp_path) == ["cli-3", "scheduled__2026-11-20"]
    scratch.mark_ended(dag_run, "failed")
    scratch.tidy(tmp_path, D, own=None, keep=1)
    assert _left(tmp_path) == ["cli-3"]


def test_a_run_loaded_again_is_live_again(tmp_path: Path) -> None:
    """An Airflow task cleared and re-run revives its DAG run: ENDED goes, the folder is held."""
    work = _folder(tmp_path, "manual__x", scratch.DRIVER_AIRFLOW, 0)
    scratch.mark_ended(work, "failed")
    scratch.hold(work)
    scratch.revive(work)
    try:
        assert not (work / scratch.ENDED).exists()
        assert scratch.tidy(tmp_path, D, own=None, keep=0) == []
    finally:
        scratch.release(work)
