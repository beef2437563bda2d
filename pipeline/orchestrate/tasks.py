"""What each Airflow task of the nightly DAG does, as plain functions on strings (SPEC §8).

The DAG file stays thin: every task body is one call into this module, which calls the very
stage functions of `pipeline.run` that the CLI runs. Tasks pass a run reference of three strings
(business date, data root, run id) through XCom; each rebuilds the context with
`RunContext.load` from the run's `context.json` and frozen parameter copy alone, so any worker can
run any task and a retried task finds everything in place, parameters included.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
from collections.abc import Callable, Mapping
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from pipeline import scratch
from pipeline.context import RunContext, default_data_root
from pipeline.errors import ConcurrentRunError, InputsLateError, InvocationError, XmarginError
from pipeline.inputs import (
    INPUT_NAMES,
    check_data_root,
    inbox_dir,
    missing_inputs,
    require_inputs,
)
from pipeline.orchestrate.timetable import SifmaBusinessDayTimetable, day_named

SHARDS_ENV = "XMARGIN_SHARDS"
DEADLINE_ENV = "XMARGIN_INPUT_DEADLINE_MINUTES"
DEFAULT_SHARDS = 4
# Files are due by D's run; four hours later operations must be told, not kept waiting.
DEFAULT_DEADLINE_MINUTES = 240

RunRef = dict[str, str]
T = TypeVar("T")
P = ParamSpec("P")


def fail_fast(fn: Callable[P, T]) -> Callable[P, T]:
    """Input and invocation errors fail the task at once, without retries.

    A rejected file, a missing file or a holiday stays so however often the task is retried;
    an internal error (exit 4) or the date's lock held by another run may be transient, so
    those keep Airflow's retries.
    """

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except ConcurrentRunError:
            raise
        except XmarginError as exc:
            if exc.exit_code in (1, 2, 3):
                raise AirflowFailException(f"exit {exc.exit_code}: {exc}") from exc
            raise

    return wrapper


def run_ref(ctx: RunContext) -> RunRef:
    """The three strings from which any task rebuilds the run's context."""
    return {
        "business_date": ctx.business_date.isoformat(),
        "data_root": str(ctx.data_root),
        "run_id": ctx.run_id,
    }


def load(ref: Mapping[str, str]) -> RunContext:
    """The run created by `start_run`, in this (possibly another) worker process."""
    return RunContext.load(
        dt.date.fromisoformat(ref["business_date"]), Path(ref["data_root"]), ref["run_id"]
    )


def data_root_of(param: str | None) -> Path:
    """The `data_root` Param, else `$XMARGIN_DATA_ROOT`, else `./data` (SPEC §8)."""
    return Path(param).resolve() if param else default_data_root()


def resolve_business_date(
    param_date: str | None,
    data_interval_start: dt.datetime | None,
    logical_date: dt.datetime | None,
    run_after: dt.datetime | None,
    force: bool = False,
) -> dt.date:
    """D of a DAG run, derived once (SPEC §1): the `business_date` Param, else the run's date.

    Scheduled runs carry D in their data interval (the SIFMA timetable starts it at D 00:00 New
    York); manual runs without a Param fall back to their logical date or trigger time. A date
    the SIFMA market is closed is refused (exit 2) unless `force`.
    """
    if param_date:
        try:
            day = dt.date.fromisoformat(str(param_date))
        except ValueError:
            raise InvocationError(
                f"DAG param business_date: found {param_date!r}, expected an ISO date YYYY-MM-DD"
            ) from None
    else:
        when = data_interval_start or logical_date or run_after
        if when is None:
            raise InvocationError(
                "DAG run has no business_date Param, data interval, logical date or run_after"
            )
        day = day_named(when)
    from pipeline.run import check_business_date

    check_business_date(day, force, how_to_force="trigger with the force Param")
    return day


def input_deadline(
    business_date: dt.date, timetable: SifmaBusinessDayTimetable, minutes: int | None = None
) -> dt.datetime:
    """When missing inputs of D stop being waited for: `minutes` after D's run is due.

    D's run is due at the end of its data interval in the DAG's own timetable, so the deadline
    moves with the schedule (and a manual run of a past D is judged by that D's due time).
    """
    if minutes is None:
        minutes = int(os.environ.get(DEADLINE_ENV, DEFAULT_DEADLINE_MINUTES))
    due: dt.datetime = timetable.interval_for(business_date).end
    return due + dt.timedelta(minutes=minutes)


def poke_inputs(
    data_root: Path, business_date: dt.date, deadline: dt.datetime, now: dt.datetime
) -> bool:
    """True once every input of D is present; after the deadline, InputsLateError naming them.

    What waiting cannot mend fails at once: a data root that is no folder (exit 2), and, once
    all are present, an entry that is no regular readable file inside the data root (exit 1).
    """
    check_data_root(data_root)
    missing = missing_inputs(data_root, business_date)
    if not missing:
        require_inputs(data_root, business_date)
        return True
    if now >= deadline:
        raise InputsLateError(inbox_dir(data_root, business_date), missing, deadline)
    return False


@fail_fast
def wait_for_inputs(
    params: Mapping[str, Any],
    dag_run: Any,
    timetable: SifmaBusinessDayTimetable,
    now: dt.datetime | None = None,
) -> str | None:
    """One sensor poke: D as an ISO string once its inputs are all in, None while waiting."""
    day = resolve_business_date(
        params.get("business_date"),
        getattr(dag_run, "data_interval_start", None),
        getattr(dag_run, "logical_date", None),
        getattr(dag_run, "run_after", None),
        bool(params.get("force")),
    )
    minutes = params.get("input_deadline_minutes")
    deadline = input_deadline(day, timetable, None if minutes is None else int(minutes))
    moment = now or dt.datetime.now(dt.UTC)
    done = poke_inputs(data_root_of(params.get("data_root")), day, deadline, moment)
    return day.isoformat() if done else None


def xmargin_run_id(airflow_run_id: str) -> str:
    """The xmargin run id of an Airflow DAG run: stable, so a retried start_run reuses it."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", airflow_run_id).strip("._") or "airflow"


def shard_count(param: int | None) -> int:
    """Account shards of the margin stage: the Param, else `$XMARGIN_SHARDS`, else 4."""
    n = int(param) if param is not None else int(os.environ.get(SHARDS_ENV, DEFAULT_SHARDS))
    if n < 1:
        raise InvocationError(f"DAG param shards: found {n}, expected an integer >= 1")
    return n


@fail_fast
def start_run(business_date: str, params: Mapping[str, Any], airflow_run_id: str) -> RunRef:
    """Open D's run (SPEC §8): the run reference every later task rebuilds its context from."""
    from pipeline.run import start_run as open_run

    params_file = params.get("params_file")
    ctx = open_run(
        dt.date.fromisoformat(business_date),
        data_root_of(params.get("data_root")),
        Path(params_file) if params_file else None,
        force=bool(params.get("force")),
        run_id=xmargin_run_id(airflow_run_id),
        driver=scratch.DRIVER_AIRFLOW,
    )
    _tidy(ctx)
    return {**run_ref(ctx), "n_shards": str(shard_count(params.get("shards")))}


def _tidy(ctx: RunContext) -> None:
    """Remove the scratch of D's ended runs (pipeline.scratch), if the date lock is free now.

    Only under the lock: its holder may be a CLI run, whose killed predecessors' folders are told
    apart from live ones by holding it. Busy means someone else is running D; they tidy.
    """
    from pipeline.publish import DateLock

    with contextlib.suppress(ConcurrentRunError), DateLock(
        ctx.data_root, ctx.business_date, ctx.run_id
    ):
        scratch.tidy(ctx.data_root, ctx.business_date, own=ctx.run_id)


def mark_failed(data_root: Path, business_date: dt.date, airflow_run_id: str) -> None:
    """A DAG run of D failed for good: its work folder is scratch of an ended run now."""
    work = data_root / "work" / f"{business_date:%Y%m%d}" / xmargin_run_id(airflow_run_id)
    scratch.mark_ended(work, "failed")


@fail_fast
def validate(ref: Mapping[str, str], name: str) -> dict[str, Any]:
    """Validate one input file against its contract (SPEC §3); a summary for the task's XCom."""
    from pipeline.run import validate_stage

    if name not in INPUT_NAMES:
        raise InvocationError(f"validate: input {name!r} unknown; expected one of {INPUT_NAMES}")
    outcome = validate_stage(load(ref), [name])
    return {f.name: {"outcome": f.outcome, "rows": f.rows} for f in outcome.files}


@fail_fast
def finish_validation(ref: Mapping[str, str]) -> list[int]:
    """Merge the per-file results, quarantining a rejected date (SPEC §3); the shards to compute.

    Returning the shard numbers lets the margin stage map over them without one more task.
    """
    from pipeline.run import finish_validation as finish

    finish(load(ref))
    return list(range(int(ref["n_shards"])))


@fail_fast
def margin_shard(ref: Mapping[str, str], shard: int) -> str:
    """One account shard's requirements (SPEC §4-§5)."""
    from pipeline.run import margin_shard as compute

    return str(compute(load(ref), int(shard), int(ref["n_shards"])))


@fail_fast
def reduce_margin(ref: Mapping[str, str]) -> str:
    """Join the shards, then calls, exceptions and DV01 by tenor (SPEC §5.4)."""
    from pipeline.run import reduce_margin as reduce

    return str(reduce(load(ref), int(ref["n_shards"])))


@fail_fast
def reserve(ref: Mapping[str, str]) -> str:
    """Exhibit A and the 4d schedule (SPEC §6)."""
    from pipeline.run import reserve_stage

    return str(reserve_stage(load(ref)))


@fail_fast
def publish(
    ref: Mapping[str, str],
    outlet_events: Any = None,
    assets: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Publish D atomically under its lock (SPEC §7, §8) and describe it on the output Assets."""
    from pipeline.outputs import TABLES_BY_NAME
    from pipeline.run import publish_stage

    ctx = load(ref)
    folder = publish_stage(ctx)
    described = {
        "business_date": ctx.business_date.isoformat(),
        "run_id": ctx.run_id,
        # Where D was published: the compliance DAG reads its history from the same data root.
        "data_root": str(ctx.data_root),
        "output_dir": str(ctx.output_dir),
        "run_folder": str(folder.resolve()),
    }
    if outlet_events is not None and assets:
        for table, asset in assets.items():
            outlet_events[asset].extra = {
                **described,
                "path": str(ctx.output_dir / TABLES_BY_NAME[table].filename),
            }
    return described


@fail_fast
def cleanup(ref: Mapping[str, str]) -> str:
    """Remove the run's work folder once its outputs are published (SPEC §8: scratch only)."""
    ctx = load(ref)
    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    scratch.release(ctx.work_dir)
    # The date's folder goes too once empty; another run of D may just be creating its own.
    with contextlib.suppress(OSError):
        ctx.work_dir.parent.rmdir()
    return str(ctx.work_dir)
