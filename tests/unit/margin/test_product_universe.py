"""The CME product universe is the parameter file's `cme.products` (SPEC §2.10, §5.2).

A product is added by a later parameter file; earlier files stay valid for their dates, and
everything the engine knows about products (the CC columns, the cash buckets, the spreads, XM
eligibility) is read from the file in force.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import yaml
from margin_builders import CONTRACTS, GOLDEN, D, account, book, golden_contracts, golden_inputs
from polars.testing import assert_frame_equal

from pipeline.config import load_params
from pipeline.errors import InternalError, ParameterError
from pipeline.margin import compute_account_margin

CASE = GOLDEN / "01_xm_basis_cap"


def _params_file(tmp_path: Path, name: str, edit: object) -> Path:
    doc = yaml.safe_load((CASE / "params.yaml").read_text())
    edit(doc)  # type: ignore[operator]
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _without_zq(doc: dict) -> None:  # type: ignore[type-arg]
    # A file written before ZQ was traded: no product entry, no spread, not XM-eligible.
    del doc["cme"]["products"]["ZQ"]
    doc["cme"]["inter_spreads"] = [s for s in doc["cme"]["inter_spreads"] if "ZQ" not in s.values()]
    doc["xm"]["eligible_cme_products"].remove("ZQ")


def _with_zx(doc: dict) -> None:  # type: ignore[type-arg]
    doc["effective_from"] = dt.date(2026, 11, 1)
    doc["cme"]["products"]["ZX"] = {"scan_bp": 50, "intra_bp": 7}
    doc["cme"]["inter_spreads"].append({"a": "ZX", "b": "ZN", "credit": 0.4})


def test_a_file_without_a_later_product_stays_valid_and_margins_alike(tmp_path: Path) -> None:
    old = load_params(_params_file(tmp_path, "old.yaml", _without_zq))
    assert "ZQ" not in old.cme.product_codes and len(old.cme.cc_index) == 10
    current = load_params(CASE / "params.yaml")
    # Golden case 01 holds no ZQ position: with the ZQ contract gone from its master (as the
    # contract's enum, read from the old file, demands), the old file margins it to the same bits.
    inputs = golden_inputs("01_xm_basis_cap")
    inputs = dataclasses.replace(
        inputs, cme_contracts=inputs.cme_contracts.filter(pl.col("product_code") != "ZQ")
    )
    assert_frame_equal(
        compute_account_margin(inputs, old, D),
        compute_account_margin(inputs, current, D),
        check_exact=True,
    )


def test_a_product_named_nowhere_in_the_file_is_refused_where_it_is_used(tmp_path: Path) -> None:
    def zq_spread_without_zq(doc: dict) -> None:  # type: ignore[type-arg]
        del doc["cme"]["products"]["ZQ"]

    with pytest.raises(ParameterError) as info:
        load_params(_params_file(tmp_path, "bad.yaml", zq_spread_without_zq))
    text = str(info.value)
    assert ".cme.inter_spreads[12].a: 'ZQ' is not one of" in text
    assert ".xm.eligible_cme_products[10]: 'ZQ' is not one of" in text


def test_a_new_product_is_margined_from_its_parameters_alone(tmp_path: Path) -> None:
    params = load_params(_params_file(tmp_path, "zx.yaml", _with_zx))
    assert params.cme.product_codes[-1] == "ZX"
    zx = pl.DataFrame(
        [{"contract_id": "ZXZ6", "product_code": "ZX", "maturity_month": "202612",
          "settlement_price": 100.0, "dv01_per_contract": 50.0, "risk_tenor_years": 5.0}],
        schema=CONTRACTS,
    )  # fmt: skip
    contracts = pl.concat([golden_contracts(), zx])
    # A: 10 ZXZ6 long, 10 ZNZ6 short, not XM. Scan 500 × 50 + 700 × 38 = 51,600; the ZX/ZN
    # spread matches 500 at credit 0.4 × (50 + 38) = 17,600: C = 34,000.
    inputs = book(
        [account("A")], cme=[("A", "ZXZ6", 10, 0), ("A", "ZNZ6", 0, 10)], contracts=contracts
    )
    row = compute_account_margin(inputs, params, D).row(0, named=True)
    assert row["cme_regular_im"] == pytest.approx(34_000)
    # The file in force before ZX knows no such product.
    with pytest.raises(InternalError, match=r"product_code ZX not in cme\.products"):
        compute_account_margin(inputs, load_params(CASE / "params.yaml"), D)
