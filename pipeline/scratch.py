"""Work folders of runs: which are in use, which have ended, and which to remove (SPEC §8).

A run's work folder (`work/YYYYMMDD/<run_id>/`) is scratch. A successful run removes its own;
a failed, rejected or killed run leaves it, and the next run of the date removes all but the
`KEEP_FAILED` newest such folders (`tidy`, called under the date lock).

Which folders are live cannot be told from the date lock alone: an Airflow DAG run's tasks use
the folder one after another, in different processes, and hold the date lock only to publish.
So every process that uses a folder holds a shared flock on its `.in-use` file (`hold`; the
kernel drops it when the process exits or is killed) and a run that has ended says so in an
`ENDED` file. A folder is removed only when nobody holds it and its run is over: ended, or a
CLI run (which holds its folder for its whole life, so unheld means killed). An Airflow run's
folder with no `ENDED` is between two tasks and is never touched; its `cleanup` task removes it
after publishing, and a failed DAG run is marked ended by its failure callback.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("xmargin.scratch")

# Failed runs' scratch kept per date for diagnosis: a failing night is typically retried two or
# three times (Airflow retries twice), and comparing those attempts is what the scratch is for;
# older attempts of the same date add nothing that quarantine/ and the logs do not keep.
KEEP_FAILED = 3
IN_USE = ".in-use"
ENDED = "ENDED"
CONTEXT = "context.json"
DRIVER_CLI = "cli"
DRIVER_AIRFLOW = "airflow"

_held: dict[Path, int] = {}


def hold(work_dir: Path) -> None:
    """Mark `work_dir` in use by this process until `release` or exit (a shared flock)."""
    key = work_dir.resolve()
    if key in _held:
        return
    fd = os.open(work_dir / IN_USE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except BaseException:
        os.close(fd)
        raise
    _held[key] = fd


def release(work_dir: Path) -> None:
    """This process no longer uses `work_dir` (idempotent)."""
    fd = _held.pop(work_dir.resolve(), None)
    if fd is not None:
        os.close(fd)


def mark_ended(work_dir: Path, outcome: str) -> None:
    """Record that the run of `work_dir` is over (`failed`, `validated`, `kept`)."""
    if not work_dir.is_dir():
        return
    doc = {"outcome": outcome, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    try:
        (work_dir / ENDED).write_text(json.dumps(doc) + "\n")
    except OSError as exc:  # a full disk must not hide the run's own error
        log.warning("could not mark %s ended: %s", work_dir, exc)


def revive(work_dir: Path) -> None:
    """The run of `work_dir` is running again (an Airflow task cleared and re-run)."""
    (work_dir / ENDED).unlink(missing_ok=True)


def _describe(folder: Path) -> dict[str, str]:
    try:
        doc = json.loads((folder / CONTEXT).read_text())
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}


def _claim_idle(folder: Path) -> tuple[bool, int | None]:
    """Whether nobody holds the folder, with the exclusive flock taken on its `.in-use` (if any)
    so that no process starts using it while it is being removed."""
    try:
        fd = os.open(folder / IN_USE, os.O_RDWR)
    except FileNotFoundError:
        return True, None  # killed before it was ever held
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False, None
    return True, fd


def tidy(
    data_root: Path, business_date: dt.date, own: str | None, keep: int = KEEP_FAILED
) -> list[Path]:
    """Remove the work folders of D's ended runs but the `keep` newest; never a live one.

    Call under D's date lock. `own` is the caller's run id (never touched). Returns the folders
    removed.
    """
    day = data_root / "work" / f"{business_date:%Y%m%d}"
    if not day.is_dir():
        return []
    over: list[tuple[str, Path, int | None]] = []
    for folder in sorted(day.iterdir()):
        if folder.name == own or not folder.is_dir() or folder.is_symlink():
            continue
        idle, fd = _claim_idle(folder)
        if not idle:
            continue  # in use by a live process
        doc = _describe(folder)
        if (folder / ENDED).is_file() or doc.get("driver", DRIVER_CLI) != DRIVER_AIRFLOW:
            started = doc.get("started_at") or dt.datetime.fromtimestamp(
                folder.stat().st_mtime, dt.UTC
            ).isoformat()
            over.append((started, folder, fd))
        elif fd is not None:
            os.close(fd)  # an Airflow run between two tasks
    over.sort(key=lambda item: item[0], reverse=True)
    removed = []
    for index, (_, folder, fd) in enumerate(over):
        try:
            if index >= keep:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        finally:
            if fd is not None:
                os.close(fd)
    if removed:
        log.info("removed %d ended work folder(s) of %s", len(removed), business_date)
    return removed
