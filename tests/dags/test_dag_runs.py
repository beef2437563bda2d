"""The nightly DAG run end to end with `dag.test()` on SQLite (SPEC §3, §7, §8).

The golden inbox run through Airflow must publish exactly what `xmargin run` publishes; a late
file fails the run naming it, and a holiday is refused, each with an alert and nothing published.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.outputs import PUBLISHED_NAMES

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parent / "golden" / "01_xm_basis_cap"
D = "2026-11-20"


def _root(tmp_path: Path, name: str, drop: str | None = None) -> Path:
    root = tmp_path / name
    shutil.copytree(GOLDEN / "inbox", root / "inbox")
    if drop:
        (root / "inbox" / "20261120" / drop).unlink()
    return root


def _run_alerting(
    af: Any, airflow_home: Path, tmp_path: Path, args: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A DAG run whose failure alerts go to a JSON-lines file: its result and the alerts sent."""
    alerts = tmp_path / "alerts.jsonl"
    result = af.run_dag_test(
        airflow_home,
        args,
        XMARGIN_ALERT_FILE=str(alerts),
        XMARGIN_NOTIFIER="pipeline.orchestrate.notify:file_notifier",
    )
    if not alerts.exists():
        return result, []
    return result, [json.loads(line) for line in alerts.read_text().splitlines()]


def test_golden_inbox_through_airflow_equals_xmargin_run(
    tmp_path: Path, airflow_home: Path, af: Any
) -> None:
    from pipeline.cli import main
    from pipeline.orchestrate.tasks import xmargin_run_id

    params = str(GOLDEN / "params.yaml")
    cli_root = _root(tmp_path, "cli")
    code = main(["--quiet", "run", "--date", D, "--data-root", str(cli_root), "--params", params])
    assert code == 0

    dag_root = _root(tmp_path, "dag")
    result = af.run_dag_test(
        airflow_home,
        # A bare logical date: the run stands for that business date (no business_date Param).
        {
            "logical_date": D,
            "conf": {"data_root": str(dag_root), "params_file": params, "shards": 3},
        },
    )
    assert result["state"] == "success", result["log"][-4000:]
    tis = result["tis"]
    assert {t for t in tis if t.startswith("margin_shard[")} == {
        "margin_shard[0]",
        "margin_shard[1]",
        "margin_shard[2]",
    }
    assert len([t for t in tis if t.startswith("validate_")]) == 9
    assert set(tis.values()) == {"success"}

    ours = dag_root / "outputs" / f"business_date={D}"
    theirs = cli_root / "outputs" / f"business_date={D}"
    assert (ours / "_SUCCESS").is_file() and (ours / "report.html").is_file()
    for table in PUBLISHED_NAMES:
        got = pl.read_parquet(ours / f"{table}.parquet")
        want = pl.read_parquet(theirs / f"{table}.parquet")
        assert got.schema == want.schema, table
        assert got.equals(want), f"{table}: Airflow output differs from xmargin run"
    manifest = json.loads((ours / "manifest.json").read_text())
    assert manifest["run_id"] == xmargin_run_id(str(result["run_id"]))
    # Same tables, same bytes: the output hashes of the two manifests agree.
    cli_manifest = json.loads((theirs / "manifest.json").read_text())
    assert set(PUBLISHED_NAMES) <= set(_hashes(manifest))
    assert _hashes(manifest) == _hashes(cli_manifest)
    # The work folder is scratch: cleaned once the outputs are published.
    assert not any((dag_root / "work").rglob("*.parquet"))


def _hashes(manifest: dict[str, Any]) -> dict[str, str]:
    return {o["name"]: o["sha256"] for o in manifest["outputs"]}


def test_late_file_fails_the_run_naming_it(tmp_path: Path, airflow_home: Path, af: Any) -> None:
    root = _root(tmp_path, "late", drop="cme_positions_20261120.xml")
    result, sent = _run_alerting(
        af,
        airflow_home,
        tmp_path,
        # The deadline of a past date has passed: the sensor gives up at its first poke.
        {"conf": {"business_date": D, "data_root": str(root), "input_deadline_minutes": 0}},
    )
    assert result["state"] == "failed"
    assert result["tis"]["wait_for_inputs"] == "failed"
    assert result["tis"]["start_run"] == "upstream_failed"
    assert "cme_positions_20261120.xml" in result["log"]
    assert [a["task_id"] for a in sent] == ["wait_for_inputs"]
    assert "cme_positions_20261120.xml" in sent[0]["error"]
    assert "accounts_20261120.csv" not in sent[0]["error"]
    assert not (root / "outputs" / f"business_date={D}").exists()


def test_holiday_is_refused_and_nothing_runs(tmp_path: Path, airflow_home: Path, af: Any) -> None:
    root = _root(tmp_path, "holiday")
    result, sent = _run_alerting(
        af, airflow_home, tmp_path, {"logical_date": "2026-11-26", "conf": {"data_root": str(root)}}
    )
    assert result["state"] == "failed"
    assert result["tis"]["wait_for_inputs"] == "failed"
    assert "2026-11-26 is not a SIFMA U.S. bond market business day" in result["log"]
    assert sent and sent[0]["business_date"] == "2026-11-26"
    assert not (root / "outputs").exists()


def test_rejected_file_is_quarantined_and_nothing_published(
    tmp_path: Path, airflow_home: Path, af: Any
) -> None:
    root = _root(tmp_path, "rejected")
    with open(root / "inbox" / "20261120" / "accounts_20261120.csv", "a") as fh:
        fh.write("BROKEN,ROW\n")  # a row with the wrong number of fields (SPEC §2)
    result, sent = _run_alerting(
        af,
        airflow_home,
        tmp_path,
        {"conf": {"business_date": D, "data_root": str(root), "shards": 2}},
    )
    assert result["state"] == "failed"
    assert result["tis"]["finish_validation"] == "failed"
    assert result["tis"]["margin_shard"] == "upstream_failed"
    assert result["tis"]["publish"] == "upstream_failed"
    quarantined = list((root / "quarantine" / "20261120").glob("*/accounts_20261120.csv"))
    assert len(quarantined) == 1
    assert (quarantined[0].parent / "report.json").is_file()
    assert not (root / "outputs" / f"business_date={D}").exists()
    # A rejection is final: one alert from the first and only try, no retries.
    assert [(a["task_id"], a["try_number"]) for a in sent] == [("finish_validation", 1)]
    assert "accounts_20261120.csv" in sent[0]["error"]
