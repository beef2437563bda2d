"""Which published dates a history over [D1, D2] reads, and why (SPEC §10).

Only `outputs/business_date=YYYY-MM-DD/` folders holding `_SUCCESS` count as published, found
one level under `outputs/` (never `_runs/`, `_history/`, `work/`, `quarantine/`). Each folder is
resolved once to the run folder its link points at, so every table of a date is read from the
same run even if that date is republished meanwhile.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.calendar import (
    business_days,
    is_business_day,
    next_business_day,
    previous_business_day,
)
from pipeline.errors import InternalError, InvocationError, NothingPublishedError
from pipeline.outputs import (
    EXCEPTIONS,
    MARGIN_BY_ACCOUNT,
    MARGIN_CALLS,
    RESERVE_COMPUTATION,
    XM_SEGREGATION_SUMMARY,
    Table,
)

SUCCESS = "_SUCCESS"
MANIFEST = "manifest.json"
_FOLDER = re.compile(r"business_date=(\d{4}-\d{2}-\d{2})")

# The published tables §10 reads, each from the dates the plan names for it.
_READ: tuple[Table, ...] = (
    RESERVE_COMPUTATION,
    MARGIN_CALLS,
    EXCEPTIONS,
    MARGIN_BY_ACCOUNT,
    XM_SEGREGATION_SUMMARY,
)
HISTORY_INPUTS = tuple(t.name for t in _READ)
_FILENAMES = {t.name: t.filename for t in _READ}
MONTHS_TESTED = 12


def find_published(outputs: Path) -> dict[dt.date, Path]:
    """Every published date under `outputs/` -> the run folder it resolves to (SPEC §7, §10)."""
    found: dict[dt.date, Path] = {}
    try:
        entries = list(os.scandir(outputs))
    except FileNotFoundError:
        return found
    for entry in entries:
        match = _FOLDER.fullmatch(entry.name)
        if match is None:
            continue
        try:
            day = dt.date.fromisoformat(match.group(1))
        except ValueError:
            continue
        folder = Path(os.path.realpath(entry.path))
        if (folder / SUCCESS).is_file():
            found[day] = folder
    return found


def _month_start(day: dt.date, months_back: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def month_ends(as_of: dt.date) -> tuple[dt.date, ...]:
    """Last SIFMA business date of each of the 12 calendar months before `as_of`'s (SPEC §10.3)."""
    return tuple(
        previous_business_day(_month_start(as_of, k - 1)) for k in range(MONTHS_TESTED, 0, -1)
    )


@dataclass(frozen=True)
class HistoryPlan:
    """The window [D1, D2], what is published, and the dates each §10 input is read from."""

    start: dt.date
    end: dt.date
    published: Mapping[dt.date, Path]
    window: tuple[dt.date, ...]
    lookback: tuple[dt.date, ...]
    next_date: dt.date
    month_ends: tuple[dt.date, ...]

    @property
    def published_window(self) -> tuple[dt.date, ...]:
        return tuple(d for d in self.window if d in self.published)

    @property
    def missing(self) -> tuple[dt.date, ...]:
        """Window business dates not published (SPEC §10.9 MISSING_DATE)."""
        return tuple(d for d in self.window if d not in self.published)

    @property
    def non_business(self) -> tuple[dt.date, ...]:
        """Published folders of closed days inside [D1, D2] (SPEC §10.9 NON_BUSINESS_DATE)."""
        return tuple(
            sorted(
                d for d in self.published if self.start <= d <= self.end and not is_business_day(d)
            )
        )

    @property
    def calendar(self) -> tuple[dt.date, ...]:
        """SIFMA business days from the earliest chain date to the day after the window."""
        first = self.lookback[0] if self.lookback else self.window[0]
        return tuple(business_days(first, self.next_date))

    def reads(self, table: str) -> tuple[dt.date, ...]:
        """The published dates a §10 input table is read from, in order."""
        window = set(self.published_window)
        if table == RESERVE_COMPUTATION.name:
            # Deposits are checked at the next business date's close; credits at month-ends.
            extra = {self.next_date, *self.month_ends}
            window |= {d for d in extra if d in self.published}
        elif table in (MARGIN_CALLS.name, EXCEPTIONS.name):
            window |= set(self.lookback)
        elif table not in (MARGIN_BY_ACCOUNT.name, XM_SEGREGATION_SUMMARY.name):
            raise InternalError(f"history reads no table {table!r}; expected {HISTORY_INPUTS}")
        return tuple(sorted(window))

    @property
    def dates_read(self) -> tuple[dt.date, ...]:
        """Every published date whose folder any §10 table is read from."""
        return tuple(sorted({d for t in HISTORY_INPUTS for d in self.reads(t)}))

    def files(self, table: str) -> list[str]:
        """Paths of `<table>.parquet` in the folders of `reads(table)`."""
        filename = _FILENAMES[table]
        return [str(self.published[d] / filename) for d in self.reads(table)]

    def manifest_files(self) -> list[str]:
        return [str(self.published[d] / MANIFEST) for d in self.dates_read]

    def check_folders(self) -> None:
        """Every file §10 reads exists; else an internal error naming folder and table (exit 4)."""
        absent: list[str] = []
        for day in self.dates_read:
            folder = self.published[day]
            names = [t for t in HISTORY_INPUTS if day in self.reads(t)]
            for table in names:
                filename = _FILENAMES[table]
                if not (folder / filename).is_file():
                    absent.append(f"{folder}: table {table} ({filename}) is missing")
            if not (folder / MANIFEST).is_file():
                absent.append(f"{folder}: {MANIFEST} is missing")
        if absent:
            listing = "\n  ".join(absent)
            raise InternalError(
                "published folder(s) lack a table history reads (SPEC §10; a folder with "
                f"_SUCCESS must hold every published table):\n  {listing}"
            )


def check_range(start: dt.date, end: dt.date) -> None:
    """D1 <= D2, else a bad invocation (SPEC §10, exit 2)."""
    if end < start:
        raise InvocationError(
            f"history: --end {end.isoformat()} is before --start {start.isoformat()}"
            " (expected D1 <= D2)"
        )


def plan_history(start: dt.date, end: dt.date, outputs: Path) -> HistoryPlan:
    """What a history over [start, end] reads (SPEC §10); exit 2 for a bad range, 3 if empty."""
    check_range(start, end)
    published = find_published(outputs)
    window = tuple(business_days(start, end))
    if not any(d in published for d in window):
        raise NothingPublishedError(
            f"no SIFMA business date from {start.isoformat()} to {end.isoformat()} is published"
            f" in {outputs} (a folder business_date=YYYY-MM-DD holding _SUCCESS): nothing written"
        )
    # A chain looks back through published history until a business date is not published.
    lookback: list[dt.date] = []
    if window[0] in published:
        day = previous_business_day(window[0])
        while day in published:
            lookback.append(day)
            day = previous_business_day(day)
    return HistoryPlan(
        start=start,
        end=end,
        published=published,
        window=window,
        lookback=tuple(reversed(lookback)),
        next_date=next_business_day(window[-1]),
        month_ends=month_ends(end),
    )
