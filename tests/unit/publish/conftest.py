"""Small but complete output tables, shaped like the unrounded frames the stages hand over."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from pipeline.calendar import due_by
from pipeline.config import load_params
from pipeline.context import RunContext

GOLDEN = Path(__file__).parents[2] / "golden"
D = dt.date(2026, 11, 20)


def make_tables(equity_xm1: float = 77000.0) -> dict[str, pl.DataFrame]:
    """Every published table for two accounts, unrounded float64 money, rows out of order."""
    money = [
        "ficc_regular_im",
        "cme_regular_im",
        "f_sa",
        "f_sep",
        "f_all",
        "c_sa",
        "c_sep",
        "c_all",
    ]
    margin = pl.DataFrame(
        {
            "business_date": [D, D],
            "account_id": ["XM1", "HX1"],
            "account_class": ["CUSTOMER", "HOUSE"],
            "xm_active": [True, True],
            "hrp": [False, False],
            "n_ficc_positions": pl.Series([2, 1], dtype=pl.UInt32),
            "n_cme_positions": pl.Series([1, 1], dtype=pl.UInt32),
            **{m: [1000.0 / 3, 70000.0] for m in money},
            "r_ficc": [0.9999999999999999, 0.6551724137931034],
            "r_cme": [0.9342105263157894, 0.6228070175438596],
            "r_applied": [0.8, 0.6228070175438596],
            "ficc_xm_im": [14000.0, 26403.508771929824],
            "cme_xm_im": [53200.0, 50166.666666666664],
            "ficc_im": [18000.0, 26403.508771929824],
            "cme_im": [53200.0, 50166.666666666664],
            "maintenance_requirement": [71200.0, 76570.17543859649],
            "initial_requirement": [71200.0, 89771.92982456141],
            "equity": [equity_xm1, 60000.0],
            "excess_deficit": [equity_xm1 - 71200.0, -29771.92982456141],
            "call_amount": [0.0, 0.0],
        }
    )
    calls = pl.DataFrame(
        {
            "business_date": [D],
            "call_id": ["20261120-NX1"],
            "account_id": ["NX1"],
            "customer_lei": ["549300NX100000000040"],
            "call_amount": [80100],
            "maintenance_requirement": [336000.0],
            "initial_requirement": [380100.00000000006],
            "equity": [300000.0],
            "due_by": [due_by(D)],
        }
    )
    lines = ["excess_on_deposit", "item_10", "item_1", "total_credits"]
    reserve = pl.DataFrame(
        {
            "business_date": [D] * 8,
            "book": ["PAB"] * 4 + ["CUSTOMER"] * 4,
            "line": lines * 2,
            "side": ["total", "debit", "credit", "credit"] * 2,
            "description": ["d"] * 8,
            "amount": [0.125, 1.0, 2.675, 3.0, 4.0, 5.0, 6.0, 7.0],
        }
    )
    seg = pl.DataFrame(
        {
            "business_date": [D],
            "account_id": ["XM1"],
            "equity": [equity_xm1],
            "seg_required": [equity_xm1],
        }
    )
    summary = pl.DataFrame(
        {
            "business_date": [D],
            "seg_required": [equity_xm1],
            "funds_held": [80000.0],
            "residual_interest": [80000.0 - equity_xm1],
            "is_shortfall": [False],
        }
    )
    exceptions = pl.DataFrame(
        {
            "business_date": [D, D, D],
            "kind": ["XM_OPT_IN_WITHOUT_DOCUMENTS", "VALIDATION_WARNING", "VALIDATION_WARNING"],
            "account_id": ["NX1", None, "A1"],
            "detail": ["opted in", "extra column", "below min_call_amount"],
        }
    )
    dv01 = pl.DataFrame(
        {
            "business_date": [D, D],
            "tenor_years": [30.0, 0.25],
            "ficc_net_dv01": [-2.25, 1.5],
            "cme_net_dv01": [0.0, -0.5],
            "net_dv01": [-2.25, 1.0],
            "gross_dv01": [2.25, 2.0],
        }
    )
    return {
        "margin_by_account": margin,
        "margin_calls": calls,
        "reserve_computation": reserve,
        "xm_segregation": seg,
        "xm_segregation_summary": summary,
        "exceptions": exceptions,
        "dv01_by_tenor": dv01,
    }


@pytest.fixture
def tables() -> dict[str, pl.DataFrame]:
    return make_tables()


def make_ctx(root: Path, run_id: str) -> RunContext:
    return RunContext(
        business_date=D,
        data_root=root,
        run_id=run_id,
        params=load_params(GOLDEN / "01_xm_basis_cap" / "params.yaml"),
        started_at=dt.datetime(2026, 11, 21, 1, 0, tzinfo=dt.UTC),
    )


@pytest.fixture
def build_tables() -> Callable[..., dict[str, pl.DataFrame]]:
    """The table factory, for tests that need variants (test modules cannot import conftest)."""
    return make_tables


@pytest.fixture
def build_ctx() -> Callable[[Path, str], RunContext]:
    return make_ctx
