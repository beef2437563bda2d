"""A deliberately naive, per-account reading of SPEC §4-§5, used only as a test oracle.

Plain Python loops and dicts, written from the SPEC text without looking at the engine: any
disagreement with the vectorised engine is a defect in one of the two.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from fractions import Fraction
from typing import Any

from pipeline.config import Params
from pipeline.margin import MarginInputs


def _key_rates(positions: list[tuple[float, float]], tenors: tuple[float, ...]) -> list[float]:
    out = [0.0] * len(tenors)
    for s, t in positions:
        if t <= tenors[0]:
            out[0] += s
        elif t >= tenors[-1]:
            out[-1] += s
        else:
            i = max(j for j in range(len(tenors)) if tenors[j] <= t)
            w = (tenors[i + 1] - t) / (tenors[i + 1] - tenors[i])
            out[i] += w * s
            out[i + 1] += (1 - w) * s
    return out


def _f(positions: list[tuple[float, float]], params: Params, scen: list[list[float]]) -> float:
    if not positions:
        return 0.0
    s = _key_rates(positions, params.key_rate_tenors)
    losses = sorted(sum(sk * dy for sk, dy in zip(s, row, strict=True)) for row in scen)
    m = math.ceil(Fraction(str(params.ficc.var_confidence)) * len(losses))
    var = max(0.0, losses[m - 1])
    floor = params.ficc.floor_fraction * sum(
        abs(sk) * b for sk, b in zip(s, params.ficc.floor_shock_bp, strict=True)
    )
    return max(var, floor)


def _c(positions: list[tuple[str, str, float]], params: Params) -> float:
    """positions: (combined commodity, tier, s)."""
    if not positions:
        return 0.0
    net: dict[str, float] = defaultdict(float)
    tiers: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for cc, tier, s in positions:
        net[cc] += s
        tiers[cc][tier] += s
    products = params.cme.products
    scan = sum(abs(v) * products[cc].scan_bp for cc, v in net.items())
    intra = 0.0
    for cc, by_tier in tiers.items():
        up = sum(max(d, 0.0) for d in by_tier.values())
        down = sum(max(-d, 0.0) for d in by_tier.values())
        intra += products[cc].intra_bp * min(up, down)
    r = dict(net)
    credit = 0.0
    for spread in params.cme.inter_spreads:
        ra, rb = r.get(spread.a, 0.0), r.get(spread.b, 0.0)
        if ra * rb < 0:
            m = min(abs(ra), abs(rb))
            credit += spread.credit * m * (products[spread.a].scan_bp + products[spread.b].scan_bp)
            r[spread.a] = ra - math.copysign(m, ra)
            r[spread.b] = rb - math.copysign(m, rb)
    return max(0.0, scan + intra - credit)


def _on_or_before(value: dt.date | None, d: dt.date) -> bool:
    return value is not None and value <= d


def reference_margin(inputs: MarginInputs, params: Params, d: dt.date) -> dict[str, dict[str, Any]]:
    accounts = {r["account_id"]: r for r in inputs.accounts.collect().iter_rows(named=True)}
    secs = {r["cusip"]: r for r in inputs.treasury_securities.collect().iter_rows(named=True)}
    cons = {r["contract_id"]: r for r in inputs.cme_contracts.collect().iter_rows(named=True)}
    balances = {r["account_id"]: r for r in inputs.balances.collect().iter_rows(named=True)}
    scen = [
        [row[c] for c in params.tenor_columns]
        for row in inputs.ficc_var_scenarios.collect().iter_rows(named=True)
    ]
    par: dict[tuple[str, str], int] = defaultdict(int)
    for r in inputs.ficc_positions.collect().iter_rows(named=True):
        par[(r["account_id"], r["cusip"])] += r["par_amount"]
    qty: dict[tuple[str, str], int] = defaultdict(int)
    for r in inputs.cme_positions.collect().iter_rows(named=True):
        qty[(r["account_id"], r["contract_id"])] += r["long_qty"] - r["short_qty"]
    ids = {a for a, _ in par} | {a for a, _ in qty} | set(balances)
    out: dict[str, dict[str, Any]] = {}
    for a in sorted(ids):
        acc = accounts[a]
        cls = acc["account_class"]
        if cls == "CUSTOMER":
            xm = all(
                _on_or_before(acc[k], d)
                for k in ("xm_opt_in_date", "subordination_agreement_date", "disclosure_ack_date")
            )
        else:
            xm = cls == "HOUSE" and _on_or_before(acc["xm_opt_in_date"], d)
        reg_cash, xm_cash, xm_cash_cme, reg_fut, xm_fut, xm_fut_cme = [], [], [], [], [], []
        n_ficc = n_cme = 0
        for (acct, cusip), p in par.items():
            if acct != a or p == 0:
                continue
            n_ficc += 1
            sec = secs[cusip]
            days = (sec["maturity_date"] - d).days
            s = p / 100 * sec["dv01_per_100"]
            t = days / 365.25
            eligible = sec["security_type"] in params.xm.eligible_ficc_types and days > (
                365 * params.xm.min_remaining_years
            )
            if xm and eligible:
                xm_cash.append((s, t))
                bucket = next(b for b in params.cme.cash_mapping if b.lo < t <= b.hi)
                xm_cash_cme.append((bucket.product, "CASH", s))
            else:
                reg_cash.append((s, t))
        for (acct, contract), q in qty.items():
            if acct != a or q == 0:
                continue
            n_cme += 1
            con = cons[contract]
            s = q * con["dv01_per_contract"]
            leg = (con["product_code"], con["maturity_month"], s)
            if xm and con["product_code"] in params.xm.eligible_cme_products:
                xm_fut.append((s, con["risk_tenor_years"]))
                xm_fut_cme.append(leg)
            else:
                reg_fut.append(leg)
        f_sa = _f(xm_cash, params, scen)
        f_sep = f_sa + _f(xm_fut, params, scen)
        f_all = _f(xm_cash + xm_fut, params, scen)
        c_sa = _c(xm_fut_cme, params)
        c_sep = c_sa + _c(xm_cash_cme, params)
        c_all = _c(xm_cash_cme + xm_fut_cme, params)
        r_f = max(0.0, 1 - f_all / f_sep) if f_sep > 0 else 0.0
        r_c = max(0.0, 1 - c_all / c_sep) if c_sep > 0 else 0.0
        r = min(r_f, r_c, params.xm.max_reduction)
        ficc_im = _f(reg_cash, params, scen) + f_sa * (1 - r)
        cme_im = _c(reg_fut, params) + c_sa * (1 - r)
        maint = ficc_im + cme_im
        ratio = params.cme.hrp_initial_ratio if acc["hrp"] else 1.0
        initial = max(ficc_im * acc["ficc_multiplier"] + cme_im * ratio, maint)
        b = balances.get(a)
        equity = (
            b["cash_balance"]
            + b["securities_collateral_value"] * (1 - b["collateral_haircut_pct"] / 100)
            if b
            else 0.0
        )
        call = 0
        if cls in ("CUSTOMER", "PAB") and equity < maint:
            amount = math.ceil(round(initial - equity, 6))
            if amount >= params.customer.min_call_amount:
                call = amount
        out[a] = {
            "xm_active": xm, "n_ficc_positions": n_ficc, "n_cme_positions": n_cme,
            "f_sa": f_sa, "f_sep": f_sep, "f_all": f_all, "c_sa": c_sa, "c_sep": c_sep,
            "c_all": c_all, "r_ficc": r_f, "r_cme": r_c, "r_applied": r, "ficc_im": ficc_im,
            "cme_im": cme_im, "maintenance_requirement": maint, "initial_requirement": initial,
            "equity": equity, "call_amount": call,
        }  # fmt: skip
    return out
