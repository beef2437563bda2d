"""SIFMA U.S. bond market days from `pandas_market_calendars` ("SIFMAUS"), never a hand list."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
_CALENDAR_NAME = "SIFMAUS"
# Calendar years are loaded a block at a time so backfills and due dates never reload it per date.
_SPAN_YEARS = 3


@lru_cache(maxsize=32)
def _open_days(block: int) -> frozenset[dt.date]:
    """Open days (full or early close) of the SIFMA US calendar for one block of years."""
    import pandas_market_calendars as mcal

    first = block * _SPAN_YEARS
    start = dt.date(first, 1, 1)
    end = dt.date(first + _SPAN_YEARS - 1, 12, 31)
    days = mcal.get_calendar(_CALENDAR_NAME).valid_days(start.isoformat(), end.isoformat())
    return frozenset(d.date() for d in days)


def is_business_day(day: dt.date) -> bool:
    """True when the SIFMA U.S. bond market is open on `day`, full or early close (SPEC §1)."""
    return day in _open_days(day.year // _SPAN_YEARS)


def next_business_day(day: dt.date) -> dt.date:
    """The first business day strictly after `day`."""
    candidate = day + dt.timedelta(days=1)
    while not is_business_day(candidate):
        candidate += dt.timedelta(days=1)
    return candidate


def previous_business_day(day: dt.date) -> dt.date:
    """The last business day strictly before `day`."""
    candidate = day - dt.timedelta(days=1)
    while not is_business_day(candidate):
        candidate -= dt.timedelta(days=1)
    return candidate


def business_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Business days in [start, end], in order."""
    out: list[dt.date] = []
    day = start
    while day <= end:
        if is_business_day(day):
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def due_by(business_date: dt.date) -> dt.datetime:
    """When a call issued on D is due: next business day 09:00 America/New_York (SPEC §7.2)."""
    nxt = next_business_day(business_date)
    return dt.datetime(nxt.year, nxt.month, nxt.day, 9, 0, tzinfo=NEW_YORK)
