"""The xmargin_compliance DAG (SPEC §10.11): scheduled on the nightly's published Assets, one
task that refreshes D's month-to-date window with the function `xmargin history` runs, D read
from the triggering Asset events.

The events here are Airflow's own objects (the Task SDK's AssetEventDagRunReferenceResult in its
TriggeringAssetEventsAccessor, as a task receives them); tests/e2e runs both DAGs for real.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.history.window import HISTORY_INPUTS

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit" / "history"))

from history_builders import publish_day  # noqa: E402


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"xm_{name}", REPO / "dags" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dag(af: Any) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(af.REPO / "dags"))
    assert not bag.import_errors
    return bag.dags["xmargin_compliance"]


def test_scheduled_on_the_nightly_assets_that_history_reads(dag: Any) -> None:
    nightly = _module("xmargin_nightly").OUTPUT_ASSETS
    compliance = _module("xmargin_compliance")
    assert tuple(compliance.READ_TABLES) == HISTORY_INPUTS
    for asset in compliance.PUBLISHED_ASSETS:
        table = asset.uri.rsplit("/", 1)[1]
        assert (asset.name, asset.uri, asset.group) == (
            nightly[table].name,
            nightly[table].uri,
            nightly[table].group,
        )
    # Every one of them (AssetAll): one publish of D updates them all at once.
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    assert type(dag.timetable.asset_condition).__name__ == "AssetAll"
    scheduled = {a.uri for a in dag.timetable.asset_condition.objects}
    assert scheduled == {f"x-xmargin://outputs/{t}" for t in HISTORY_INPUTS}
    assert dag.task_ids == ["refresh_month_to_date"]
    assert dag.max_active_runs == 1 and dag.catchup is False


def _events(*extras: dict[str, Any]) -> Any:
    """Triggering events as the Task SDK hands them to a task: asset -> its events."""
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    events = []
    for extra in extras:
        for table in HISTORY_INPUTS:
            events.append(
                AssetEventDagRunReferenceResult(
                    asset={
                        "name": f"xmargin.{table}",
                        "uri": f"x-xmargin://outputs/{table}",
                        "extra": {},
                    },
                    extra=extra,
                    source_task_id="publish",
                    source_dag_id="xmargin_nightly",
                    source_run_id="scheduled__x",
                    source_map_index=-1,
                    source_aliases=[],
                    timestamp=dt.datetime(2026, 11, 21, 1, 0, tzinfo=dt.UTC),
                )
            )
    return TriggeringAssetEventsAccessor.build(events)


def test_each_published_date_refreshes_its_month_to_date_window(tmp_path: Path) -> None:
    """Events for 2026-11-20 and 2026-12-01 (one run may gather two publishes): the packs
    2026-11-02_2026-11-20 and 2026-12-01_2026-12-01 are written, from the events' data root."""
    from pipeline.orchestrate.compliance import refresh_month_to_date

    for day in (dt.date(2026, 11, 2), dt.date(2026, 11, 20), dt.date(2026, 12, 1)):
        publish_day(tmp_path, day, calls={"A": 1})
    events = _events(
        {"business_date": "2026-12-01", "data_root": str(tmp_path)},
        {"business_date": "2026-11-20", "data_root": str(tmp_path)},
    )
    done = refresh_month_to_date(events, {})
    assert [d["business_date"] for d in done] == ["2026-11-20", "2026-12-01"]
    for name in ("2026-11-02_2026-11-20", "2026-12-01_2026-12-01"):
        manifest = json.loads((tmp_path / "compliance" / name / "manifest.json").read_text())
        assert f"{manifest['start']}_{manifest['end']}" == name
    november = json.loads(
        (tmp_path / "compliance" / "2026-11-02_2026-11-20" / "manifest.json").read_text()
    )
    assert november["window"]["published"] == ["2026-11-02", "2026-11-20"]


def test_a_run_without_a_date_fails_without_retries(tmp_path: Path) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.orchestrate.compliance import refresh_month_to_date

    with pytest.raises(AirflowFailException, match="business_date"):
        refresh_month_to_date(_events({"run_id": "x"}), {"data_root": str(tmp_path)})
    with pytest.raises(AirflowFailException, match="no asset event"):
        refresh_month_to_date(None, {"data_root": str(tmp_path)})
    assert not (tmp_path / "compliance").exists()


def test_a_manual_run_names_its_date_by_param(tmp_path: Path) -> None:
    from pipeline.orchestrate.compliance import refresh_month_to_date

    publish_day(tmp_path, dt.date(2026, 11, 4))
    done = refresh_month_to_date(None, {"business_date": "2026-11-04", "data_root": str(tmp_path)})
    assert done[0]["output_dir"].endswith("2026-11-02_2026-11-04")
