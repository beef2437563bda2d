"""One run per business date at a time (SPEC §8): an advisory flock per date."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
from pathlib import Path
from types import TracebackType

from pipeline.errors import ConcurrentRunError


def lock_path(data_root: Path, business_date: dt.date) -> Path:
    """`outputs/_locks/YYYYMMDD.lock`."""
    return data_root / "outputs" / "_locks" / f"{business_date:%Y%m%d}.lock"


class DateLock:
    """Exclusive lock on one business date; a second holder is refused with ConcurrentRunError.

    flock belongs to the open file: the kernel drops it when the holder exits or is killed, so a
    crashed run never leaves the date locked. The file stays in place (deleting it would let two
    processes lock two different inodes); it only records who holds it, for the refusal message.
    """

    def __init__(self, data_root: Path, business_date: dt.date, run_id: str) -> None:
        self.path = lock_path(data_root, business_date)
        self.business_date = business_date
        self.run_id = run_id
        self._fd: int | None = None

    def __enter__(self) -> DateLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise ConcurrentRunError(
                f"business date {self.business_date.isoformat()} is already being run"
                f" ({_describe(holder)}; lock {self.path}): a second concurrent run is refused,"
                " retry once it has finished"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "run_id": self.run_id,
            "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None


def _describe(holder: str) -> str:
    """The holder as recorded in the lock file, for a person reading the refusal."""
    try:
        info = json.loads(holder)
        return (
            f"held by pid {info.get('pid')} on {info.get('host')}, run {info.get('run_id')},"
            f" since {info.get('since')}"
        )
    except (ValueError, AttributeError):
        return "holder unknown"
