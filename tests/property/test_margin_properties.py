"""Invariants of the margin engine on random books (SPEC §4-§5): hypothesis properties."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from margin_builders import TENOR_COLUMNS, D, account, book, golden_params
from polars.testing import assert_frame_equal

from pipeline.config import Params
from pipeline.margin import MarginInputs, compute_account_margin, finalize_margin

CUSIPS = ("91282CQ87", "91282CQ46", "912797Q18")
CONTRACTS = ("ZNZ6", "ZNH7", "TNZ6", "ZTZ6", "ZFZ6", "SR3Z6", "SR3H7", "SR1Z6", "ZQF7")
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
    ficc = draw(
        st.lists(
            st.tuples(
                st.sampled_from(ids),
                st.sampled_from(CUSIPS),
                st.integers(-200_000, 200_000).filter(bool).map(lambda k: k * 100),
            ),
            max_size=12,
        )
    )
    holdings = draw(
        st.dictionaries(
            st.tuples(st.sampled_from(ids), st.sampled_from(CONTRACTS)),
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
    inputs = book(accounts, ficc=ficc, cme=cme, balances=balances, scenarios=scenarios)
    return inputs, params, ficc, (accounts, cme, balances, scenarios)


@PROPERTY_SETTINGS
@given(books(), st.randoms(use_true_random=False))
def test_netting_ignores_row_order_and_splits(
    drawn: tuple[MarginInputs, Params, list[tuple[str, str, int]], Any], rnd: Any
) -> None:
    inputs, params, ficc, (accounts, cme, balances, scenarios) = drawn
    # Split every FICC row in two (another settlement date) and shuffle all position rows.
    split: list[tuple[str, str, int]] = []
    for a, c, p in ficc:
        part = rnd.randint(-1000, 1000) * 100
        split += [(a, c, part), (a, c, p - part)]
    rnd.shuffle(split)
    cme_shuffled = list(cme)
    rnd.shuffle(cme_shuffled)
    other = book(accounts, ficc=split, cme=cme_shuffled, balances=balances, scenarios=scenarios)
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
    assert_frame_equal(parts, whole, check_exact=False, rel_tol=1e-12, abs_tol=1e-9)


def test_business_date_is_explicit() -> None:
    # The same book margined "as of" another date keeps that date on every row.
    inputs = book([account("A")])
    other = D + dt.timedelta(days=3)
    frame = compute_account_margin(inputs, BASE, other)
    assert frame["business_date"].to_list() == [other]
