"""Task helpers of the nightly DAG: business date, input deadline, run ids, alerts (SPEC §1, §8)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from pipeline.errors import InputsLateError, InternalError, NonBusinessDateError, ValidationRejected
from pipeline.inputs import INPUTS
from pipeline.orchestrate import notify, tasks
from pipeline.orchestrate.timetable import SifmaBusinessDayTimetable

NY = dt.timezone(dt.timedelta(hours=-5))
D = dt.date(2026, 11, 20)
# The nightly DAG's schedule (tests/dags/test_dag_structure.py holds the DAG to it).
TT = SifmaBusinessDayTimetable("19:30", "America/New_York")


def test_business_date_param_wins_over_the_run_date() -> None:
    start = dt.datetime(2026, 11, 23, 0, 0, tzinfo=NY)
    assert tasks.resolve_business_date("2026-11-20", start, None, None) == D


def test_business_date_from_the_data_interval_start_in_new_york() -> None:
    # The database hands intervals back in UTC: D 00:00 New York is D 05:00 UTC.
    start = dt.datetime(2026, 11, 20, 5, 0, tzinfo=dt.UTC)
    assert tasks.resolve_business_date(None, start, None, None) == D


def test_a_holiday_is_refused_unless_forced() -> None:
    with pytest.raises(NonBusinessDateError, match="2026-11-26 is not a SIFMA"):
        tasks.resolve_business_date("2026-11-26", None, None, None)
    assert tasks.resolve_business_date("2026-11-26", None, None, None, force=True) == dt.date(
        2026, 11, 26
    )


def test_a_malformed_date_param_names_what_was_expected() -> None:
    with pytest.raises(Exception, match="expected an ISO date YYYY-MM-DD"):
        tasks.resolve_business_date("20261120x", None, None, None)


def test_deadline_is_minutes_after_1930_new_york() -> None:
    deadline = tasks.input_deadline(D, TT, 90)
    assert deadline.astimezone(dt.UTC) == dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC)


def test_the_deadline_follows_the_schedule_it_is_given(tmp_path: Path) -> None:
    """Moving the run time moves the deadline: it is the end of D's data interval + minutes."""
    chicago = SifmaBusinessDayTimetable("18:45", "America/Chicago")
    # 18:45 CST on D is 00:45 UTC the next day (19:45 New York, after the 19:30 run).
    assert tasks.input_deadline(D, chicago, 0).astimezone(dt.UTC) == dt.datetime(
        2026, 11, 21, 0, 45, tzinfo=dt.UTC
    )
    assert tasks.input_deadline(D, chicago, 0) == chicago.interval_for(D).end
    _inbox(tmp_path, skip="balances")
    params = {
        "business_date": "2026-11-20",
        "data_root": str(tmp_path),
        "input_deadline_minutes": 0,
    }
    between = dt.datetime(2026, 11, 21, 0, 40, tzinfo=dt.UTC)  # 19:40 New York
    with pytest.raises(AirflowFailException, match=r"balances_20261120\.csv"):
        tasks.wait_for_inputs(params, None, TT, now=between)
    assert tasks.wait_for_inputs(params, None, chicago, now=between) is None


def _inbox(root: Path, skip: str | None = None) -> None:
    folder = root / "inbox" / "20261120"
    folder.mkdir(parents=True)
    for spec in INPUTS:
        if spec.name != skip:
            (folder / spec.filename(D)).write_text("x\n")


def test_sensor_waits_before_the_deadline_and_fails_naming_the_file_after(tmp_path: Path) -> None:
    _inbox(tmp_path, skip="cme_positions")
    deadline = tasks.input_deadline(D, TT, 60)
    before = deadline - dt.timedelta(seconds=1)
    assert tasks.poke_inputs(tmp_path, D, deadline, before) is False
    with pytest.raises(InputsLateError, match=r"cme_positions_20261120\.xml") as err:
        tasks.poke_inputs(tmp_path, D, deadline, deadline)
    assert err.value.exit_code == 3
    assert "accounts_20261120.csv" not in str(err.value)


def test_sensor_poke_returns_the_date_once_everything_is_in(tmp_path: Path) -> None:
    _inbox(tmp_path)
    params = {"business_date": None, "data_root": str(tmp_path), "input_deadline_minutes": 0}
    run = SimpleNamespace(data_interval_start=dt.datetime(2026, 11, 20, 5, tzinfo=dt.UTC))
    assert tasks.wait_for_inputs(params, run, TT) == "2026-11-20"


def test_sensor_fails_at_once_without_retry_when_late(tmp_path: Path) -> None:
    _inbox(tmp_path, skip="balances")
    params = {"business_date": "2026-11-20", "data_root": str(tmp_path)}
    with pytest.raises(AirflowFailException, match=r"exit 3: .*balances_20261120.csv"):
        tasks.wait_for_inputs(params, None, TT, now=dt.datetime(2026, 11, 22, tzinfo=dt.UTC))


def test_sensor_fails_at_once_on_an_entry_that_is_no_file_or_a_missing_data_root(
    tmp_path: Path,
) -> None:
    """Waiting cannot turn a directory into a file: exit 1 naming it, no retries (issue 11)."""
    _inbox(tmp_path, skip="balances")
    (tmp_path / "inbox" / "20261120" / "balances_20261120.csv").mkdir()
    params = {"business_date": "2026-11-20", "data_root": str(tmp_path)}
    with pytest.raises(AirflowFailException, match=r"(?s)exit 1: .*balances_20261120.csv is a dir"):
        tasks.wait_for_inputs(params, None, TT, now=dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    gone = {"business_date": "2026-11-20", "data_root": str(tmp_path / "absent")}
    with pytest.raises(AirflowFailException, match=r"exit 2: data root .* is missing"):
        tasks.wait_for_inputs(gone, None, TT, now=dt.datetime(2026, 11, 20, tzinfo=dt.UTC))


def test_fail_fast_keeps_retries_for_internal_errors_only() -> None:
    def rejected() -> None:
        raise ValidationRejected("accounts_20261120.csv: rule unique failed")

    def internal() -> None:
        raise InternalError("disk full")

    with pytest.raises(AirflowFailException, match="exit 1"):
        tasks.fail_fast(rejected)()
    with pytest.raises(InternalError):
        tasks.fail_fast(internal)()


def test_run_id_of_an_airflow_run_is_a_safe_stable_folder_name() -> None:
    rid = tasks.xmargin_run_id("scheduled__2026-11-21T00:30:00+00:00")
    assert rid == tasks.xmargin_run_id("scheduled__2026-11-21T00:30:00+00:00")
    assert "/" not in rid and ":" not in rid and "+" not in rid
    assert rid.startswith("scheduled__2026-11-21T00_30_00")


def test_shard_count_from_param_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tasks.SHARDS_ENV, "3")
    assert tasks.shard_count(None) == 3
    assert tasks.shard_count(5) == 5
    with pytest.raises(Exception, match="expected an integer >= 1"):
        tasks.shard_count(0)


def _context() -> dict[str, object]:
    ti = SimpleNamespace(
        dag_id="xmargin_nightly", task_id="margin_shard", map_index=0, try_number=3, run_id="r1"
    )
    return {
        "ti": ti,
        "dag_run": SimpleNamespace(run_id="r1"),
        "params": {"business_date": "2026-11-20"},
        "exception": RuntimeError("boom"),
    }


def test_failure_alert_goes_to_the_configured_notifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "alerts.jsonl"
    monkeypatch.setenv(notify.NOTIFIER_ENV, "pipeline.orchestrate.notify:file_notifier")
    monkeypatch.setenv(notify.ALERT_FILE_ENV, str(out))
    notify.on_failure(_context())
    alert = json.loads(out.read_text())
    assert alert["task_id"] == "margin_shard" and alert["map_index"] == 0
    assert alert["business_date"] == "2026-11-20"
    assert alert["error"] == "RuntimeError: boom"


def test_a_failed_dag_run_marks_its_work_folder_ended(tmp_path: Path) -> None:
    """So the next run of D may tidy it (pipeline.scratch); until then it is a live run's."""
    from pipeline import scratch

    context = _context()
    context["params"] = {"business_date": "2026-11-20", "data_root": str(tmp_path)}
    context["dag_run"] = SimpleNamespace(run_id="manual__2026-11-20T00:00:00+00:00")
    work = (
        tmp_path / "work" / "20261120" / tasks.xmargin_run_id("manual__2026-11-20T00:00:00+00:00")
    )
    work.mkdir(parents=True)
    notify.on_failure(context)
    assert json.loads((work / scratch.ENDED).read_text())["outcome"] == "failed"


def test_default_notifier_logs_and_a_broken_one_does_not_hide_the_failure(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(notify.NOTIFIER_ENV, raising=False)
    with caplog.at_level("ERROR", logger="xmargin.alerts"):
        notify.on_failure(_context())
    assert "xmargin FAILED: xmargin_nightly.margin_shard[0]" in caplog.text
    monkeypatch.setenv(notify.NOTIFIER_ENV, "no_such_module_xm:send")
    caplog.clear()
    with caplog.at_level("ERROR", logger="xmargin.alerts"):
        notify.on_failure(_context())
    assert "notifier failed" in caplog.text


def test_notifier_spec_must_name_module_and_callable() -> None:
    with pytest.raises(ValueError, match=r"expected 'package\.module:callable'"):
        notify.load_notifier("just_a_module")
