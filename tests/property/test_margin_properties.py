"""Invariants of the margin engine on random books (SPEC §4-§5): hypothesis properties."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from margin_builders import (
    TENOR_COLUMNS,
    D,
    account,
    book,
    golden_contracts,
    golden_params,
    golden_securities,
)
from polars.testing import assert_frame_equal
from reference_margin import reference_margin

from pipeline.config import Params
from pipeline.margin import MarginInputs, compute_account_margin, finalize_margin

BASE = golden_params("01_xm_basis_cap")
REQUIREMENTS = (
    "ficc_regular_im", "cme_regular_im", "f_sa", "f_sep", "f_all", "c_sa", "c_sep", "c_all",
    "ficc_xm_im", "cme_xm_im", "ficc_im", "cme_im", "maintenance_requirement",
    "initial_requirement",
)  # fmt: skip
PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def books(draw: st.DrawFn) -> tuple[MarginInputs, Params, list[tuple[str, str, int]], Any]:
    n = draw(st.integers(1, 6))
    accounts = []
    for i in range(n):
        accounts.append(
            account(
                f"A{i}",
                draw(st.sampled_from(["CUSTOMER", "PAB", "HOUSE"])),
                xm=draw(st.booleans()),
                hrp=draw(st.booleans()),
                ficc_multiplier=draw(st.sampled_from([1.0, 1.25, 2.0, 5.0])),
            )
        )
    ids = [a["account_id"] for a in accounts]
    # Besides the golden masters: random securities from 1 day to 30 years (below the first and
    # across every key-rate tenor and cash bucket) and futures at tenors 0..40 in random months.
    n_sec = draw(st.integers(0, 4))
    extra_sec = pl.DataFrame(
        {
            "cusip": [f"RND{i:06d}" for i in range(n_sec)],
            "security_type": [draw(st.sampled_from(["BILL", "NOTE", "BOND", "TIPS"]))
                              for _ in range(n_sec)],
            "coupon_rate": [1.0] * n_sec,
            "issue_date": [D] * n_sec,
            "maturity_date": [D + dt.timedelta(days=draw(st.integers(1, 10_958)))
                              for _ in range(n_sec)],
            "clean_price": [100.0] * n_sec,
            "accrued_interest": [0.0] * n_sec,
            "dv01_per_100": [draw(st.floats(0.0001, 0.5)) for _ in range(n_sec)],
        },
        schema=golden_securities().schema,
    )  # fmt: skip
    n_con = draw(st.integers(0, 4))
    extra_con = pl.DataFrame(
        {
            "contract_id": [f"RNDF{i}" for i in range(n_con)],
            "product_code": [draw(st.sampled_from(BASE.cme.product_codes)) for _ in range(n_con)],
            "maturity_month": [draw(st.sampled_from(["202612", "202703", "202706"]))
                               for _ in range(n_con)],
            "settlement_price": [100.0] * n_con,
            "dv01_per_contract": [draw(st.floats(0.5, 1000)) for _ in range(n_con)],
            "risk_tenor_years": [draw(st.floats(0, 40)) for _ in range(n_con)],
        },
        schema=golden_contracts().schema,
    )  # fmt: skip
    securities = pl.concat([golden_securities(), extra_sec])
    contracts = pl.concat([golden_contracts(), extra_con])
    ficc = draw(
        st.lists(
            st.tuples(
                st.sampled_from(ids),
                st.sampled_from(securities.get_column("cusip").to_list()),
                st.integers(-200_000, 200_000).filter(bool).map(lambda k: k * 100),
            ),
            max_size=12,
        )
    )
    holdings = draw(
        st.dictionaries(
            st.tuples(
                st.sampled_from(ids), st.sampled_from(contracts.get_column("contract_id").to_list())
            ),
            st.tuples(st.integers(0, 300), st.integers(0, 300)),
            max_size=10,
        )
    )
    cme = [(a, c, lo, sh) for (a, c), (lo, sh) in holdings.items()]
    balances = [(a, draw(st.floats(-1e6, 1e6, allow_nan=False))) for a in ids]
    n_scen = draw(st.integers(5, 30))
    moves = draw(
        st.lists(
            st.lists(
                st.integers(-50, 50), min_size=len(TENOR_COLUMNS), max_size=len(TENOR_COLUMNS)
            ),
            min_size=n_scen,
            max_size=n_scen,
        )
    )
    scenarios = pl.DataFrame(
        {
            "scenario_id": list(range(n_scen)),
            **{c: [float(m[k]) for m in moves] for k, c in enumerate(TENOR_COLUMNS)},
        }
    )
    params = dataclasses.replace(
        BASE,
        xm=dataclasses.replace(BASE.xm, max_reduction=draw(st.sampled_from([0.0, 0.5, 0.8, 1.0]))),
        ficc=dataclasses.replace(
            BASE.ficc, var_confidence=draw(st.sampled_from([0.5, 0.9, 0.95, 0.99, 1.0]))
        ),
        customer=dataclasses.replace(
            BASE.customer, min_call_amount=draw(st.sampled_from([0.0, 1_000.0, 50_000.0]))
        ),
    )
    masters = {"securities": securities, "contracts": contracts}
    inputs = book(accounts, ficc=ficc, cme=cme, balances=balances, scenarios=scenarios, **masters)
    return inputs, params, ficc, (accounts, cme, balances, scenarios, masters)


@PROPERTY_SETTINGS
@given(books(), st.randoms(use_true_random=False))
def test_netting_ignores_row_order_and_splits(
    drawn: tuple[MarginInputs, Params, list[tuple[str, str, int]], Any], rnd: Any
) -> None:
    inputs, params, ficc, (accounts, cme, balances, scenarios, masters) = drawn
    # Split every FICC row in two (another settlement date) and shuffle all position rows.
    split: list[tuple[str, str, int]] = []
    for a, c, p in ficc:
        part = rnd.randint(-1000, 1000) * 100
        split += [(a, c, part), (a, c, p - part)]
    rnd.shuffle(split)
    cme_shuffled = list(cme)
    rnd.shuffle(cme_shuffled)
    other = book(
        accounts, ficc=split, cme=cme_shuffled, balances=balances, scenarios=scenarios, **masters
    )
    a = compute_account_margin(inputs, params, D)
    b = compute_account_margin(other, params, D)
    assert_frame_equal(a, b)


@PROPERTY_SETTINGS
@given(books())
def test_requirement_invariants(
    drawn: tuple[MarginInputs, Params, list[tuple[str, str, int]], Any],
) -> None:
    inputs, params, _, _ = drawn
    frame = compute_account_margin(inputs, params, D)
    for column in REQUIREMENTS:
        assert (frame[column] >= 0).all(), column
    cap = params.xm.max_reduction
    r = frame["r_applied"].to_numpy()
    assert ((r >= 0) & (r <= cap)).all()
    assert (r <= frame["r_ficc"].to_numpy() + 1e-15).all()
    assert (r <= frame["r_cme"].to_numpy() + 1e-15).all()
    assert (frame["initial_requirement"] >= frame["maintenance_requirement"]).all()
    assert (frame["f_sep"] >= frame["f_sa"]).all() and (frame["c_sep"] >= frame["c_sa"]).all()
    # Not XM-active: nothing is cross-margined.
    regular = frame.filter(~pl.col("xm_active"))
    for column in ("f_sa", "f_sep", "f_all", "c_sa", "c_sep", "c_all", "r_applied"):
        assert (regular[column] == 0).all(), column
    # Calls only for CUSTOMER and PAB accounts below maintenance, covering up to initial.
    called = frame.filter(pl.col("call_amount") > 0)
    assert called["account_class"].is_in(["CUSTOMER", "PAB"]).all()
    assert (called["equity"] < called["maintenance_requirement"]).all()
    gap = (called["initial_requirement"] - called["equity"]).to_numpy()
    assert (called["call_amount"].to_numpy() >= np.round(gap, 6) - 1e-9).all()
    assert (called["call_amount"] >= params.customer.min_call_amount).all()
    results = finalize_margin(frame, inputs, params, D)
    assert results.margin_calls.height == called.height


@PROPERTY_SETTINGS
@given(books(), st.integers(2, 5))
def test_sharded_equals_unsharded(
    drawn: tuple[MarginInputs, Params, list[tuple[str, str, int]], Any], n_shards: int
) -> None:
    inputs, params, _, _ = drawn
    whole = compute_account_margin(inputs, params, D, 0, 1)
    parts = pl.concat(
        [compute_account_margin(inputs, params, D, k, n_shards) for k in range(n_shards)]
    ).sort("account_id")
    # Exactly: the Airflow run's shards must publish the same bytes as one `xmargin run`.
    assert_frame_equal(parts, whole, check_exact=True)


def test_business_date_is_explicit() -> None:
    # The same book margined "as of" another date keeps that date on every row.
    inputs = book([account("A")])
    other = D + dt.timedelta(days=3)
    frame = compute_account_margin(inputs, BASE, other)
    assert frame["business_date"].to_list() == [other]


def assert_matches_reference(frame: pl.DataFrame, expected: dict[str, dict[str, Any]]) -> None:
    assert frame.get_column("account_id").to_list() == sorted(expected)
    for row in frame.iter_rows(named=True):
        want = expected[row["account_id"]]
        for column, value in want.items():
            got = row[column]
            if isinstance(value, float):
                # Sums in another order: agree to float noise relative to the money involved.
                scale = max(1.0, abs(value), row["maintenance_requirement"])
                assert abs(got - value) <= 1e-9 * scale, (row["account_id"], column, got, value)
            elif column == "call_amount" and got != value:
                # A call may move by a dollar only when initial − equity sits on a whole dollar.
                gap = row["initial_requirement"] - row["equity"]
                assert abs(gap - round(gap)) < 1e-6, (row["account_id"], got, value)
            else:
                assert got == value, (row["account_id"], column, got, value)


@PROPERTY_SETTINGS
@given(books())
def test_vectorised_engine_equals_naive_reference(
    drawn: tuple[MarginInputs, Params, list[tuple[str, str, int]], Any],
) -> None:
    inputs, params, _, _ = drawn
    frame = compute_account_margin(inputs, params, D)
    assert_matches_reference(frame, reference_margin(inputs, params, D))


@PROPERTY_SETTINGS
@given(books(), st.integers(2, 5))
def test_dv01_profile_is_the_same_bits_from_any_shard_count(
    drawn: tuple[MarginInputs, Params, list[tuple[str, str, int]], Any], n_shards: int
) -> None:
    import math

    from pipeline.margin import compute_shard, dv01_by_tenor
    from pipeline.margin.dv01 import account_key_rates
    from pipeline.margin.positions import load_book

    inputs, params, _, _ = drawn
    whole = dv01_by_tenor([compute_shard(inputs, params, D).dv01_partials], params, D)
    shards = [compute_shard(inputs, params, D, k, n_shards).dv01_partials for k in range(n_shards)]
    assert_frame_equal(dv01_by_tenor(shards[::-1], params, D), whole, check_exact=True)
    # And it is the correctly rounded Σ over accounts (fsum of the per-account key rates).
    ficc, cme = account_key_rates(load_book(inputs, params, D, 0, 1), params)
    total = ficc + cme
    for column, matrix in (
        ("ficc_net_dv01", ficc),
        ("cme_net_dv01", cme),
        ("net_dv01", total),
        ("gross_dv01", np.abs(total)),
    ):
        expected = [math.fsum(matrix[:, k].tolist()) for k in range(matrix.shape[1])]
        assert whole.get_column(column).to_list() == expected, column
