"""The README's first command, `bash scripts/quickstart.sh`, runs a date through Airflow."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import polars as pl
import pytest

pytestmark = pytest.mark.slow


def test_quickstart_publishes_the_date_through_the_dag(tmp_path: Path, af: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        XMARGIN_DATA_ROOT=str(tmp_path / "data"),
        XMARGIN_AIRFLOW_HOME=str(tmp_path / "airflow_home"),
        QUICKSTART_ACCOUNTS="150",
    )
    done = subprocess.run(
        ["bash", str(af.REPO / "scripts" / "quickstart.sh"), "2026-11-20"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = tmp_path / "data" / "outputs" / "business_date=2026-11-20"
    assert f"{out}/" in done.stdout and "report.html" in done.stdout
    assert (out / "_SUCCESS").is_file()
    accounts = pl.read_parquet(out / "margin_by_account.parquet")
    assert 0 < accounts.height <= 150
    # It ran through Airflow: the embedded metadata database and the DAG run's log are there.
    assert (tmp_path / "airflow_home" / "airflow.db").is_file()
    log = (tmp_path / "airflow_home" / "quickstart-2026-11-20.log").read_text()
    assert "xmargin_nightly" in log and "publish" in log
