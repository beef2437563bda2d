"""Tiny published folders for the history tests, written by the real publisher (SPEC §7, §8).

Each `publish_day` writes every SPEC §7 table of one date through `pipeline.publish.publish`
(decimal(20,2) cents, manifest.json, `_SUCCESS`, `outputs/business_date=D` a symlink into
`outputs/_runs/`), from a few accounts whose figures the tests state in their docstrings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.calendar import due_by
from pipeline.config import SHIPPED_PARAMS_DIR, Params, load_params
from pipeline.context import RunContext
from pipeline.publish import publish
from pipeline.reserve.exhibit_a import BOOKS, LINES

MARGIN_MONEY = (
    "ficc_regular_im",
    "cme_regular_im",
    "f_sa",
    "f_sep",
    "f_all",
    "c_sa",
    "c_sep",
    "c_all",
    "ficc_xm_im",
    "cme_xm_im",
    "ficc_im",
    "cme_im",
    "maintenance_requirement",
    "initial_requirement",
    "equity",
    "excess_deficit",
)


@dataclass
class Account:
    """One margin_by_account row; money not given is 0."""

    account_id: str
    xm_active: bool = False
    account_class: str = "CUSTOMER"
    money: Mapping[str, float] = field(default_factory=dict)
    call_amount: int = 0


def default_params() -> Params:
    return load_params(SHIPPED_PARAMS_DIR / "margin_params.yaml")


def _margin(day: dt.date, accounts: Sequence[Account]) -> pl.DataFrame:
    rows = []
    for a in accounts:
        row: dict[str, object] = {
            "business_date": day,
            "account_id": a.account_id,
            "account_class": a.account_class,
            "xm_active": a.xm_active,
            "hrp": False,
            "n_ficc_positions": 1,
            "n_cme_positions": 1 if a.xm_active else 0,
            "r_ficc": 0.0,
            "r_cme": 0.0,
            "r_applied": 0.0,
            "call_amount": a.call_amount,
        }
        row.update({m: float(a.money.get(m, 0.0)) for m in MARGIN_MONEY})
        rows.append(row)
    schema = {
        "business_date": pl.Date,
        "account_id": pl.Utf8,
        "account_class": pl.Utf8,
        "xm_active": pl.Boolean,
        "hrp": pl.Boolean,
        "n_ficc_positions": pl.Int64,
        "n_cme_positions": pl.Int64,
        "r_ficc": pl.Float64,
        "r_cme": pl.Float64,
        "r_applied": pl.Float64,
        "call_amount": pl.Int64,
        **{m: pl.Float64 for m in MARGIN_MONEY},
    }
    return pl.DataFrame(rows, schema=schema)


def _calls(day: dt.date, calls: Mapping[str, int]) -> pl.DataFrame:
    ids = sorted(calls)
    return pl.DataFrame(
        {
            "business_date": [day] * len(ids),
            "call_id": [f"{day:%Y%m%d}-{a}" for a in ids],
            "account_id": ids,
            "customer_lei": ["5493000000000000000" + str(i % 10) for i in range(len(ids))],
            "call_amount": [calls[a] for a in ids],
            "maintenance_requirement": [float(calls[a]) for a in ids],
            "initial_requirement": [float(calls[a]) for a in ids],
            "equity": [0.0] * len(ids),
            "due_by": [due_by(day)] * len(ids),
        },
        schema_overrides={"call_amount": pl.Int64, "due_by": pl.Datetime("us", "America/New_York")},
    )


def _reserve(day: dt.date, reserve: Mapping[str, Mapping[str, float]]) -> pl.DataFrame:
    rows = [
        {
            "business_date": day,
            "book": book,
            "line": line.line,
            "side": line.side,
            "description": line.description,
            "amount": float(reserve.get(book, {}).get(line.line, 0.0)),
        }
        for book in BOOKS
        for line in LINES
    ]
    return pl.DataFrame(rows)


def publish_day(
    root: Path,
    day: dt.date,
    *,
    accounts: Sequence[Account] = (),
    calls: Mapping[str, int] | None = None,
    documents: Sequence[str] = (),
    reserve: Mapping[str, Mapping[str, float]] | None = None,
    seg: tuple[float, float] = (0.0, 0.0),
    run_id: str | None = None,
    params: Params | None = None,
    drop: Sequence[str] = (),
) -> Path:
    """Publish D with the given figures; `drop` deletes tables afterwards (a damaged folder)."""
    calls = dict(calls or {})
    extra = [Account(a, call_amount=n) for a, n in calls.items()]
    known = {a.account_id for a in accounts}
    all_accounts = [*accounts, *(a for a in extra if a.account_id not in known)]
    seg_required, funds_held = seg
    tables = {
        "margin_by_account": _margin(day, all_accounts),
        "margin_calls": _calls(day, calls),
        "reserve_computation": _reserve(day, reserve or {}),
        "xm_segregation": pl.DataFrame(
            {"business_date": [day], "account_id": ["XM0"], "equity": [seg_required]},
        ).with_columns(pl.col("equity").alias("seg_required")),
        "xm_segregation_summary": pl.DataFrame(
            {
                "business_date": [day],
                "seg_required": [seg_required],
                "funds_held": [funds_held],
                "residual_interest": [funds_held - seg_required],
                "is_shortfall": [round(funds_held - seg_required, 2) < 0],
            }
        ),
        "exceptions": pl.DataFrame(
            {
                "business_date": [day] * len(documents),
                "kind": ["XM_OPT_IN_WITHOUT_DOCUMENTS"] * len(documents),
                "account_id": list(documents),
                "detail": ["opted in but lacks documents"] * len(documents),
            },
            schema={
                "business_date": pl.Date,
                "kind": pl.Utf8,
                "account_id": pl.Utf8,
                "detail": pl.Utf8,
            },
        ),
    }
    tables["dv01_by_tenor"] = pl.DataFrame(
        {
            "business_date": [day],
            "tenor_years": [10.0],
            "ficc_net_dv01": [0.0],
            "cme_net_dv01": [0.0],
            "net_dv01": [0.0],
            "gross_dv01": [0.0],
        }
    )
    ctx = RunContext(
        business_date=day,
        data_root=root,
        run_id=run_id or f"run-{day:%Y%m%d}",
        params=params or default_params(),
        started_at=dt.datetime.combine(day, dt.time(23, 0), tzinfo=dt.UTC),
    )
    link = publish(ctx, tables, [], {})
    for table in drop:
        (link.resolve() / f"{table}.parquet").unlink()
    return link


def credits(customer: float, pab: float = 0.0) -> dict[str, dict[str, float]]:
    """Reserve lines with only total credits set (SPEC §10.3 reads nothing else)."""
    return {"CUSTOMER": {"total_credits": customer}, "PAB": {"total_credits": pab}}


def requirement(
    customer: tuple[float, float], pab: tuple[float, float] = (0.0, 0.0)
) -> dict[str, dict[str, float]]:
    """Reserve lines with (reserve_requirement, on_deposit) per book."""
    return {
        book: {"reserve_requirement": req, "on_deposit": dep}
        for book, (req, dep) in (("CUSTOMER", customer), ("PAB", pab))
    }
