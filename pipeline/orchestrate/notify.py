"""Alerts to operations when a nightly task fails (SPEC §8), through a pluggable notifier.

The notifier is chosen by `$XMARGIN_NOTIFIER` as `package.module:callable` (a callable taking an
`Alert`); by default alerts are logged at ERROR, which every deployment collects.
`file_notifier` appends JSON lines to `$XMARGIN_ALERT_FILE` for a monitor to pick up.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

NOTIFIER_ENV = "XMARGIN_NOTIFIER"
ALERT_FILE_ENV = "XMARGIN_ALERT_FILE"

log = logging.getLogger("xmargin.alerts")


@dataclass(frozen=True)
class Alert:
    """One failed task of one DAG run, as operations needs to see it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    business_date: str | None
    error: str

    def text(self) -> str:
        where = f"{self.dag_id}.{self.task_id}"
        if self.map_index >= 0:
            where += f"[{self.map_index}]"
        return (
            f"xmargin FAILED: {where} run {self.run_id} business date "
            f"{self.business_date or '?'} try {self.try_number}: {self.error}"
        )


Notifier = Callable[[Alert], None]


def log_notifier(alert: Alert) -> None:
    """The default: one ERROR log line carrying the whole alert."""
    log.error("%s", alert.text(), extra={"alert": asdict(alert)})


def file_notifier(alert: Alert) -> None:
    """Append the alert as one JSON line to `$XMARGIN_ALERT_FILE` (and log it)."""
    log_notifier(alert)
    path = os.environ.get(ALERT_FILE_ENV)
    if not path:
        raise RuntimeError(f"file_notifier: ${ALERT_FILE_ENV} is not set; expected a file path")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(alert), sort_keys=True) + "\n")


def load_notifier(spec: str | None = None) -> Notifier:
    """The notifier named by `spec` or `$XMARGIN_NOTIFIER` (`module:callable`), else the log."""
    spec = spec if spec is not None else os.environ.get(NOTIFIER_ENV, "")
    if not spec:
        return log_notifier
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"${NOTIFIER_ENV}: found {spec!r}, expected 'package.module:callable'")
    target = getattr(importlib.import_module(module_name), attr)
    if not callable(target):
        raise ValueError(f"${NOTIFIER_ENV}: {spec!r} is not callable")
    notifier: Notifier = target
    return notifier


def _business_date(context: Mapping[str, Any]) -> str | None:
    params = context.get("params") or {}
    if params.get("business_date"):
        return str(params["business_date"])
    start = context.get("data_interval_start")
    if start is not None:
        from pipeline.orchestrate.timetable import day_named

        return day_named(start).isoformat()
    return None


def _int(value: Any, default: int) -> int:
    return default if value is None else int(value)


def alert_from_context(context: Mapping[str, Any]) -> Alert:
    """An Alert built from an Airflow task context (on_failure_callback)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    error = context.get("exception")
    return Alert(
        dag_id=str(getattr(ti, "dag_id", "?")),
        run_id=str(getattr(dag_run, "run_id", None) or getattr(ti, "run_id", "?")),
        task_id=str(getattr(ti, "task_id", "?")),
        map_index=_int(getattr(ti, "map_index", None), -1),
        try_number=_int(getattr(ti, "try_number", None), 0),
        business_date=_business_date(context),
        error=f"{type(error).__name__}: {error}" if error is not None else "unknown error",
    )


def on_failure(context: Mapping[str, Any]) -> None:
    """Task on_failure_callback: raise the alert; a broken notifier must not hide the failure.

    The DAG run's work folder is then marked ended, so the next run of D may tidy it away
    (pipeline.scratch keeps the newest few for diagnosis).
    """
    alert = alert_from_context(context)
    try:
        load_notifier()(alert)
    except Exception:
        log.exception("notifier failed; the alert was: %s", alert.text())
    try:
        _mark_failed(context, alert)
    except Exception:
        log.exception("could not mark the work folder of %s ended", alert.run_id)


def _mark_failed(context: Mapping[str, Any], alert: Alert) -> None:
    import datetime as dt

    from pipeline.orchestrate.tasks import data_root_of, mark_failed

    if alert.business_date is None or alert.run_id == "?":
        return
    params = context.get("params") or {}
    mark_failed(
        data_root_of(params.get("data_root")),
        dt.date.fromisoformat(alert.business_date),
        alert.run_id,
    )
