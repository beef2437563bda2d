"""Shared set-up for the Airflow tests: a private AIRFLOW_HOME with SQLite, and stage checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# Importing airflow writes airflow.cfg under AIRFLOW_HOME: never let a test touch ~/airflow.
if "airflow" not in sys.modules:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="xmargin-airflow-")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment of an embedded Airflow (SQLite, this repo's dags/ and plugins/)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite metadata database shared by the tests of one session."""
    home = tmp_path_factory.mktemp("airflow_home")
    done = subprocess.run(
        [PYTHON, "-m", "airflow", "db", "migrate"],
        env=airflow_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"airflow db migrate failed:\n{done.stderr[-3000:]}"
    return home


def run_dag_test(home: Path, args: dict[str, Any], **env: str) -> dict[str, Any]:
    """One `dag.test()` of xmargin_nightly in a fresh process; its run and task states."""
    done = subprocess.run(
        [PYTHON, str(Path(__file__).parent / "dag_runner.py"), json.dumps(args)],
        env=airflow_env(home, **env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"dag runner printed no result (exit {done.returncode}):\n{done.stderr[-5000:]}"
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    result["log"] = done.stdout + done.stderr
    return result


@pytest.fixture(scope="session")
def af() -> SimpleNamespace:
    """The helpers above, for test modules (pytest's importlib mode cannot import conftest)."""
    return SimpleNamespace(
        REPO=REPO,
        PYTHON=PYTHON,
        airflow_env=airflow_env,
        run_dag_test=run_dag_test,
    )
