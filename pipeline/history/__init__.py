"""History and compliance reports across published dates (SPEC §10): `xmargin history` and the
`xmargin_compliance` DAG both call `run_history`.

    plan (window.py)   which published folders hold what the window needs; exit 2 / 3 / 4
    models (models.py) the DuckDB statements of `sql/`, values bound, run in reference order
    pack (pack.py)     `compliance/D1_D2/`: tables, manifest.json, compliance.html, one rename
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

import pipeline
from pipeline.calendar import next_business_day
from pipeline.config import Params, select_params
from pipeline.context import new_run_id
from pipeline.errors import InvocationError
from pipeline.history.models import ModelRunner, load_models
from pipeline.history.pack import pack_dir, write_pack
from pipeline.history.schemas import HISTORY_TABLES, conform, model_of
from pipeline.history.window import HISTORY_INPUTS, HistoryPlan, check_range, plan_history
from pipeline.progress import ProgressFn, stage
from pipeline.resources import SQL_DIR

__all__ = ["HistoryResult", "compute_tables", "month_to_date", "run_history"]


@dataclass
class HistoryResult:
    """What a history wrote: the pack, its rows per table, and the headline findings."""

    start: dt.date
    end: dt.date
    output_dir: Path
    run_id: str
    rows: dict[str, int]
    window_dates: int
    published_dates: int
    missing_dates: list[str]
    non_business_dates: list[str]
    dates_read: int
    daily_computation: str
    exceptions: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "success",
            "exit_code": 0,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "output_dir": str(self.output_dir),
            "run_id": self.run_id,
            "window_business_dates": self.window_dates,
            "published_dates": self.published_dates,
            "missing_dates": self.missing_dates,
            "non_business_dates": self.non_business_dates,
            "dates_read": self.dates_read,
            "daily_computation": self.daily_computation,
            "exceptions": self.exceptions,
            "tables": self.rows,
        }


def _bindings(plan: HistoryPlan, params: Params) -> dict[str, Any]:
    """Every value the models bind (SPEC §10): file lists, dates, the threshold, the frequency."""
    bound: dict[str, Any] = {f"{t}_files": plan.files(t) for t in HISTORY_INPUTS}
    bound.update(
        manifest_files=plan.manifest_files(),
        business_days=list(plan.calendar),
        published_dates=sorted(plan.published),
        month_ends=list(plan.month_ends),
        start=plan.start,
        end=plan.end,
        # A string, so the decimal reaches DuckDB exactly whatever its size.
        threshold=str(params.reserve.daily_threshold),
        computation_frequency=params.reserve.computation_frequency,
    )
    return bound


def compute_tables(
    plan: HistoryPlan, params: Params, threads: int | None = None
) -> tuple[dict[str, pa.Table], pa.Table]:
    """Run the models over the plan's folders: the §10 tables, and the manifests read."""
    runner = ModelRunner(load_models(SQL_DIR), _bindings(plan, params), threads)
    try:
        runner.materialize()
        tables = {t: conform(t, runner.fetch(model_of(t))) for t in HISTORY_TABLES}
        read = runner.fetch("stg_manifests").sort_by("business_date")
    finally:
        runner.close()
    return tables, read


def _manifest(
    plan: HistoryPlan,
    params: Params,
    run_id: str,
    started: dt.datetime,
    read: pa.Table,
    outputs: list[dict[str, Any]],
) -> dict[str, Any]:
    """`manifest.json` of the pack (SPEC §10)."""
    dates = [
        {
            "business_date": row["business_date"].isoformat(),
            "run_id": row["run_id"],
            "manifest_sha256": row["manifest_sha256"],
        }
        for row in read.select(["business_date", "run_id", "manifest_sha256"]).to_pylist()
    ]
    return {
        "start": plan.start.isoformat(),
        "end": plan.end.isoformat(),
        "run_id": run_id,
        "started_at": started.isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "software_version": pipeline.__version__,
        "params": {
            "version": params.version,
            "sha256": params.sha256,
            "effective_from": params.effective_from.isoformat(),
            "source": str(params.source),
        },
        "window": {
            "business_dates": len(plan.window),
            "published": [d.isoformat() for d in plan.published_window],
            "missing": [d.isoformat() for d in plan.missing],
            "non_business": [d.isoformat() for d in plan.non_business],
        },
        "dates_read": dates,
        "outputs": outputs,
    }


def run_history(
    start: dt.date,
    end: dt.date,
    data_root: Path,
    params_file: Path | None = None,
    progress: ProgressFn | None = None,
    threads: int | None = None,
) -> HistoryResult:
    """Compute and write `compliance/D1_D2/` from the published outputs alone (SPEC §10).

    Exit codes as SPEC §8 through the raised XmarginError: 2 a bad range or parameter file, 3
    nothing published in the window (nothing written), 4 a published folder lacking a table.
    Findings (shortfalls, aged calls) are rows of the tables, never a failure.
    """
    from pipeline.reports.compliance import render_compliance

    data_root = data_root.resolve()
    started = dt.datetime.now(dt.UTC)
    if params_file is not None and not params_file.is_file():
        raise InvocationError(f"--params {params_file}: no such file")
    with stage(progress, "plan") as detail:
        check_range(start, end)
        params = select_params(end, data_root, params_file)
        plan = plan_history(start, end, data_root / "outputs")
        plan.check_folders()
        detail.update(
            window=len(plan.window),
            published=len(plan.published_window),
            missing=len(plan.missing),
            read=len(plan.dates_read),
        )
    with stage(progress, "compute") as detail:
        tables, read = compute_tables(plan, params, threads)
        detail.update(tables=len(tables), rows=sum(t.num_rows for t in tables.values()))
    run_id = new_run_id(started)
    with stage(progress, "write") as detail:
        folder = write_pack(
            data_root,
            start,
            end,
            run_id,
            tables,
            lambda outputs: _manifest(plan, params, run_id, started, read, outputs),
            render_compliance,
        )
        detail["output_dir"] = str(folder)
    findings = tables["history_exceptions"].column("kind").to_pylist()
    test = tables["daily_computation_test"].column("status").to_pylist()
    return HistoryResult(
        start=start,
        end=end,
        output_dir=pack_dir(data_root, start, end),
        run_id=run_id,
        rows={t: a.num_rows for t, a in tables.items()},
        window_dates=len(plan.window),
        published_dates=len(plan.published_window),
        missing_dates=[d.isoformat() for d in plan.missing],
        non_business_dates=[d.isoformat() for d in plan.non_business],
        dates_read=len(plan.dates_read),
        daily_computation=str(test[0]) if test else "",
        exceptions={k: findings.count(k) for k in sorted(set(findings))},
    )


def month_to_date(day: dt.date) -> tuple[dt.date, dt.date] | None:
    """D's month-to-date window: the first SIFMA business date of D's month to D (SPEC §10.11).

    None when D (a forced run of a closed day) comes before its month's first business date.
    """
    first = next_business_day(day.replace(day=1) - dt.timedelta(days=1))
    return (first, day) if first <= day else None
