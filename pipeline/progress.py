"""Timed stages reported to a progress callback: a date's run and the history (SPEC §8)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("xmargin.stage")

# progress(event, info): event "start" or "done"; info carries "stage", and when done "seconds"
# plus whatever the stage put in its detail (rows, counts, an output folder).
ProgressFn = Callable[[str, dict[str, Any]], None]


@contextmanager
def stage(progress: ProgressFn | None, name: str, **info: Any) -> Iterator[dict[str, Any]]:
    """Report `name` started, let the body fill in its detail, then report it done and timed."""
    started = time.perf_counter()
    if progress:
        progress("start", {"stage": name, **info})
    detail: dict[str, Any] = {}
    yield detail
    elapsed = round(time.perf_counter() - started, 3)
    log.info("stage %s done in %.2fs %s", name, elapsed, detail)
    if progress:
        progress("done", {"stage": name, "seconds": elapsed, **detail})
