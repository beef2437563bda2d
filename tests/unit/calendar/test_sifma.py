"""SIFMA business days and call due times (SPEC §1, §7.2)."""

from __future__ import annotations

import datetime as dt

from pipeline.calendar import business_days, due_by, is_business_day, next_business_day


def test_holidays_weekends_and_early_closes() -> None:
    assert not is_business_day(dt.date(2026, 11, 26))  # Thanksgiving
    assert is_business_day(dt.date(2026, 11, 27))  # early close counts as open
    assert not is_business_day(dt.date(2026, 12, 25))
    assert not is_business_day(dt.date(2026, 11, 21))  # Saturday
    assert not is_business_day(dt.date(2026, 10, 12))  # Columbus Day: bond market closed
    assert is_business_day(dt.date(2026, 11, 20))


def test_business_days_in_range_skip_closures() -> None:
    days = business_days(dt.date(2026, 11, 23), dt.date(2026, 11, 30))
    assert days == [
        dt.date(2026, 11, 23),
        dt.date(2026, 11, 24),
        dt.date(2026, 11, 25),
        dt.date(2026, 11, 27),
        dt.date(2026, 11, 30),
    ]


def test_due_by_is_next_business_day_nine_new_york() -> None:
    due = due_by(dt.date(2026, 11, 25))
    assert due.isoformat() == "2026-11-27T09:00:00-05:00"
    assert next_business_day(dt.date(2026, 12, 31)) == dt.date(2027, 1, 4)
    summer = due_by(dt.date(2026, 7, 2))
    assert summer.isoformat() == "2026-07-06T09:00:00-04:00"  # July 3 observed holiday, EDT


def test_the_calendar_across_the_boundary_of_its_cached_blocks() -> None:
    """2027 and 2028 sit in two cached blocks of years: stepping across joins them seamlessly."""
    from pipeline.calendar import previous_business_day, sifma

    assert 2027 // sifma._SPAN_YEARS != 2028 // sifma._SPAN_YEARS
    sifma._open_days.cache_clear()
    # New Year's Day 2028 is a Saturday: SIFMA observes no holiday on Friday 2027-12-31.
    assert next_business_day(dt.date(2027, 12, 31)) == dt.date(2028, 1, 3)
    assert previous_business_day(dt.date(2028, 1, 3)) == dt.date(2027, 12, 31)
    assert sifma._open_days.cache_info().currsize == 2
    assert not is_business_day(dt.date(2028, 1, 1)) and not is_business_day(dt.date(2028, 1, 2))
    assert business_days(dt.date(2027, 12, 30), dt.date(2028, 1, 4)) == [
        dt.date(2027, 12, 30),
        dt.date(2027, 12, 31),
        dt.date(2028, 1, 3),
        dt.date(2028, 1, 4),
    ]
    assert due_by(dt.date(2027, 12, 31)).isoformat() == "2028-01-03T09:00:00-05:00"
