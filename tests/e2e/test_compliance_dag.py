"""Both DAGs for real (SPEC §10.11): the nightly publishes D on its own SIFMA schedule, its
Asset events trigger xmargin_compliance, which writes D's month-to-date pack, the same tables
`xmargin history` writes for that window.

The session's scheduler runs with `use_job_schedule` off (so scheduled nightly runs never race
the triggered ones of the other tests), and with it off Airflow creates no asset-triggered runs
either. This test therefore restarts the scheduler with scheduling on, after writing the inputs
of the date the nightly is due to run next (the DAG's `next_dagrun_data_interval_start`, which
names D), and restores it afterwards. Nothing is triggered by hand: the nightly run is the
scheduler's own and the compliance run is the Asset event's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.calendar import next_business_day
from pipeline.history import month_to_date
from pipeline.orchestrate.timetable import day_named

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

BIN = Path(sys.executable).parent
COMPLIANCE = "xmargin_compliance"
NIGHTLY = "xmargin_nightly"


def _xmargin(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [str(BIN / "xmargin"), "--quiet", *args], env=env, capture_output=True, timeout=600
    )
    assert done.returncode == 0, f"xmargin {' '.join(args)}: {done.stderr.decode()[-3000:]}"


def _restart_scheduler(cluster: Any, use_job_schedule: bool) -> None:
    proc = cluster.procs["scheduler"]
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    cluster.env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = str(use_job_schedule)
    cluster.start("scheduler", "scheduler")


def _runs(cluster: Any, dag_id: str, run_type: str) -> list[dict[str, Any]]:
    doc = cluster.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?run_type={run_type}&limit=50")
    return list(doc["dag_runs"])


def _wait(cluster: Any, dag_id: str, run_type: str, timeout: float) -> dict[str, Any]:
    """The first run of that type once it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cluster.assert_alive()
        runs = _runs(cluster, dag_id, run_type)
        if runs and runs[0]["state"] in ("success", "failed"):
            return runs[0]
        time.sleep(2)
    raise AssertionError(
        f"no finished {run_type} run of {dag_id} after {timeout}s: "
        f"{_runs(cluster, dag_id, run_type)}\n{cluster.tail()}"
    )


def _ready(cluster: Any, dag_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            cluster.api("GET", f"/api/v2/dags/{dag_id}")
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


@pytest.fixture
def scheduling(cluster: Any) -> Iterator[Any]:
    """The scheduler with `use_job_schedule` on for this test; off again afterwards."""
    _ready(cluster, COMPLIANCE)
    cluster.api("PATCH", f"/api/v2/dags/{COMPLIANCE}", {"is_paused": False})
    try:
        yield cluster
    finally:
        cluster.api("PATCH", f"/api/v2/dags/{COMPLIANCE}", {"is_paused": True})
        _restart_scheduler(cluster, use_job_schedule=False)


def test_a_scheduled_publish_triggers_the_month_to_date_compliance_pack(
    scheduling: Any, tmp_path: Path
) -> None:
    cluster = scheduling
    nightly = cluster.api("GET", f"/api/v2/dags/{NIGHTLY}")
    start = nightly["next_dagrun_data_interval_start"]
    assert start, f"the nightly has no next scheduled run: {nightly}"
    due = day_named(dt.datetime.fromisoformat(start))
    # Should 19:30 New York pass meanwhile, the scheduler may name the next business day.
    for day in (due, next_business_day(due)):
        _xmargin(
            cluster.env,
            "generate",
            "--date",
            day.isoformat(),
            "--accounts",
            "300",
            "--seed",
            "5",
            "--data-root",
            str(cluster.data_root),
        )
    _restart_scheduler(cluster, use_job_schedule=True)

    run = _wait(cluster, NIGHTLY, "scheduled", timeout=480)
    assert run["state"] == "success", cluster.tail()
    day = day_named(dt.datetime.fromisoformat(run["data_interval_start"]))
    assert day in (due, next_business_day(due))
    assert (cluster.data_root / "outputs" / f"business_date={day}" / "_SUCCESS").is_file()

    triggered = _wait(cluster, COMPLIANCE, "asset_triggered", timeout=300)
    assert triggered["state"] == "success", cluster.tail()
    events = cluster.api(
        "GET",
        f"/api/v2/dags/{COMPLIANCE}/dagRuns/{triggered['dag_run_id']}/upstreamAssetEvents",
    )["asset_events"]
    assert {e["extra"]["business_date"] for e in events} == {day.isoformat()}
    assert {e["source_run_id"] for e in events} == {run["dag_run_id"]}

    window = month_to_date(day)
    assert window is not None
    pack = cluster.data_root / "compliance" / f"{window[0]}_{window[1]}"
    manifest = json.loads((pack / "manifest.json").read_text())
    assert (manifest["start"], manifest["end"]) == (window[0].isoformat(), day.isoformat())
    assert day.isoformat() in manifest["window"]["published"]
    assert (pack / "compliance.html").is_file()
    by_dag = {o["name"]: o["sha256"] for o in manifest["outputs"]}

    # The CLI on the same published outputs writes the very same tables.
    _xmargin(
        cluster.env,
        "history",
        "--start",
        window[0].isoformat(),
        "--end",
        day.isoformat(),
        "--data-root",
        str(cluster.data_root),
    )
    again = json.loads((pack / "manifest.json").read_text())
    assert again["run_id"] != manifest["run_id"]
    assert {o["name"]: o["sha256"] for o in again["outputs"]} == by_dag
