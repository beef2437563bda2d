"""Builders of MarginInputs for tests: golden inboxes read directly, and tiny inline books."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.config import Params, load_params
from pipeline.margin import MarginInputs

GOLDEN = Path(__file__).parents[2] / "golden"
D = dt.date(2026, 11, 20)
TENOR_COLUMNS = (
    "dy_0_25",
    "dy_0_5",
    "dy_1",
    "dy_2",
    "dy_3",
    "dy_5",
    "dy_7",
    "dy_10",
    "dy_20",
    "dy_30",
)

ACCOUNTS = {
    "account_id": pl.String,
    "customer_lei": pl.String,
    "account_class": pl.String,
    "xm_opt_in_date": pl.Date,
    "subordination_agreement_date": pl.Date,
    "disclosure_ack_date": pl.Date,
    "hrp": pl.Boolean,
    "ficc_multiplier": pl.Float64,
}
SECURITIES = {
    "cusip": pl.String,
    "security_type": pl.String,
    "coupon_rate": pl.Float64,
    "issue_date": pl.Date,
    "maturity_date": pl.Date,
    "clean_price": pl.Float64,
    "accrued_interest": pl.Float64,
    "dv01_per_100": pl.Float64,
}
CONTRACTS = {
    "contract_id": pl.String,
    "product_code": pl.String,
    "maturity_month": pl.String,
    "settlement_price": pl.Float64,
    "dv01_per_contract": pl.Float64,
    "risk_tenor_years": pl.Float64,
}
FICC = {
    "business_date": pl.Date,
    "clearing_member_id": pl.String,
    "account_id": pl.String,
    "cusip": pl.String,
    "settlement_date": pl.Date,
    "par_amount": pl.Int64,
}
CME = {
    "rpt_id": pl.String,
    "business_date": pl.Date,
    "account_id": pl.String,
    "clearing_firm_id": pl.String,
    "contract_id": pl.String,
    "product_symbol": pl.String,
    "maturity_month": pl.String,
    "sod_long": pl.Int64,
    "sod_short": pl.Int64,
    "long_qty": pl.Int64,
    "short_qty": pl.Int64,
    "fmtm_amount": pl.Float64,
    "settlement_price": pl.Float64,
}
BALANCES = {
    "account_id": pl.String,
    "cash_balance": pl.Float64,
    "securities_collateral_value": pl.Float64,
    "collateral_haircut_pct": pl.Float64,
    "ficc_margin_on_deposit": pl.Float64,
    "debit_unsecured": pl.Boolean,
    "debit_doubtful": pl.Boolean,
}
SCENARIOS = {"scenario_id": pl.Int64, **dict.fromkeys(TENOR_COLUMNS, pl.Float64)}


def golden_params(case: str, name: str = "params.yaml") -> Params:
    return load_params(GOLDEN / case / name)


def _read_fixml(path: Path) -> pl.DataFrame:
    """CME positions from the golden FIXML, namespaced or not, with xml.etree (test helper)."""
    rows: list[dict[str, Any]] = []
    for report in ET.parse(path).getroot().iter():
        if report.tag.split("}")[-1] != "PosRpt":
            continue
        parts = {el.tag.split("}")[-1]: el for el in report}
        parties = {p.get("R"): p.get("ID") for p in report if p.tag.endswith("Pty")}
        quantities = {q.get("Typ"): q for q in report if q.tag.endswith("Qty")}
        instrument = parts["Instrmt"]
        rows.append(
            {
                "rpt_id": report.get("RptID"),
                "business_date": dt.date.fromisoformat(str(report.get("BizDt"))),
                "account_id": parties["24"],
                "clearing_firm_id": parties.get("4"),
                "contract_id": instrument.get("ID"),
                "product_symbol": instrument.get("Sym"),
                "maturity_month": instrument.get("MMY"),
                "sod_long": int(quantities["SOD"].get("Long", 0)),
                "sod_short": int(quantities["SOD"].get("Short", 0)),
                "long_qty": int(quantities["FIN"].get("Long", 0)),
                "short_qty": int(quantities["FIN"].get("Short", 0)),
                "fmtm_amount": None,
                "settlement_price": float(report.get("SetPx", "nan")),
            }
        )
    return pl.DataFrame(rows, schema=CME)


def golden_inputs(case: str) -> MarginInputs:
    """MarginInputs of a golden case, read from its inbox with explicit staged schemas."""
    inbox = GOLDEN / case / "inbox" / "20261120"

    def csv(name: str, schema: dict[str, Any]) -> pl.DataFrame:
        return pl.read_csv(inbox / f"{name}_20261120.csv", schema=schema)

    return MarginInputs.from_frames(
        accounts=csv("accounts", ACCOUNTS),
        treasury_securities=csv("treasury_securities", SECURITIES),
        cme_contracts=csv("cme_contracts", CONTRACTS),
        ficc_positions=csv("ficc_positions", FICC),
        cme_positions=_read_fixml(inbox / "cme_positions_20261120.xml"),
        balances=csv("balances", BALANCES),
        ficc_var_scenarios=csv("ficc_var_scenarios", SCENARIOS),
    )


# The golden security and contract masters serve the inline books as well.
def golden_securities() -> pl.DataFrame:
    path = GOLDEN / "01_xm_basis_cap" / "inbox" / "20261120" / "treasury_securities_20261120.csv"
    return pl.read_csv(path, schema=SECURITIES)


def golden_contracts() -> pl.DataFrame:
    path = GOLDEN / "01_xm_basis_cap" / "inbox" / "20261120" / "cme_contracts_20261120.csv"
    return pl.read_csv(path, schema=CONTRACTS)


def parallel_scenarios(moves: Sequence[float]) -> pl.DataFrame:
    """One scenario per move, every tenor moving by the same number of bp."""
    return pl.DataFrame(
        {
            "scenario_id": list(range(1, len(moves) + 1)),
            **{c: [float(m) for m in moves] for c in TENOR_COLUMNS},
        },
        schema=SCENARIOS,
    )


def account(account_id: str, account_class: str = "CUSTOMER", **fields: Any) -> dict[str, Any]:
    """An account master row; `xm=True` gives all three XM dates well before D."""
    xm = fields.pop("xm", False)
    start = dt.date(2026, 1, 2) if xm else None
    row: dict[str, Any] = {
        "account_id": account_id,
        "customer_lei": f"LEI{account_id}".ljust(20, "0")[:20],
        "account_class": account_class,
        "xm_opt_in_date": start,
        "subordination_agreement_date": start,
        "disclosure_ack_date": start,
        "hrp": False,
        "ficc_multiplier": 1.0,
    }
    row.update(fields)
    return row


def book(
    accounts: Sequence[dict[str, Any]],
    ficc: Sequence[tuple[str, str, int]] = (),
    cme: Sequence[tuple[str, str, int, int]] = (),
    balances: Sequence[tuple[str, float]] | None = None,
    scenarios: pl.DataFrame | None = None,
    securities: pl.DataFrame | None = None,
    contracts: pl.DataFrame | None = None,
) -> MarginInputs:
    """A small book: ficc rows (account, cusip, par), cme rows (account, contract, long, short),
    balances (account, cash) with no collateral; by default every account has cash 0."""
    if balances is None:
        balances = [(a["account_id"], 0.0) for a in accounts]
    return MarginInputs.from_frames(
        accounts=pl.DataFrame(list(accounts), schema=ACCOUNTS),
        treasury_securities=securities if securities is not None else golden_securities(),
        cme_contracts=contracts if contracts is not None else golden_contracts(),
        ficc_positions=pl.DataFrame(
            [
                {
                    "business_date": D,
                    "clearing_member_id": "0905",
                    "account_id": a,
                    "cusip": c,
                    "settlement_date": D,
                    "par_amount": p,
                }
                for a, c, p in ficc
            ],
            schema=FICC,
        ),
        cme_positions=pl.DataFrame(
            [
                {
                    "rpt_id": f"R{i}",
                    "business_date": D,
                    "account_id": a,
                    "contract_id": c,
                    "long_qty": lo,
                    "short_qty": sh,
                }
                for i, (a, c, lo, sh) in enumerate(cme)
            ],
            schema=CME,
        ),
        balances=pl.DataFrame(
            [
                {
                    "account_id": a,
                    "cash_balance": cash,
                    "securities_collateral_value": 0.0,
                    "collateral_haircut_pct": 0.0,
                    "ficc_margin_on_deposit": 0.0,
                    "debit_unsecured": False,
                    "debit_doubtful": False,
                }
                for a, cash in balances
            ],
            schema=BALANCES,
        ),
        ficc_var_scenarios=(
            scenarios if scenarios is not None else parallel_scenarios(range(-9, 11))
        ),
    )
