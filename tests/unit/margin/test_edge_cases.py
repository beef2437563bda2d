"""Hand-worked edge cases of SPEC §4-§5 on tiny inline books.

Unless a test says otherwise: D = 2026-11-20, the golden security/contract masters, and 20
parallel scenarios moving every tenor by −9 … +10 bp (m = ceil(0.99·20) = 20: the largest loss).
For a key-rate vector summing to Σ the loss of a move a is Σ·a, so VaR = 10·Σ if Σ > 0 and 9·|Σ|
if Σ < 0. N8 = 91282CQ87 (NOTE, t = 2922/365.25 = 8.0, dv01 0.07), N4 = 91282CQ46 (NOTE, t = 4,
dv01 0.038), BILL = 912797Q18 (t = 63/365.25, dv01 0.002). ZNZ6: ZN, 202612, dv01 70, t 8.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib

import numpy as np
import polars as pl
import pytest
from margin_builders import D, account, book, golden_contracts, golden_params, parallel_scenarios
from polars.testing import assert_frame_equal

from pipeline.config import Params
from pipeline.errors import InternalError
from pipeline.margin import MarginInputs, compute_account_margin, finalize_margin
from pipeline.margin.inputs import MARGIN_INPUTS

N8, N4, BILL = "91282CQ87", "91282CQ46", "912797Q18"


@pytest.fixture(scope="module")
def params() -> Params:
    return golden_params("01_xm_basis_cap")


def _row(frame: pl.DataFrame, account_id: str) -> dict[str, object]:
    rows = frame.filter(pl.col("account_id") == account_id).to_dicts()
    assert len(rows) == 1, f"{account_id}: {len(rows)} rows"
    return rows[0]


def _approx(value: object, expected: float) -> bool:
    return abs(float(value) - expected) <= 1e-6  # type: ignore[arg-type]


def test_account_with_balance_only_is_listed_with_zero_requirements(params: Params) -> None:
    # No positions: every portfolio is empty, so F = C = 0 and maintenance = initial = 0.
    inputs = book([account("A")], balances=[("A", 1234.5)])
    row = _row(compute_account_margin(inputs, params, D), "A")
    for column in ("ficc_regular_im", "cme_regular_im", "f_sa", "f_sep", "c_all", "r_applied"):
        assert row[column] == 0.0, column
    assert row["maintenance_requirement"] == 0.0 and row["initial_requirement"] == 0.0
    assert row["equity"] == 1234.5 and row["excess_deficit"] == 1234.5
    assert row["call_amount"] == 0


def test_accounts_without_positions_or_balances_are_not_listed(params: Params) -> None:
    inputs = book([account("A"), account("DORMANT")], balances=[("A", 1.0)])
    frame = compute_account_margin(inputs, params, D)
    assert frame.get_column("account_id").to_list() == ["A"]


def test_f_sep_zero_gives_no_ficc_reduction(params: Params) -> None:
    # XM cash only (N8 +10,000,000, s = +7,000) and scenarios in which yields only fall (−1…−5):
    # every loss is negative, so VaR = 0; with floor_fraction 0, F_sa = F_sep = F_all = 0 and
    # r_ficc must be 0 (not a division by zero). C_sa = 0, C_sep = C_all = 7,000 × 38 = 266,000,
    # so r_cme = 0 and r_applied = 0.
    p = dataclasses.replace(params, ficc=dataclasses.replace(params.ficc, floor_fraction=0.0))
    inputs = book(
        [account("X", xm=True)],
        ficc=[("X", N8, 10_000_000)],
        scenarios=parallel_scenarios([-1, -2, -3, -4, -5]),
    )
    row = _row(compute_account_margin(inputs, p, D), "X")
    assert row["f_sa"] == 0.0 and row["f_sep"] == 0.0 and row["f_all"] == 0.0
    assert row["r_ficc"] == 0.0
    assert _approx(row["c_sep"], 266_000) and _approx(row["c_all"], 266_000)
    assert row["r_cme"] == 0.0 and row["r_applied"] == 0.0
    assert row["maintenance_requirement"] == 0.0


def test_xm_futures_only(params: Params) -> None:
    # XM-active, only ZNZ6 −100 (s = −7,000 at 8y): F_sa = 0; F(futures) = 9 × 7,000 = 63,000
    # (floor 0.10 × (4,666.67×42 + 2,333.33×45) = 30,100); F_sep = F_all = 63,000 → r_ficc = 0.
    # C_sa = 7,000 × 38 = 266,000 = C_sep = C_all → r_cme = 0. ficc_xm_im = F_sa = 0,
    # cme_xm_im = 266,000 = maintenance = initial.
    inputs = book([account("X", xm=True)], cme=[("X", "ZNZ6", 0, 100)])
    row = _row(compute_account_margin(inputs, params, D), "X")
    assert row["f_sa"] == 0.0
    assert _approx(row["f_sep"], 63_000) and _approx(row["f_all"], 63_000)
    assert _approx(row["c_sa"], 266_000) and _approx(row["c_sep"], 266_000)
    assert row["r_ficc"] == 0.0 and row["r_cme"] == 0.0
    assert row["ficc_xm_im"] == 0.0 and _approx(row["cme_xm_im"], 266_000)
    assert _approx(row["maintenance_requirement"], 266_000)
    assert row["n_ficc_positions"] == 0 and row["n_cme_positions"] == 1


def test_xm_cash_only(params: Params) -> None:
    # XM-active, only N4 +10,000,000: s = 3,800 at 4y (3y 1,900, 5y 1,900). F_sa = 10 × 3,800 =
    # 38,000 (floor 0.10 × (1,900×35 + 1,900×40) = 14,250) = F_sep = F_all → r_ficc = 0.
    # C(cash): t = 4 ∈ (3.5, 5.5] → ZF: 3,800 × 32 = 121,600 = C_sep = C_all; C_sa = 0 → r_cme 0.
    inputs = book([account("X", xm=True)], ficc=[("X", N4, 10_000_000)])
    row = _row(compute_account_margin(inputs, params, D), "X")
    assert _approx(row["f_sa"], 38_000) and _approx(row["f_sep"], 38_000)
    assert row["c_sa"] == 0.0 and _approx(row["c_sep"], 121_600) and _approx(row["c_all"], 121_600)
    assert row["r_applied"] == 0.0
    assert _approx(row["ficc_xm_im"], 38_000) and row["cme_xm_im"] == 0.0


@pytest.mark.parametrize(("cap", "applied"), [(0.80, 0.80), (0.50, 0.50), (0.99, 497 / 532)])
def test_reduction_cap(params: Params, cap: float, applied: float) -> None:
    # Golden XM1 basis trade (N8 +10mm vs ZNZ6 −100): r_ficc ≈ 1, r_cme = 497/532 ≈ 0.934.
    # r_applied = min(r_ficc, r_cme, cap): the cap binds at 0.80 and 0.50, r_cme at 0.99.
    # ficc_xm_im = 70,000 × (1 − r), cme_xm_im = 266,000 × (1 − r).
    p = dataclasses.replace(params, xm=dataclasses.replace(params.xm, max_reduction=cap))
    inputs = book(
        [account("X", xm=True)], ficc=[("X", N8, 10_000_000)], cme=[("X", "ZNZ6", 0, 100)]
    )
    row = _row(compute_account_margin(inputs, p, D), "X")
    assert _approx(row["r_applied"], applied)
    assert _approx(row["ficc_xm_im"], 70_000 * (1 - applied))
    assert _approx(row["cme_xm_im"], 266_000 * (1 - applied))


@pytest.mark.parametrize(("hrp", "initial"), [(True, 29_260.0), (False, 26_600.0)])
def test_hrp_ratio_applies_to_cme_only(params: Params, hrp: bool, initial: float) -> None:
    # ZNZ6 +10 (s = 700) → cme 700 × 38 = 26,600; BILL +5,000,000 → s = 100 at 0.25y:
    # FICC = max(10 × 100, 0.10 × 100 × 20) = 1,000, multiplier 2 → 2,000.
    # HRP: initial = 2,000 + 26,600 × 1.10 = 31,260; not HRP: 2,000 + 26,600 = 28,600.
    inputs = book(
        [account("A", hrp=hrp, ficc_multiplier=2.0)],
        ficc=[("A", BILL, 5_000_000)],
        cme=[("A", "ZNZ6", 10, 0)],
    )
    row = _row(compute_account_margin(inputs, params, D), "A")
    assert _approx(row["maintenance_requirement"], 27_600)
    assert _approx(row["initial_requirement"], initial + 2_000)


def test_xm_activity_and_missing_documents(params: Params) -> None:
    # Same basis trade in five accounts. Only the fully documented CUSTOMER and the opted-in
    # HOUSE are XM-active; the CUSTOMER whose disclosure is dated after D is listed as an
    # exception; PAB never; a CUSTOMER opting in after D is simply not XM (no exception).
    later = D + dt.timedelta(days=1)
    accounts = [
        account("CX", xm=True),
        account("CLATE", xm=True, disclosure_ack_date=later),
        account("CNOSUB", xm=True, subordination_agreement_date=None),
        account("CFUT", xm=True, xm_opt_in_date=later),
        account("H", "HOUSE", xm_opt_in_date=dt.date(2026, 1, 2)),
        account("P", "PAB", xm=True),
    ]
    ids = [a["account_id"] for a in accounts]
    inputs = book(
        accounts,
        ficc=[(a, N8, 10_000_000) for a in ids],
        cme=[(a, "ZNZ6", 0, 100) for a in ids],
    )
    frame = compute_account_margin(inputs, params, D)
    active = dict(zip(frame["account_id"], frame["xm_active"], strict=True))
    assert active == {
        "CFUT": False, "CLATE": False, "CNOSUB": False, "CX": True, "H": True, "P": False,
    }  # fmt: skip
    # Not XM-active: everything regular, 70,000 + 266,000 (golden NX1).
    assert _approx(_row(frame, "CLATE")["maintenance_requirement"], 336_000)
    assert _row(frame, "CLATE")["f_sa"] == 0.0
    exceptions = finalize_margin(frame, inputs, params, D).exceptions
    assert exceptions.get_column("kind").to_list() == ["XM_OPT_IN_WITHOUT_DOCUMENTS"] * 2
    assert exceptions.get_column("account_id").to_list() == ["CLATE", "CNOSUB"]


def test_xm_cash_eligibility_boundary(params: Params) -> None:
    # NOTE maturing D + 365 days is not XM cash ((maturity − D).days > 365 is required);
    # D + 366 is. Both: dv01 0.05, +1,000,000 → s = 500 at t ≈ 1.0: all on the 1y tenor
    # (t = 365/365.25 just below 1 puts a sliver on 0.5y; both below 2y anyway).
    securities = pl.DataFrame(
        {
            "cusip": ["EDGE00365", "EDGE00366"],
            "security_type": ["NOTE", "NOTE"],
            "coupon_rate": [4.0, 4.0],
            "issue_date": [dt.date(2024, 1, 1)] * 2,
            "maturity_date": [D + dt.timedelta(days=365), D + dt.timedelta(days=366)],
            "clean_price": [100.0, 100.0],
            "accrued_interest": [0.0, 0.0],
            "dv01_per_100": [0.05, 0.05],
        }
    )
    inputs = book(
        [account("A", xm=True), account("B", xm=True)],
        ficc=[("A", "EDGE00365", 1_000_000), ("B", "EDGE00366", 1_000_000)],
        securities=securities,
    )
    frame = compute_account_margin(inputs, params, D)
    a, b = _row(frame, "A"), _row(frame, "B")
    # 365 days: regular FICC, VaR 10 × 500 = 5,000 ; no XM.
    assert _approx(a["ficc_regular_im"], 5_000) and a["f_sa"] == 0.0
    # 366 days: XM cash, F_sa = 5,000; the CME model maps t ≈ 1.002 to ZT: 500 × 22 = 11,000.
    assert b["ficc_regular_im"] == 0.0 and _approx(b["f_sa"], 5_000)
    assert _approx(b["c_sep"], 11_000)


def test_tenors_below_first_and_above_last_grid_point(params: Params) -> None:
    # SR1Z6 t = 0.0301 < 0.25: everything on 0.25y (floor shock 20). A contract at t = 35 > 30:
    # everything on 30y (floor shock 45). Scenarios move only one tenor each so the mapping
    # shows in VaR: scenario 1 +10 bp at 0.25y, scenario 2 +10 bp at 30y, others 0.
    # Account S: SR1Z6 +100 → s = 4,167 on 0.25y. Loss 41,670 in scenario 1 → VaR 41,670;
    # floor 0.10 × 4,167 × 20 = 8,334. Account L: LONGF +10 → s = 1,000 on 30y: VaR 10,000,
    # floor 0.10 × 1,000 × 45 = 4,500. Both are XM futures, so these are F(futures) = F_sep.
    contracts = pl.concat(
        [
            golden_contracts(),
            pl.DataFrame(
                [
                    {
                        "contract_id": "LONGF",
                        "product_code": "UB",
                        "maturity_month": "202612",
                        "settlement_price": 120.0,
                        "dv01_per_contract": 100.0,
                        "risk_tenor_years": 35.0,
                    }
                ],
                schema=golden_contracts().schema,
            ),
        ]
    )
    columns = ["dy_0_5", "dy_1", "dy_2", "dy_3", "dy_5", "dy_7", "dy_10", "dy_20"]
    scen = parallel_scenarios([0, 0, 0]).with_columns(
        pl.Series("dy_0_25", [10.0, 0.0, 0.0]), pl.Series("dy_30", [0.0, 10.0, 0.0])
    )
    assert all(scen[c].to_list() == [0.0, 0.0, 0.0] for c in columns)
    inputs = book(
        [account("S", xm=True), account("L", xm=True)],
        cme=[("S", "SR1Z6", 100, 0), ("L", "LONGF", 10, 0)],
        scenarios=scen,
        contracts=contracts,
    )
    frame = compute_account_margin(inputs, params, D)
    assert _approx(_row(frame, "S")["f_sep"], 41_670)
    assert _approx(_row(frame, "L")["f_sep"], 10_000)
    p = dataclasses.replace(params, ficc=dataclasses.replace(params.ficc, floor_fraction=1.0))
    floored = compute_account_margin(inputs, p, D)
    # floor_fraction 1: S → 4,167 × 20 = 83,340 > 41,670; L → 1,000 × 45 = 45,000 > 10,000.
    assert _approx(_row(floored, "S")["f_sep"], 83_340)
    assert _approx(_row(floored, "L")["f_sep"], 45_000)


def test_zero_net_positions_still_list_the_account(params: Params) -> None:
    # N8 +3,000,000 and −3,000,000 (two rows) and ZNZ6 FIN 4/4: nets are 0, dropped from margin,
    # counted as 0 positions; the account has positions, so a negative equity is called.
    inputs = book(
        [account("Z")],
        ficc=[("Z", N8, 3_000_000), ("Z", N8, -3_000_000)],
        cme=[("Z", "ZNZ6", 4, 4)],
        balances=[("Z", -10.25)],
    )
    frame = compute_account_margin(inputs, params, D)
    row = _row(frame, "Z")
    assert row["n_ficc_positions"] == 0 and row["n_cme_positions"] == 0
    assert row["maintenance_requirement"] == 0.0
    # ceil(round(0 − (−10.25), 6)) = 11.
    assert row["call_amount"] == 11


def test_netting_across_settlement_dates_and_members(params: Params) -> None:
    # N8 +6,000,000 and +4,000,000 (golden XM1) net to +10,000,000 → s = 7,000; BILL +1,000,000
    # and −999,900 net to +100 par → s = 0.002 at 0.25y.
    inputs = book(
        [account("A")],
        ficc=[("A", N8, 6_000_000), ("A", N8, 4_000_000), ("A", BILL, 1_000_000),
              ("A", BILL, -999_900)],
    )  # fmt: skip
    row = _row(compute_account_margin(inputs, params, D), "A")
    assert row["n_ficc_positions"] == 2
    # Σ key rates = 7,000 + 0.002 → VaR = 70,000.02.
    assert _approx(row["ficc_regular_im"], 70_000.02)


def test_intra_with_several_tiers(params: Params) -> None:
    # ZN tiers: ZNZ6 +100 → +7,000; ZNH7 −50 → −3,400; ZNM7 −20 × 66 → −1,320.
    # net 2,280 → scan 2,280 × 38 = 86,640; intra 5 × min(7,000, 4,720) = 23,600 → 110,240.
    extra = pl.DataFrame(
        [
            {
                "contract_id": "ZNM7",
                "product_code": "ZN",
                "maturity_month": "202706",
                "settlement_price": 111.0,
                "dv01_per_contract": 66.0,
                "risk_tenor_years": 7.5,
            }
        ],
        schema=golden_contracts().schema,
    )
    inputs = book(
        [account("A")],
        cme=[("A", "ZNZ6", 100, 0), ("A", "ZNH7", 0, 50), ("A", "ZNM7", 0, 20)],
        contracts=pl.concat([golden_contracts(), extra]),
    )
    row = _row(compute_account_margin(inputs, params, D), "A")
    assert _approx(row["cme_regular_im"], 110_240)


def test_call_below_minimum_is_an_exception_not_a_call(params: Params) -> None:
    # ZNZ6 +10 → 26,600 maintenance = initial; equity 20,000 → call ceil(6,600) = 6,600.
    # min_call_amount 10,000: not issued, published as 0 and listed; at 5,000 it is issued.
    # HOUSE in the same position gets neither a call nor an exception.
    inputs = book(
        [account("C"), account("P", "PAB"), account("H", "HOUSE")],
        cme=[("C", "ZNZ6", 10, 0), ("P", "ZNZ6", 10, 0), ("H", "ZNZ6", 10, 0)],
        balances=[("C", 20_000.0), ("P", 20_000.0), ("H", 20_000.0)],
    )
    high = dataclasses.replace(
        params, customer=dataclasses.replace(params.customer, min_call_amount=10_000)
    )
    frame = compute_account_margin(inputs, high, D)
    assert frame.get_column("call_amount").to_list() == [0, 0, 0]
    res = finalize_margin(frame, inputs, high, D)
    assert res.margin_calls.height == 0
    assert res.exceptions.get_column("kind").to_list() == ["CALL_BELOW_MINIMUM"] * 2
    assert res.exceptions.get_column("account_id").to_list() == ["C", "P"]
    assert all("6600" in d for d in res.exceptions.get_column("detail").to_list())
    low = dataclasses.replace(
        params, customer=dataclasses.replace(params.customer, min_call_amount=5_000)
    )
    res = finalize_margin(compute_account_margin(inputs, low, D), inputs, low, D)
    assert res.margin_calls.get_column("call_id").to_list() == ["20261120-C", "20261120-P"]
    assert res.margin_calls.get_column("call_amount").to_list() == [6_600, 6_600]
    assert res.exceptions.height == 0


def test_call_amount_strips_float_noise_then_rounds_up(params: Params) -> None:
    # BILL +5,000,000 → FICC 1,000; multiplier 1.1 → initial 1,100.0000000000002 in binary:
    # rounding to 6 decimals first keeps the call at 1,100 − 100 = 1,000, not 1,001.
    inputs = book(
        [account("A", ficc_multiplier=1.1)],
        ficc=[("A", BILL, 5_000_000)],
        balances=[("A", 100.0)],
    )
    row = _row(compute_account_margin(inputs, params, D), "A")
    assert row["call_amount"] == 1_000


@pytest.mark.parametrize("n_shards", [2, 3, 7])
def test_shards_concatenated_equal_one_shard(params: Params, n_shards: int) -> None:
    accounts = [account(f"A{i}", xm=i % 2 == 0) for i in range(12)]
    inputs = book(
        accounts,
        ficc=[(f"A{i}", [N8, N4, BILL][i % 3], (i + 1) * 100_000) for i in range(12)],
        cme=[(f"A{i}", "ZNZ6", i, 12 - i) for i in range(12)],
    )
    whole = compute_account_margin(inputs, params, D, 0, 1)
    parts = [compute_account_margin(inputs, params, D, k, n_shards) for k in range(n_shards)]
    assert sum(p.height for p in parts) == whole.height
    assert all(p.height < whole.height for p in parts)  # every shard is a strict subset
    joined = pl.concat(parts).sort("account_id")
    assert_frame_equal(joined, whole, check_exact=False, rel_tol=1e-12)


def test_bad_shard_number_is_refused(params: Params) -> None:
    with pytest.raises(InternalError, match="shard 3 of 3"):
        compute_account_margin(book([account("A")]), params, D, 3, 3)


def test_unknown_cusip_is_refused(params: Params) -> None:
    inputs = book([account("A")], ficc=[("A", "999999999", 100)])
    with pytest.raises(InternalError, match="999999999"):
        compute_account_margin(inputs, params, D)


def test_scenario_order_does_not_matter(params: Params) -> None:
    inputs = book([account("A")], ficc=[("A", N4, -7_700_000)])
    shuffled = dataclasses.replace(
        inputs,
        ficc_var_scenarios=inputs.ficc_var_scenarios.collect()
        .sample(fraction=1.0, shuffle=True, seed=3)
        .lazy(),
    )
    a = compute_account_margin(inputs, params, D)
    b = compute_account_margin(shuffled, params, D)
    assert a["ficc_regular_im"].to_list() == b["ficc_regular_im"].to_list()
    # s = −77,000 × 0.038 = −2,926: VaR = 9 × 2,926 = 26,334.
    assert np.isclose(a["ficc_regular_im"][0], 26_334)


def test_xm_cash_outside_every_cash_bucket_is_refused(params: Params) -> None:
    # cash_mapping ending at 5 years leaves N8 (t = 8) unmapped: an XM account holding it cannot
    # be put through the CME model, so the run stops naming the cusip; a regular account can.
    short = dataclasses.replace(
        params, cme=dataclasses.replace(params.cme, cash_mapping=params.cme.cash_mapping[:3])
    )
    regular = book([account("R")], ficc=[("R", N8, 1_000_000)])
    assert compute_account_margin(regular, short, D).height == 1
    with pytest.raises(InternalError, match=N8):
        compute_account_margin(book([account("X", xm=True)], ficc=[("X", N8, 100)]), short, D)


def test_position_of_an_unknown_account_is_refused(params: Params) -> None:
    inputs = book([account("A")], cme=[("GHOST", "ZNZ6", 1, 0)], balances=[("A", 0.0)])
    with pytest.raises(InternalError, match=r"account_id GHOST not found in accounts\.parquet"):
        compute_account_margin(inputs, params, D)


def test_from_staged_reads_parquet_and_names_missing_files(
    params: Params, tmp_path: pathlib.Path
) -> None:
    inputs = book([account("A")], ficc=[("A", N4, 1_000_000)])
    for name in MARGIN_INPUTS:
        getattr(inputs, name).collect().write_parquet(tmp_path / f"{name}.parquet")
    staged = MarginInputs.from_staged(tmp_path)
    assert_frame_equal(
        compute_account_margin(staged, params, D), compute_account_margin(inputs, params, D)
    )
    (tmp_path / "balances.parquet").unlink()
    with pytest.raises(InternalError, match="balances"):
        MarginInputs.from_staged(tmp_path)


def test_empty_book_gives_empty_typed_tables(params: Params) -> None:
    # No positions and no balances: nothing to margin, but every table keeps its schema.
    inputs = book([account("A")], balances=[])
    frame = compute_account_margin(inputs, params, D)
    assert frame.height == 0 and frame.schema["call_amount"] == pl.Int64
    res = finalize_margin(frame, inputs, params, D)
    assert res.margin_by_account.height == res.margin_calls.height == res.exceptions.height == 0
    assert res.margin_calls.schema["due_by"] == pl.Datetime("us", "America/New_York")
