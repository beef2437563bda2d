"""The nightly xmargin run: one DAG run per SIFMA business day at its run time (SPEC §1, §8).

The run time is the schedule below (19:30 America/New_York); the input deadline follows it.

Each task is one call into `pipeline.orchestrate.tasks`, which calls the same stage functions as
`xmargin run`. Tasks hand each other a run reference of three strings through XCom and rebuild
the run context from it, so any Celery worker can take any task and a retry finds its inputs.

    wait_for_inputs -> start_run -> validate_masters[file] -> validate_inputs[file]
      -> finish_validation -> margin_shard[k] -> reduce_margin -> reserve -> publish -> cleanup

Params (manual runs and backfills): `business_date` (else the run's own date), `force` (run a
non-business date), `data_root`, `params_file`, `shards`, `input_deadline_minutes` (how long after
D's run time missing files are waited for before the run fails naming them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, PokeReturnValue, dag, task

# These lists must equal pipeline.outputs.PUBLISHED_NAMES and pipeline.inputs (a test holds them
# together); not imported from there because the registry loads Polars and parsing must stay light.
OUTPUT_TABLES = (
    "margin_by_account",
    "margin_calls",
    "reserve_computation",
    "xm_segregation",
    "xm_segregation_summary",
    "exceptions",
    "dv01_by_tenor",
)
# The input files of D (pipeline.inputs), masters first: the position files' cross-file rules
# read the staged masters. Validation maps one task instance over each file.
MASTER_INPUTS = ["accounts", "treasury_securities", "cme_contracts"]
OTHER_INPUTS = [
    "ficc_positions",
    "cme_positions",
    "balances",
    "ficc_var_scenarios",
    "reserve_items",
    "reserve_bank",
]
OUTPUT_ASSETS = {
    table: Asset(name=f"xmargin.{table}", uri=f"x-xmargin://outputs/{table}", group="xmargin")
    for table in OUTPUT_TABLES
}


def _schedule() -> Any:
    # The timetable is registered with Airflow by plugins/xmargin_plugin.py. Imported here rather
    # than at the top so the module-level imports stay airflow.sdk, pendulum and the stdlib.
    from pipeline.orchestrate.timetable import SifmaBusinessDayTimetable

    return SifmaBusinessDayTimetable(at="19:30", timezone="America/New_York")


def _on_failure(context: Any) -> None:
    from pipeline.orchestrate.notify import on_failure

    on_failure(context)


@dag(
    dag_id="xmargin_nightly",
    schedule=_schedule(),
    start_date=pendulum.datetime(2026, 1, 1, tz="America/New_York"),
    catchup=False,
    max_active_runs=1,
    tags=["xmargin"],
    doc_md=__doc__,
    default_args={
        "owner": "operations",
        "retries": 2,
        "retry_delay": dt.timedelta(seconds=20),
        "on_failure_callback": _on_failure,
    },
    params={
        "business_date": Param(
            None, type=["null", "string"], description="YYYY-MM-DD; default: the run's date"
        ),
        "force": Param(False, type="boolean", description="Run a non-business date anyway"),
        "data_root": Param(
            None, type=["null", "string"], description="Default: $XMARGIN_DATA_ROOT or ./data"
        ),
        "params_file": Param(
            None, type=["null", "string"], description="Use this parameter file as given"
        ),
        "shards": Param(
            None, type=["null", "integer"], minimum=1, description="Default: $XMARGIN_SHARDS or 4"
        ),
        "input_deadline_minutes": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            description="Minutes after D's run time (its data interval's end); default 240",
        ),
    },
)
def xmargin_nightly() -> None:
    @task.sensor(mode="reschedule", poke_interval=60, timeout=24 * 3600, retries=0)
    def wait_for_inputs(
        params: Any = None, dag_run: Any = None, dag: Any = None
    ) -> PokeReturnValue:
        from pipeline.orchestrate import tasks

        day = tasks.wait_for_inputs(params, dag_run, dag.timetable)
        return PokeReturnValue(is_done=day is not None, xcom_value=day)

    @task
    def start_run(business_date: str, params: Any = None, dag_run: Any = None) -> Any:
        from pipeline.orchestrate import tasks

        return tasks.start_run(business_date, params, dag_run.run_id)

    @task
    def validate(ref: dict[str, str], name: str) -> Any:
        from pipeline.orchestrate import tasks

        return tasks.validate(ref, name)

    @task
    def finish_validation(ref: dict[str, str]) -> list[int]:
        from pipeline.orchestrate import tasks

        return tasks.finish_validation(ref)

    @task
    def margin_shard(ref: dict[str, str], shard: int) -> str:
        from pipeline.orchestrate import tasks

        return tasks.margin_shard(ref, shard)

    @task
    def reduce_margin(ref: dict[str, str]) -> str:
        from pipeline.orchestrate import tasks

        return tasks.reduce_margin(ref)

    @task
    def reserve(ref: dict[str, str]) -> str:
        from pipeline.orchestrate import tasks

        return tasks.reserve(ref)

    @task(outlets=list(OUTPUT_ASSETS.values()))
    def publish(ref: dict[str, str], outlet_events: Any = None) -> Any:
        from pipeline.orchestrate import tasks

        return tasks.publish(ref, outlet_events, OUTPUT_ASSETS)

    @task
    def cleanup(ref: dict[str, str]) -> str:
        from pipeline.orchestrate import tasks

        return tasks.cleanup(ref)

    ref = start_run(wait_for_inputs())
    masters = (
        validate.override(task_id="validate_masters").partial(ref=ref).expand(name=MASTER_INPUTS)
    )
    others = validate.override(task_id="validate_inputs").partial(ref=ref).expand(name=OTHER_INPUTS)
    shard_numbers = finish_validation(ref)
    shards = margin_shard.partial(ref=ref).expand(shard=shard_numbers)
    reduced = reduce_margin(ref)
    reserved = reserve(ref)
    published = publish(ref)
    masters >> others >> shard_numbers
    shards >> reduced >> reserved >> published >> cleanup(ref)


xmargin_nightly()
