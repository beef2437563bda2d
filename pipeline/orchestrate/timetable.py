"""SIFMA business days at a fixed New York time, as an Airflow timetable (SPEC §1)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from pendulum import DateTime

from pipeline.calendar import NEW_YORK, is_business_day, next_business_day, previous_business_day


def day_named(when: dt.datetime, tz: dt.tzinfo = NEW_YORK) -> dt.date:
    """The calendar day an instant (a restriction bound, a run's date) stands for.

    `airflow backfill create --from-date 2026-11-16` arrives as a midnight in the configured
    default timezone (UTC unless set): the date written is meant, whatever the zone, so an instant
    that is exactly midnight keeps its own wall-clock date. Any other instant is read in `tz`.
    """
    if (when.hour, when.minute, when.second, when.microsecond) == (0, 0, 0, 0):
        return when.date()
    return when.astimezone(tz).date()


def _parse_at(text: str) -> dt.time:
    try:
        hour, minute = (int(part) for part in text.split(":"))
        return dt.time(hour, minute)
    except ValueError:
        raise ValueError(f"timetable: at={text!r}: expected a time HH:MM such as 19:30") from None


class SifmaBusinessDayTimetable(Timetable):
    """One run per SIFMA business day D, due at `at` local time, never on a holiday (SPEC §1).

    The DAG file names `at` and `timezone` (its schedule, the one place the run time lives); the
    input deadline is derived from the same instance's data interval of D.

    The data interval of D's run is [D 00:00, D `at`] in `timezone`: its start names the business
    date unambiguously (the DAG derives D from it) and its end is when the run may start, after
    the close once the clearing houses' end-of-day files are due.
    """

    periodic = True

    def __init__(self, at: str, timezone: str) -> None:
        self.at = at
        self.timezone = timezone
        self._time = _parse_at(at)
        self._tz = pendulum.timezone(timezone)
        self.description = f"SIFMA U.S. bond market business days at {at} {timezone}"

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        return cls(at=str(data["at"]), timezone=str(data["tz"]))

    def serialize(self) -> dict[str, Any]:
        return {"at": self.at, "tz": self.timezone}

    @property
    def summary(self) -> str:
        return f"SIFMA business days {self.at} {self.timezone}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SifmaBusinessDayTimetable):
            return NotImplemented
        return (self.at, self.timezone) == (other.at, other.timezone)

    def __hash__(self) -> int:
        return hash((self.at, self.timezone))

    def interval_for(self, day: dt.date) -> DataInterval:
        """The data interval of business date `day`: [day 00:00, day `at`] local time."""
        start = pendulum.datetime(day.year, day.month, day.day, tz=self._tz)
        end = start.replace(hour=self._time.hour, minute=self._time.minute)
        return DataInterval(start, end)

    def business_date_of(self, interval_start: DateTime) -> dt.date:
        """The business date a run's data interval stands for."""
        return interval_start.in_timezone(self._tz).date()

    def _first_on_or_after(self, day: dt.date) -> dt.date:
        return day if is_business_day(day) else next_business_day(day)

    def _latest_due(self, now: DateTime) -> dt.date:
        """The business day whose run time is the most recent one at or before `now`."""
        local = now.in_timezone(self._tz)
        day = local.date()
        if is_business_day(day) and local.time() >= self._time:
            return day
        return previous_business_day(day)

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        earliest_day: dt.date | None = None
        if restriction.earliest is not None:
            # A bound inside a day (say 10:00) still admits that day's run, due later that day.
            day = day_named(restriction.earliest, self._tz)
            earliest_day = self._first_on_or_after(day)
        if last_automated_data_interval is not None:
            candidate = next_business_day(self.business_date_of(last_automated_data_interval.start))
            if earliest_day is not None:
                candidate = max(candidate, earliest_day)
        elif earliest_day is not None:
            candidate = earliest_day
        else:
            candidate = self._latest_due(pendulum.now("UTC"))
        if not restriction.catchup:
            # Without catchup the most recent due run is the oldest one still worth running.
            candidate = max(candidate, self._latest_due(pendulum.now("UTC")))
        if restriction.latest is not None:
            latest_day = day_named(restriction.latest, self._tz)
            if candidate > latest_day:
                return None
        interval = self.interval_for(candidate)
        return DagRunInfo.interval(interval.start, interval.end)

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        """A manual run stands for the calendar day it names (a holiday is refused by the DAG)."""
        day = day_named(run_after, self._tz)
        return self.interval_for(day)
