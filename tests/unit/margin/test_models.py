"""The FICC and CME models, key-rate mapping and shard hashing on hand-worked numbers (§4, §5)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from margin_builders import D, golden_inputs, golden_params

from pipeline.margin import compute_shard, dv01_by_tenor, shard_of
from pipeline.margin.cme_model import CcExposure, cme_requirement
from pipeline.margin.ficc_model import ficc_requirement, var_rank
from pipeline.margin.positions import cash_cc
from pipeline.margin.sensitivities import key_rate_matrix, key_rate_split
from pipeline.margin.sharding import fmix64, fnv1a_64

TENORS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 20.0, 30.0)
PARAMS = golden_params("01_xm_basis_cap")
CC_INDEX = PARAMS.cme.cc_index
N_CC = len(CC_INDEX)
# fmix64(FNV-1a 64) mod 1000 of ACCT-000123, XM1, NA (reference_fmix below, by hand in Python).
PINNED = [555, 114, 705]


@pytest.mark.parametrize(
    ("confidence", "n", "m"),
    [(0.99, 20, 20), (0.95, 20, 19), (0.99, 1250, 1238), (0.9, 7, 7), (0.8, 7, 6), (0.5, 7, 4),
     (1.0, 7, 7), (0.01, 7, 1)],
)  # fmt: skip
def test_var_rank(confidence: float, n: int, m: int) -> None:
    # m = ceil(q·N): 0.95 × 20 is exactly 19 (no float drift to 20); 0.8 × 7 = 5.6 → 6.
    assert var_rank(confidence, n) == m


def _one_tenor_var(losses: list[float], confidence: float, floor_fraction: float = 0.0) -> float:
    # A key-rate vector of 1 on the first tenor: the loss of scenario j is dy_{0.25,j}.
    scenarios = np.zeros((len(TENORS), len(losses)))
    scenarios[0] = losses
    key_rates = np.zeros((1, len(TENORS)))
    key_rates[0, 0] = 1.0
    shocks = np.asarray(PARAMS.ficc.floor_shock_bp)
    return float(ficc_requirement(key_rates, scenarios, confidence, floor_fraction, shocks)[0])


@pytest.mark.parametrize(("confidence", "var"), [(0.9, 12.0), (0.8, 9.0), (0.5, 5.0)])
def test_var_is_the_mth_smallest_loss_without_interpolation(confidence: float, var: float) -> None:
    # Losses 5, −3, 12, 7, 0, 9, 1 (N = 7, not a multiple of anything useful); sorted:
    # −3, 0, 1, 5, 7, 9, 12. m = 7 → 12; m = 6 → 9; m = 4 → 5.
    assert _one_tenor_var([5, -3, 12, 7, 0, 9, 1], confidence) == var


def test_var_is_never_negative_and_the_floor_can_bind() -> None:
    # Every loss negative → VaR = max(0, −1) = 0. Floor 0.10 × |1| × 20 = 2.
    assert _one_tenor_var([-5, -3, -1], 0.99) == 0.0
    assert _one_tenor_var([-5, -3, -1], 0.99, floor_fraction=0.10) == pytest.approx(2.0)


def test_many_portfolios_in_small_blocks_match_one_at_a_time() -> None:
    rng = np.random.default_rng(7)
    scenarios = rng.normal(0, 10, size=(len(TENORS), 101))
    key_rates = rng.normal(0, 1_000, size=(50, len(TENORS)))
    key_rates[[3, 17]] = 0.0
    shocks = np.asarray(PARAMS.ficc.floor_shock_bp)
    blocked = ficc_requirement(key_rates, scenarios, 0.99, 0.1, shocks, block_rows=7)
    for i in range(50):
        losses = np.sort(key_rates[i] @ scenarios)
        expected = max(max(losses[99], 0.0), 0.1 * np.abs(key_rates[i]) @ shocks)  # m = 100
        assert blocked[i] == pytest.approx(expected, rel=1e-12)
    assert blocked[3] == 0.0 and blocked[17] == 0.0


def _subsets(rng: np.random.Generator, n: int, count: int) -> list[np.ndarray]:
    return [
        np.sort(rng.choice(n, size=int(rng.integers(1, 600)), replace=False)) for _ in range(count)
    ]


def test_a_portfolios_f_does_not_depend_on_the_rows_beside_it() -> None:
    # A shard passes a subset of the book's rows: each row must get the very same bits (the
    # published hashes of a sharded Airflow run equal `xmargin run`). A plain BLAS product of
    # the subset differs in the last bit for most subsets of this size.
    rng = np.random.default_rng(1)
    scenarios = rng.standard_t(4, size=(len(TENORS), 1250)) * 10
    key_rates = rng.normal(0, 1e4, size=(5000, len(TENORS)))
    shocks = np.asarray(PARAMS.ficc.floor_shock_bp)
    whole = ficc_requirement(key_rates, scenarios, 0.99, 0.1, shocks)
    for rows in _subsets(rng, 5000, 30):
        part = ficc_requirement(key_rates[rows], scenarios, 0.99, 0.1, shocks)
        assert np.array_equal(part, whole[rows])
    floor_only = ficc_requirement(key_rates, scenarios[:, :0], 0.99, 0.1, shocks)
    for rows in _subsets(rng, 5000, 30):
        part = ficc_requirement(key_rates[rows], scenarios[:, :0], 0.99, 0.1, shocks)
        assert np.array_equal(part, floor_only[rows])


def test_a_portfolios_c_does_not_depend_on_the_rows_beside_it() -> None:
    rng = np.random.default_rng(2)
    net = rng.normal(0, 1e4, size=(5000, N_CC))
    spread = np.abs(rng.normal(0, 1e3, size=(5000, N_CC)))
    exposure = CcExposure(net, np.maximum(net, 0.0) + spread, np.maximum(-net, 0.0) + spread)
    whole = cme_requirement(exposure, PARAMS.cme)
    for rows in _subsets(rng, 5000, 30):
        part = CcExposure(exposure.net[rows], exposure.up[rows], exposure.down[rows])
        assert np.array_equal(cme_requirement(part, PARAMS.cme), whole[rows])


def test_key_rate_split_inside_and_outside_the_grid() -> None:
    t = np.array([0.1, 0.25, 0.75, 8.0, 7.0, 29.0, 30.0, 35.0])
    lower, upper, weight = key_rate_split(t, TENORS)
    # 0.1 and 0.25 → all on 0.25y; 0.75 → w = (1 − 0.75)/0.5 = 0.5 on 0.5y, 0.5 on 1y;
    # 8 → w = (10 − 8)/3 on 7y; 7 → all on 7y; 29 → 0.1 on 20y, 0.9 on 30y; ≥ 30 → all on 30y.
    assert lower.tolist() == [0, 0, 1, 6, 6, 8, 9, 9]
    assert weight == pytest.approx([1, 1, 0.5, 2 / 3, 1, 0.1, 1, 1])
    key_rates = key_rate_matrix(np.zeros(8, np.int64), np.ones(8), np.arange(8), t, TENORS, 1)[0]
    assert key_rates == pytest.approx([2, 0.5, 0.5, 0, 0, 0, 1 + 2 / 3, 1 / 3, 0.1, 2.9])
    assert upper.tolist() == [0, 0, 2, 7, 7, 9, 9, 9]


def _exposure(nets: dict[str, float]) -> CcExposure:
    net = np.zeros((1, N_CC))
    for code, value in nets.items():
        net[0, CC_INDEX[code]] = value
    return CcExposure.single_tier(net)


def test_inter_spread_priority_consumes_a_leg() -> None:
    # ZN +1,000, TN −600, ZF −1,000. Scan 38,000 + 22,800 + 32,000 = 92,800.
    # 1. ZN/TN: m = 600, credit 0.85 × 600 × 76 = 38,760; ZN → 400, TN → 0.
    # 5. ZF/ZN: m = 400 (what ZN/TN left), credit 0.75 × 400 × 70 = 21,000; ZF → −600, ZN → 0.
    # 6. ZT/ZF: ZT is 0 → skip. C = 92,800 − 59,760 = 33,040.
    c = cme_requirement(_exposure({"ZN": 1_000, "TN": -600, "ZF": -1_000}), PARAMS.cme)
    assert c[0] == pytest.approx(33_040)


def test_same_sign_legs_earn_no_credit_and_c_is_never_negative() -> None:
    # ZN +100, TN +100: no spread (same sign) → 100×38 + 100×38 = 7,600.
    assert cme_requirement(_exposure({"ZN": 100, "TN": 100}), PARAMS.cme)[0] == pytest.approx(7_600)
    assert cme_requirement(_exposure({}), PARAMS.cme)[0] == 0.0


def test_intra_uses_both_signs_of_tier_sums() -> None:
    # Two tiers of ZN, +7,000 and −3,400 (golden F1): up 7,000, down 3,400, net 3,600.
    net = np.zeros((1, N_CC))
    up = np.zeros((1, N_CC))
    down = np.zeros((1, N_CC))
    zn = CC_INDEX["ZN"]
    net[0, zn], up[0, zn], down[0, zn] = 3_600, 7_000, 3_400
    # scan 3,600 × 38 = 136,800 + intra 5 × 3,400 = 17,000.
    assert cme_requirement(CcExposure(net, up, down), PARAMS.cme)[0] == pytest.approx(153_800)


def test_cash_mapping_buckets_are_left_open_right_closed() -> None:
    t = np.array([0.01, 2.5, 2.5000001, 8.5, 8.51, 30.0])
    cc = cash_cc(np.append(t, 99.5), PARAMS)
    names = [list(CC_INDEX)[i] for i in cc[:-1]]
    assert names == ["ZT", "ZT", "Z3N", "ZN", "TN", "UB"]
    assert cc[-1] == -1  # beyond the last bucket: unmapped


def reference(text: str) -> int:
    """FNV-1a 64 with plain Python integers."""
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) % 2**64
    return h


def reference_fmix(h: int) -> int:
    """MurmurHash3 fmix64 with plain Python integers."""
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) % 2**64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) % 2**64
    return h ^ (h >> 33)


def test_fnv1a_64_known_vectors_and_python_reference() -> None:
    assert fnv1a_64(pl.Series([""]))[0] == 0xCBF29CE484222325
    assert fnv1a_64(pl.Series(["a"]))[0] == 0xAF63DC4C8601EC8C
    words = ["ACCT-000123", "NA", "1E5", "X", "ÄÖ", "ABCDEFGHIJKLMNOPQRST"]
    assert fnv1a_64(pl.Series(words)).tolist() == [reference(w) for w in words]
    assert fmix64(fnv1a_64(pl.Series(words))).tolist() == [
        reference_fmix(reference(w)) for w in words
    ]


def test_shard_of_is_stable_and_in_range() -> None:
    ids = pl.DataFrame({"account_id": [f"ACCT-{i:06d}" for i in range(1_000)]})
    shards = ids.select(shard_of(pl.col("account_id"), 4)).to_series()
    assert shards.min() >= 0 and shards.max() <= 3
    # Roughly balanced, and fixed by the bytes alone (fmix64 of FNV-1a 64, mod 4).
    assert shards.value_counts().get_column("count").min() > 200
    expected = [reference_fmix(reference(a)) % 4 for a in ids.get_column("account_id")]
    assert shards.to_list() == expected
    # Pinned values: a change of hash would move accounts between shards of a running date.
    pinned = pl.DataFrame({"account_id": ["ACCT-000123", "XM1", "NA"]})
    assert pinned.select(shard_of(pl.col("account_id"), 1000)).to_series().to_list() == PINNED


def test_ids_differing_in_high_bits_only_still_spread() -> None:
    # '0', '4' and '8' share their low two bits; without the finaliser these all land together.
    ids = pl.DataFrame({"account_id": [f"A{a}{b}{c}" for a in "048" for b in "048" for c in "048"]})
    shards = ids.select(shard_of(pl.col("account_id"), 4)).to_series()
    assert shards.n_unique() == 4
    assert ids.select(shard_of(pl.col("account_id"), 1)).to_series().unique().to_list() == [0]


def test_dv01_by_tenor_golden_case_01() -> None:
    # FICC: three N8 +10mm (7,000 each at 8y: 2/3 on 7y, 1/3 on 10y) and the bill +400 at 0.25y.
    # CME: ZNZ6 −100, −100, −50 → −17,500 at 8y. Net 7y = 14,000 − 11,666.67 = 2,333.33.
    # Gross per account: XM1 and NX1 cancel; HX1 keeps 7,000 − 3,500 = 3,500 → 7y 2,333.33,
    # 10y 1,166.67; XM1's bill 400 at 0.25y.
    partials = compute_shard(golden_inputs("01_xm_basis_cap"), PARAMS, D).dv01_partials
    frame = dv01_by_tenor([partials], PARAMS, D)
    assert frame.get_column("tenor_years").to_list() == list(TENORS)
    by = {r["tenor_years"]: r for r in frame.iter_rows(named=True)}
    assert by[7.0]["ficc_net_dv01"] == pytest.approx(14_000)
    assert by[7.0]["cme_net_dv01"] == pytest.approx(-35_000 / 3)
    assert by[7.0]["net_dv01"] == pytest.approx(7_000 / 3)
    assert by[10.0]["gross_dv01"] == pytest.approx(3_500 / 3, abs=1e-6)
    assert by[0.25]["gross_dv01"] == pytest.approx(400)
    assert by[30.0]["gross_dv01"] == 0.0
