"""Compliance history after each nightly publish: data-aware, on the nightly's Assets (SPEC §10.11).

Scheduled on the published output Assets of `xmargin_nightly` that the history reads; each
publish of business date D triggers a run whose one task refreshes D's month-to-date window
(`compliance/<first SIFMA business date of D's month>_D/`) with the very function `xmargin
history` runs. D comes from the triggering Asset events (the nightly's publish task puts
`business_date` in their extra), never from the clock.

Params (manual runs): `business_date` (when triggered without asset events), `data_root`
(default: the one the events name, else $XMARGIN_DATA_ROOT or ./data), `params_file`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task

# The nightly outputs SPEC §10 reads (pipeline.history.window.HISTORY_INPUTS), as the nightly
# DAG declares them; a test holds both equal (no import: parsing must stay light).
READ_TABLES = (
    "reserve_computation",
    "margin_calls",
    "exceptions",
    "margin_by_account",
    "xm_segregation_summary",
)
PUBLISHED_ASSETS = [
    Asset(name=f"xmargin.{table}", uri=f"x-xmargin://outputs/{table}", group="xmargin")
    for table in READ_TABLES
]


def _on_failure(context: Any) -> None:
    from pipeline.orchestrate.notify import on_failure

    on_failure(context)


@dag(
    dag_id="xmargin_compliance",
    schedule=PUBLISHED_ASSETS,
    start_date=pendulum.datetime(2026, 1, 1, tz="America/New_York"),
    catchup=False,
    max_active_runs=1,
    tags=["xmargin", "compliance"],
    doc_md=__doc__,
    default_args={
        "owner": "compliance",
        "retries": 2,
        "retry_delay": dt.timedelta(seconds=20),
        "on_failure_callback": _on_failure,
    },
    params={
        "business_date": Param(
            None, type=["null", "string"], description="YYYY-MM-DD; only without asset events"
        ),
        "data_root": Param(
            None, type=["null", "string"], description="Default: the events' data root"
        ),
        "params_file": Param(
            None, type=["null", "string"], description="Use this parameter file as given"
        ),
    },
)
def xmargin_compliance() -> None:
    @task
    def refresh_month_to_date(params: Any = None, triggering_asset_events: Any = None) -> Any:
        from pipeline.orchestrate import compliance

        return compliance.refresh_month_to_date(triggering_asset_events, params)

    refresh_month_to_date()


xmargin_compliance()
