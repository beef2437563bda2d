"""The nightly DAG parses cleanly and lightly, and has the task graph of the issue (SPEC §8)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from pipeline.inputs import INPUT_NAMES
from pipeline.outputs import PUBLISHED_NAMES

HEAVY = ("polars", "duckdb", "great_expectations", "pyarrow")

PARSE_PROBE = """
import json, sys, os
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
from airflow.serialization.serialized_objects import DagSerialization
dag = bag.dags["xmargin_nightly"]
data = DagSerialization.serialize_dag(dag)
back = DagSerialization.deserialize_dag(data)
print("PROBE " + json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dag_ids": sorted(bag.dag_ids),
    "heavy": sorted(m for m in HEAVY if m in sys.modules),
    "timetable": type(back.timetable).__module__ + "." + type(back.timetable).__name__,
    "summary": back.timetable.summary,
}))
""".replace("HEAVY", repr(HEAVY))


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory, af: Any) -> dict[str, Any]:
    """Parse and (de)serialize the DAG in a fresh process, as the DAG processor does."""
    home = tmp_path_factory.mktemp("parse_home")
    done = subprocess.run(
        [af.PYTHON, "-c", PARSE_PROBE],
        env=af.airflow_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    assert lines, f"parse probe failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(lines[-1][len("PROBE ") :])
    return result


def test_dagbag_has_no_import_errors(probe: dict[str, Any]) -> None:
    assert probe["errors"] == {}
    assert probe["dag_ids"] == ["xmargin_compliance", "xmargin_nightly"]


def test_parsing_imports_no_heavy_engine(probe: dict[str, Any]) -> None:
    assert probe["heavy"] == [], f"parsing the DAG imported {probe['heavy']}"


def test_custom_timetable_survives_serialization_through_the_plugin(probe: dict[str, Any]) -> None:
    assert probe["timetable"] == "pipeline.orchestrate.timetable.SifmaBusinessDayTimetable"
    assert probe["summary"] == "SIFMA business days 19:30 America/New_York"


@pytest.mark.parametrize("dag_file", ["xmargin_nightly.py", "xmargin_compliance.py"])
def test_dag_file_imports_only_airflow_sdk_pendulum_and_stdlib(af: Any, dag_file: str) -> None:
    import ast
    import sys

    tree = ast.parse((af.REPO / "dags" / dag_file).read_text())
    top = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            top += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            top.append(node.module)
    for module in top:
        root = module.split(".")[0]
        assert (
            module == "airflow.sdk"
            or root in {"pendulum", "__future__"}
            or (root in sys.stdlib_module_names)
        ), f"top-level import {module} in the DAG file"


@pytest.fixture(scope="module")
def dag(af: Any) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(af.REPO / "dags"))
    assert not bag.import_errors
    return bag.dags["xmargin_nightly"]


EDGES = {
    "wait_for_inputs": {"start_run"},
    "start_run": {
        "validate_masters",
        "validate_inputs",
        "finish_validation",
        "margin_shard",
        "reduce_margin",
        "reserve",
        "publish",
        "cleanup",
    },
    "validate_masters": {"validate_inputs"},
    "validate_inputs": {"finish_validation"},
    "finish_validation": {"margin_shard"},
    "margin_shard": {"reduce_margin"},
    "reduce_margin": {"reserve"},
    "reserve": {"publish"},
    "publish": {"cleanup"},
    "cleanup": set(),
}


def test_task_graph(dag: Any) -> None:
    assert set(dag.task_ids) == set(EDGES)
    for task_id, downstream in EDGES.items():
        assert set(dag.get_task(task_id).downstream_task_ids) == downstream, task_id


def test_validation_and_margin_are_dynamically_mapped(dag: Any) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    mapped = {t.task_id for t in dag.tasks if isinstance(t, MappedOperator)}
    assert mapped == {"validate_masters", "validate_inputs", "margin_shard"}


def test_validation_maps_over_every_input_masters_first(af: Any) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("xm_dag", af.REPO / "dags" / "xmargin_nightly.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (*module.MASTER_INPUTS, *module.OTHER_INPUTS) == INPUT_NAMES
    assert tuple(module.OUTPUT_TABLES) == PUBLISHED_NAMES


def test_sensor_reschedules_and_runs_are_scheduled_on_sifma_days(dag: Any) -> None:
    from pipeline.orchestrate.timetable import SifmaBusinessDayTimetable

    sensor = dag.get_task("wait_for_inputs")
    assert sensor.mode == "reschedule"
    assert sensor.retries == 0
    assert dag.timetable == SifmaBusinessDayTimetable("19:30", "America/New_York")
    assert dag.max_active_runs == 1 and dag.catchup is False


def test_publish_emits_an_asset_per_output_table(dag: Any) -> None:
    names = sorted(a.name for a in dag.get_task("publish").outlets)
    assert names == sorted(f"xmargin.{t}" for t in PUBLISHED_NAMES)


def test_tasks_retry_and_alert_on_failure(dag: Any) -> None:
    shard = dag.get_task("margin_shard")
    assert shard.retries >= 1
    callbacks = shard.on_failure_callback
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    assert any(getattr(cb, "__name__", "") == "_on_failure" for cb in callbacks)
    params = dag.params
    for name in ("business_date", "force", "data_root", "params_file", "shards"):
        assert name in params


def test_params_reject_a_shard_count_below_one(dag: Any) -> None:
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dag.params)
    params["shards"] = 2
    assert params.validate()["shards"] == 2
    with pytest.raises(ParamValidationError):
        params["shards"] = 0
        params.validate()
