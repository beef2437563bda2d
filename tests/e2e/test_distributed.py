"""The nightly DAG on the distributed topology (CeleryExecutor, two workers) equals `xmargin run`.

Runs are triggered through the REST API v2 and `airflow backfill create`; outputs are compared
table by table with the CLI run on the same inputs (manifests differ only in run ids and times).
A worker SIGKILLed while a margin shard runs must cost a retry, not the date.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import psutil
import pytest

from pipeline.outputs import PUBLISHED_NAMES

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

ACCOUNTS = "300"


BIN = Path(sys.executable).parent


def _xmargin(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [str(BIN / "xmargin"), "--quiet", *args], env=env, capture_output=True, timeout=600
    )
    assert done.returncode == 0, f"xmargin {' '.join(args)}: {done.stderr.decode()[-3000:]}"


def _inputs_and_reference(cluster: Any, tmp_path: Path, *days: str) -> Path:
    """Generate D's inputs in the cluster's data root and run `xmargin` on a copy of them."""
    ref = tmp_path / "reference"
    for day in days:
        _xmargin(
            cluster.env,
            "generate",
            "--date",
            day,
            "--accounts",
            ACCOUNTS,
            "--seed",
            "11",
            "--data-root",
            str(cluster.data_root),
        )
        ymd = day.replace("-", "")
        shutil.copytree(cluster.data_root / "inbox" / ymd, ref / "inbox" / ymd)
    return ref


def _assert_same_outputs(ours_root: Path, ref_root: Path, day: str) -> None:
    ours = ours_root / "outputs" / f"business_date={day}"
    theirs = ref_root / "outputs" / f"business_date={day}"
    assert (ours / "_SUCCESS").is_file(), f"no published outputs for {day}"
    for table in PUBLISHED_NAMES:
        got = pl.read_parquet(ours / f"{table}.parquet")
        want = pl.read_parquet(theirs / f"{table}.parquet")
        assert got.height > 0 or table in ("margin_calls", "exceptions"), table
        assert got.equals(want), f"{day} {table}: Airflow output differs from xmargin"
    assert _output_hashes(ours) == _output_hashes(theirs)


def _output_hashes(folder: Path) -> dict[str, str]:
    manifest = json.loads((folder / "manifest.json").read_text())
    return {o["name"]: o["sha256"] for o in manifest["outputs"]}


def _trigger(cluster: Any, day: str, run_id: str, **conf: Any) -> str:
    body = {
        "dag_run_id": run_id,
        "logical_date": f"{day}T05:00:00+00:00",  # D 00:00 New York
        "conf": {"business_date": day, **conf},
    }
    return str(cluster.api("POST", "/api/v2/dags/xmargin_nightly/dagRuns", body)["dag_run_id"])


def _workers_that_ran_tasks(cluster: Any) -> set[str]:
    ran = set()
    for name in ("worker1", "worker2"):
        log = (cluster.home / f"{name}.log").read_text(errors="replace")
        if "xmargin_nightly" in log:
            ran.add(name)
    return ran


def test_triggered_run_on_two_workers_equals_xmargin_run(cluster: Any, tmp_path: Path) -> None:
    day = "2026-11-20"
    ref = _inputs_and_reference(cluster, tmp_path, day)
    _xmargin(cluster.env, "run", "--date", day, "--data-root", str(ref))

    run_id = _trigger(cluster, day, "e2e_20261120")
    run = cluster.wait_run(run_id, timeout=420)
    states = {(t["task_id"], t["map_index"]): t["state"] for t in cluster.task_instances(run_id)}
    assert run["state"] == "success", f"{states}\n{cluster.tail()}"
    assert sorted(i for (t, i) in states if t == "margin_shard") == [0, 1, 2]
    assert set(states.values()) == {"success"}
    _assert_same_outputs(cluster.data_root, ref, day)
    assert _workers_that_ran_tasks(cluster) == {"worker1", "worker2"}
    # publish emitted one Asset event per output table, describing the date it published.
    events = cluster.api("GET", f"/api/v2/assets/events?source_run_id={run_id}&limit=50")
    by_uri = {e["uri"]: e["extra"] for e in events["asset_events"]}
    assert set(by_uri) == {f"x-xmargin://outputs/{t}" for t in PUBLISHED_NAMES}
    for uri, extra in by_uri.items():
        assert extra["business_date"] == day, uri
        assert extra["path"].endswith(f"business_date={day}/{uri.rsplit('/', 1)[1]}.parquet")


def test_airflow_backfill_equals_xmargin_backfill(cluster: Any, tmp_path: Path) -> None:
    # 2026-11-11 (Veterans Day) is a SIFMA holiday: the range holds one business day.
    ref = _inputs_and_reference(cluster, tmp_path, "2026-11-10")
    _xmargin(
        cluster.env,
        "backfill",
        "--start",
        "2026-11-10",
        "--end",
        "2026-11-11",
        "--data-root",
        str(ref),
    )
    created = subprocess.run(
        [
            str(BIN / "airflow"),
            "backfill",
            "create",
            "--dag-id",
            "xmargin_nightly",
            "--from-date",
            "2026-11-10",
            "--to-date",
            "2026-11-11",
        ],
        env=cluster.env,
        capture_output=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr.decode()[-3000:]
    deadline = time.monotonic() + 60
    runs: list[dict[str, Any]] = []
    while not runs and time.monotonic() < deadline:
        doc = cluster.api("GET", "/api/v2/dags/xmargin_nightly/dagRuns?run_type=backfill")
        runs = doc["dag_runs"]
        time.sleep(1)
    assert len(runs) == 1, runs
    assert runs[0]["logical_date"].startswith("2026-11-10T05:00:00")
    run = cluster.wait_run(runs[0]["dag_run_id"], timeout=420)
    assert run["state"] == "success", cluster.tail()
    _assert_same_outputs(cluster.data_root, ref, "2026-11-10")
    assert not (cluster.data_root / "outputs" / "business_date=2026-11-11").exists()


def _worker_of(cluster: Any, ti_id: str) -> tuple[str, int] | None:
    """The worker (name, pid) whose process tree runs task instance `ti_id`, if it is running."""
    title = f"airflow worker -- {ti_id}"
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if title not in cmdline:
            continue
        ancestors = {p.pid for p in proc.parents()}
        for name in ("worker1", "worker2"):
            popen = cluster.procs[name]
            if popen.poll() is None and popen.pid in ancestors:
                return name, popen.pid
    return None


def _kill_tree(pid: int) -> None:
    root = psutil.Process(pid)
    victims = [root, *root.children(recursive=True)]
    for proc in victims:
        # SIGKILL: no clean shutdown, as when a machine dies.
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


def test_worker_killed_during_a_margin_shard_costs_a_retry_not_the_date(
    cluster: Any, tmp_path: Path
) -> None:
    day = "2026-11-19"
    ref = _inputs_and_reference(cluster, tmp_path, day)
    _xmargin(cluster.env, "run", "--date", day, "--data-root", str(ref))
    run_id = _trigger(cluster, day, "e2e_fault_20261119", shards=4)

    victim: tuple[str, int, int] | None = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline:
        cluster.assert_alive()
        for ti in cluster.task_instances(run_id):
            if ti["task_id"] == "margin_shard" and ti["state"] == "running":
                found = _worker_of(cluster, ti["id"])
                if found:
                    _kill_tree(found[1])
                    victim = (found[0], ti["map_index"], ti["try_number"])
                    break
        time.sleep(0.2)
    assert victim is not None, "no margin_shard task was caught running on a worker"
    killed, map_index, try_number = victim

    run = cluster.wait_run(run_id, timeout=480, allow=(killed,))
    tis = {(t["task_id"], t["map_index"]): t for t in cluster.task_instances(run_id)}
    assert run["state"] == "success", cluster.tail()
    shard = tis[("margin_shard", map_index)]
    assert shard["state"] == "success"
    assert shard["try_number"] > try_number, "the killed shard was not retried"
    _assert_same_outputs(cluster.data_root, ref, day)
