"""A synthetic published folder, to test the report at scale (SPEC §7.7): test code only.

The tables have the real published schemas (written by `pipeline.publish.write_table`) and are
internally consistent (requirements, calls, reserve lines and 4d totals follow SPEC §5-§6 from
the drawn components), but the numbers are random: this is not a margin engine. What it shares
with the engine is read from the engine's own sources: the key-rate tenors and the reduction cap
of the shipped parameter file, the Exhibit A items, the exception wording.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipeline.calendar import due_by
from pipeline.config import load_params
from pipeline.margin.columns import XM_DOCUMENTS_DETAIL
from pipeline.publish import write_table
from pipeline.reserve.exhibit_a import ITEMS, LINES
from pipeline.resources import SHIPPED_PARAMS_DIR

_PARAMS = load_params(SHIPPED_PARAMS_DIR / "margin_params.yaml")
TENORS = _PARAMS.key_rate_tenors
MAX_REDUCTION = _PARAMS.xm.max_reduction


def _margin(n: int, day: dt.date, rng: np.random.Generator) -> pl.DataFrame:
    cls = rng.choice(["CUSTOMER", "PAB", "HOUSE"], size=n, p=[0.7, 0.15, 0.15])
    xm = ((cls == "CUSTOMER") & (rng.random(n) < 0.4)) | ((cls == "HOUSE") & (rng.random(n) < 0.5))
    hrp = rng.random(n) < 0.1
    mult = np.where(rng.random(n) < 0.2, 1.25, 1.0)
    ficc_reg = np.where(rng.random(n) < 0.8, rng.lognormal(10, 1.5, n), 0.0)
    cme_reg = np.where(rng.random(n) < 0.6, rng.lognormal(10, 1.5, n), 0.0)
    f_sa = np.where(xm, rng.lognormal(11, 1.2, n), 0.0)
    c_sa = np.where(xm, rng.lognormal(11, 1.2, n), 0.0)
    r_ficc = np.where(xm, rng.beta(5, 2, n), 0.0)
    r_cme = np.where(xm, rng.beta(5, 2, n), 0.0)
    r = np.minimum(np.minimum(r_ficc, r_cme), MAX_REDUCTION)
    ficc_xm = f_sa * (1 - r)
    cme_xm = c_sa * (1 - r)
    ficc_im = ficc_reg + ficc_xm
    cme_im = cme_reg + cme_xm
    maint = ficc_im + cme_im
    initial = np.maximum(ficc_im * mult + cme_im * np.where(hrp, 1.1, 1.0), maint)
    equity = maint * rng.lognormal(0.3, 0.5, n) - np.where(rng.random(n) < 0.03, maint * 2, 0.0)
    called = (equity < maint) & (cls != "HOUSE")
    call = np.where(called, np.ceil(np.round(initial - equity, 6)), 0.0)
    return pl.DataFrame(
        {
            "business_date": [day] * n,
            "account_id": [f"ACCT-{i:06d}" for i in range(n)],
            "account_class": cls,
            "xm_active": xm,
            "hrp": hrp,
            "n_ficc_positions": rng.integers(0, 12, n),
            "n_cme_positions": rng.integers(0, 6, n),
            "ficc_regular_im": ficc_reg,
            "cme_regular_im": cme_reg,
            "f_sa": f_sa,
            "f_sep": f_sa * 1.6,
            "f_all": f_sa * 1.6 * (1 - r_ficc),
            "c_sa": c_sa,
            "c_sep": c_sa * 1.7,
            "c_all": c_sa * 1.7 * (1 - r_cme),
            "r_ficc": r_ficc,
            "r_cme": r_cme,
            "r_applied": r,
            "ficc_xm_im": ficc_xm,
            "cme_xm_im": cme_xm,
            "ficc_im": ficc_im,
            "cme_im": cme_im,
            "maintenance_requirement": maint,
            "initial_requirement": initial,
            "equity": equity,
            "excess_deficit": equity - initial,
            "call_amount": call.astype(np.int64),
            "cash": equity * 0.6,
            "lei": [f"5493{i:016d}" for i in range(n)],
        }
    )


def _reserve(margin: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for book, on_deposit in (("CUSTOMER", 2.5e8), ("PAB", 1.0e6)):
        accts = margin.filter((pl.col("account_class") == book) & ~pl.col("xm_active"))
        items = {item.line: 0.0 for item in ITEMS}
        items["item_1"] = float(accts["cash"].clip(lower_bound=0).sum())
        items["item_10"] = float((-accts["cash"]).clip(lower_bound=0).sum())
        items["item_15"] = float(accts["ficc_regular_im"].sum()) * 0.9
        items["item_2"] = 1.5e6
        credits = sum(items[item.line] for item in ITEMS if item.side == "credit")
        debits = sum(items[item.line] for item in ITEMS if item.side == "debit")
        reduction = debits * 0.02 if book == "CUSTOMER" else 0.0
        requirement = max(0.0, credits - (debits - reduction))
        amounts = {
            **items,
            "total_credits": credits,
            "total_debits": debits,
            "debit_reduction": reduction,
            "reserve_requirement": requirement,
            "on_deposit": on_deposit,
            "deposit_required": max(0.0, requirement - on_deposit),
            "excess_on_deposit": max(0.0, on_deposit - requirement),
        }
        rows += [
            {
                "business_date": day,
                "book": book,
                "line": line.line,
                "side": line.side,
                "description": line.description,
                "amount": amounts[line.line],
            }
            for line in LINES
        ]
    return pl.DataFrame(rows)


def sample_tables(
    n_accounts: int = 500, seed: int = 7, day: dt.date = dt.date(2026, 11, 20)
) -> dict[str, pl.DataFrame]:
    """Every published table, unrounded, as the stages hand them to `pipeline.publish`."""
    rng = np.random.default_rng(seed)
    margin = _margin(n_accounts, day, rng)
    called = margin.filter(pl.col("call_amount") > 0)
    calls = called.select(
        "business_date",
        (pl.lit(f"{day:%Y%m%d}-") + pl.col("account_id")).alias("call_id"),
        "account_id",
        pl.col("lei").alias("customer_lei"),
        "call_amount",
        "maintenance_requirement",
        "initial_requirement",
        "equity",
        pl.lit(due_by(day)).alias("due_by"),
    )
    seg = margin.filter(pl.col("xm_active") & (pl.col("account_class") == "CUSTOMER")).select(
        "business_date",
        "account_id",
        "equity",
        pl.col("equity").clip(lower_bound=0).alias("seg_required"),
    )
    seg_required = float(seg["seg_required"].sum())
    funds = seg_required * 0.98
    summary = pl.DataFrame(
        {
            "business_date": [day],
            "seg_required": [seg_required],
            "funds_held": [funds],
            "residual_interest": [funds - seg_required],
            "is_shortfall": [funds - seg_required < -0.005],
        }
    )
    docless = margin.filter(pl.col("account_class") == "CUSTOMER").head(3)["account_id"]
    exceptions = pl.DataFrame(
        {
            "business_date": [day] * (len(docless) + 1),
            "kind": ["XM_OPT_IN_WITHOUT_DOCUMENTS"] * len(docless) + ["VALIDATION_WARNING"],
            "account_id": [*docless.to_list(), None],
            "detail": [XM_DOCUMENTS_DETAIL] * len(docless)
            + ["accounts_20261120.csv: unknown extra column <note> & 'x'"],
        },
        schema={
            "business_date": pl.Date,
            "kind": pl.Utf8,
            "account_id": pl.Utf8,
            "detail": pl.Utf8,
        },
    )
    net = rng.normal(0, 2e5, len(TENORS)) * np.sqrt(n_accounts / 100)
    gross = np.abs(net) * 3 + rng.lognormal(11, 0.5, len(TENORS))
    dv01 = pl.DataFrame(
        {
            "business_date": [day] * len(TENORS),
            "tenor_years": list(TENORS),
            "ficc_net_dv01": net * 0.6,
            "cme_net_dv01": net * 0.4,
            "net_dv01": net,
            "gross_dv01": gross,
        }
    )
    tables = {
        "margin_by_account": margin.drop("cash", "lei"),
        "margin_calls": calls,
        "reserve_computation": _reserve(margin, day),
        "xm_segregation": seg,
        "xm_segregation_summary": summary,
        "exceptions": exceptions,
        "dv01_by_tenor": dv01,
    }
    return tables


def write_sample_folder(
    folder: Path, n_accounts: int = 500, seed: int = 7, day: dt.date = dt.date(2026, 11, 20)
) -> Path:
    """Write every published table, a manifest and a validation page into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = sample_tables(n_accounts, seed, day)
    margin = tables["margin_by_account"]
    calls = tables["margin_calls"]
    residual = float(tables["xm_segregation_summary"]["residual_interest"][0])
    outputs = [write_table(frame, name, folder) for name, frame in tables.items()]
    reserve = tables["reserve_computation"].filter(pl.col("line") == "reserve_requirement")
    manifest = {
        "run_id": f"sample-{seed}",
        "business_date": day.isoformat(),
        "started_at": "2026-11-21T01:00:00+00:00",
        "finished_at": "2026-11-21T01:05:00+00:00",
        "software_version": "sample",
        "params": {"version": "sample", "sha256": "0" * 64},
        "inputs": [
            {
                "name": f"accounts_{day:%Y%m%d}.csv",
                "sha256": "a" * 64,
                "bytes": 1234,
                "rows": n_accounts,
                "contract_version": "1.0.0",
                "outcome": "warning",
            },
        ],
        "outputs": outputs,
        "control_totals": {
            "accounts": margin.height,
            "sum_maintenance_requirement": float(margin["maintenance_requirement"].sum()),
            "sum_initial_requirement": float(margin["initial_requirement"].sum()),
            "calls_count": calls.height,
            "sum_call_amount": int(calls["call_amount"].sum()),
            "reserve_requirement": dict(reserve.select("book", "amount").iter_rows()),
            "xm_4d_residual_interest": residual,
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    validation = folder / "validation"
    validation.mkdir(exist_ok=True)
    (validation / "index.html").write_text("<!doctype html><title>validation</title><p>ok</p>")
    return folder
