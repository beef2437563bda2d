"""The SIFMA business-day timetable (SPEC §1): 19:30 New York, never on a SIFMA holiday."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction

from pipeline.calendar import is_business_day
from pipeline.orchestrate.timetable import SifmaBusinessDayTimetable

NY = pendulum.timezone("America/New_York")
# The nightly DAG's schedule (tests/dags/test_dag_structure.py holds the DAG to it).
TT = SifmaBusinessDayTimetable("19:30", "America/New_York")
CATCHUP = TimeRestriction(earliest=pendulum.datetime(2020, 1, 1, tz=NY), latest=None, catchup=True)


def _after(day: str) -> pendulum.DateTime:
    """run_after of the run that follows the run of `day`."""
    last = TT.interval_for(dt.date.fromisoformat(day))
    info = TT.next_dagrun_info(last_automated_data_interval=last, restriction=CATCHUP)
    assert info is not None
    return info.run_after


def test_next_run_after_a_friday_is_monday_1930_new_york() -> None:
    run_after = _after("2026-11-20")
    assert run_after == pendulum.datetime(2026, 11, 23, 19, 30, tz=NY)
    assert run_after.in_timezone("UTC") == pendulum.datetime(2026, 11, 24, 0, 30, tz="UTC")


@pytest.mark.parametrize(
    ("last", "expected", "closed"),
    [
        ("2026-11-25", "2026-11-27", "2026-11-26"),  # Thanksgiving
        ("2027-03-25", "2027-03-29", "2027-03-26"),  # Good Friday 2027
        ("2025-04-17", "2025-04-21", "2025-04-18"),  # Good Friday 2025
        ("2026-12-24", "2026-12-28", "2026-12-25"),  # Christmas
        ("2026-12-31", "2027-01-04", "2027-01-01"),  # New Year's Day
        ("2026-11-10", "2026-11-12", "2026-11-11"),  # Veterans Day (bond market only)
    ],
)
def test_holidays_are_skipped(last: str, expected: str, closed: str) -> None:
    assert not is_business_day(dt.date.fromisoformat(closed))
    run_after = _after(last)
    assert run_after.date() == dt.date.fromisoformat(expected)
    assert (run_after.hour, run_after.minute) == (19, 30)


def test_a_year_of_runs_is_exactly_the_sifma_business_days() -> None:
    restriction = TimeRestriction(
        earliest=pendulum.datetime(2026, 1, 1, tz=NY),
        latest=pendulum.datetime(2026, 12, 31, tz=NY),
        catchup=True,
    )
    days = []
    last: DataInterval | None = None
    while info := TT.next_dagrun_info(last_automated_data_interval=last, restriction=restriction):
        assert info.data_interval is not None
        last = info.data_interval
        days.append(TT.business_date_of(last.start))
    expected = [
        dt.date(2026, 1, 1) + dt.timedelta(days=i)
        for i in range(365)
        if is_business_day(dt.date(2026, 1, 1) + dt.timedelta(days=i))
    ]
    assert days == expected
    assert 245 <= len(days) <= 255


def test_interval_names_the_business_date_across_daylight_saving() -> None:
    # 2026-03-09 is the first Monday on EDT: 19:30 New York is 23:30 UTC, not 00:30.
    interval = TT.interval_for(dt.date(2026, 3, 9))
    assert interval.start == pendulum.datetime(2026, 3, 9, tz=NY)
    assert interval.end.in_timezone("UTC") == pendulum.datetime(2026, 3, 9, 23, 30, tz="UTC")
    assert TT.business_date_of(interval.start.in_timezone("UTC")) == dt.date(2026, 3, 9)


def test_backfill_bounds_given_as_dates_include_both_ends() -> None:
    # `airflow backfill create --from-date 2026-11-16 --to-date 2026-11-20` passes UTC midnights.
    restriction = TimeRestriction(
        earliest=pendulum.datetime(2026, 11, 16, tz="UTC"),
        latest=pendulum.datetime(2026, 11, 20, tz="UTC"),
        catchup=True,
    )
    days = []
    last = None
    while info := TT.next_dagrun_info(last_automated_data_interval=last, restriction=restriction):
        last = info.data_interval
        assert last is not None
        days.append(TT.business_date_of(last.start).isoformat())
    assert days == ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"]


def test_without_catchup_the_first_run_is_the_latest_due_one() -> None:
    restriction = TimeRestriction(
        earliest=pendulum.datetime(2026, 1, 1, tz=NY), latest=None, catchup=False
    )
    info = TT.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert info is not None
    now = pendulum.now("UTC")
    assert info.run_after <= now
    assert is_business_day(info.run_after.in_timezone(NY).date())
    # Nothing older than a week (the longest SIFMA closure is a long weekend).
    assert now - info.run_after < dt.timedelta(days=7)


def test_manual_run_with_a_bare_date_stands_for_that_date() -> None:
    interval = TT.infer_manual_data_interval(run_after=pendulum.datetime(2026, 11, 20, tz="UTC"))
    assert TT.business_date_of(interval.start) == dt.date(2026, 11, 20)
    interval = TT.infer_manual_data_interval(
        run_after=pendulum.datetime(2026, 11, 21, 2, 0, tz="UTC")  # 21:00 New York on the 20th
    )
    assert TT.business_date_of(interval.start) == dt.date(2026, 11, 20)


def test_serialize_round_trip_keeps_time_and_zone() -> None:
    other = SifmaBusinessDayTimetable(at="18:45", timezone="America/Chicago")
    back = SifmaBusinessDayTimetable.deserialize(other.serialize())
    assert back == other
    assert back != TT
    assert "18:45" in back.summary


def test_bad_time_is_refused_with_what_was_expected() -> None:
    with pytest.raises(ValueError, match="expected a time HH:MM"):
        SifmaBusinessDayTimetable(at="7pm", timezone="America/New_York")
