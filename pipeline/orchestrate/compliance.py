"""What the `xmargin_compliance` DAG's task does (SPEC §10.11), as a plain function.

The nightly DAG's publish task attaches `business_date` (and `data_root`) to the extra of each
output Asset event. A compliance run triggered by those events refreshes, for each business date
published, the month-to-date window (first SIFMA business date of D's month to D) with
`pipeline.history.run_history`, the very function `xmargin history` runs. The date comes from the
events (or, for a manual run, the `business_date` Param), never from the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.errors import InvocationError
from pipeline.orchestrate.tasks import data_root_of, fail_fast


def _events(triggering_asset_events: Any) -> Iterable[Any]:
    """Every event of the run's triggering asset events (a mapping asset -> events)."""
    if not triggering_asset_events:
        return []
    return [event for asset in triggering_asset_events for event in triggering_asset_events[asset]]


def published_dates(
    triggering_asset_events: Any, params: Mapping[str, Any]
) -> list[tuple[dt.date, Path]]:
    """(D, data root) for each date the triggering events say was published, in date order.

    A manual run without events names its date with the `business_date` Param.
    """
    found: dict[tuple[dt.date, Path], None] = {}
    for event in _events(triggering_asset_events):
        extra = getattr(event, "extra", None) or {}
        text = extra.get("business_date")
        try:
            day = dt.date.fromisoformat(str(text))
        except ValueError:
            raise InvocationError(
                f"asset event {getattr(event, 'asset', '')}: extra business_date is {text!r},"
                " expected an ISO date YYYY-MM-DD (the nightly publish task sets it)"
            ) from None
        found[(day, data_root_of(extra.get("data_root") or params.get("data_root")))] = None
    if not found and params.get("business_date"):
        day = _param_date(params["business_date"])
        found[(day, data_root_of(params.get("data_root")))] = None
    if not found:
        raise InvocationError(
            "xmargin_compliance: no asset event carries a business_date and no business_date"
            " Param was given: nothing says which month-to-date window to refresh"
        )
    return sorted(found)


def _param_date(text: object) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise InvocationError(
            f"DAG param business_date: found {text!r}, expected an ISO date YYYY-MM-DD"
        ) from None


@fail_fast
def refresh_month_to_date(
    triggering_asset_events: Any, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Rewrite `compliance/<first business date of D's month>_D/` for each published D."""
    from pipeline.history import month_to_date, run_history

    params_file = params.get("params_file")
    done: list[dict[str, Any]] = []
    for day, data_root in published_dates(triggering_asset_events, params):
        window = month_to_date(day)
        if window is None:
            # A forced run of a closed day before its month's first business date.
            done.append({"business_date": day.isoformat(), "skipped": "no business date yet"})
            continue
        result = run_history(*window, data_root, Path(params_file) if params_file else None)
        done.append({"business_date": day.isoformat(), **result.to_json()})
    return done
