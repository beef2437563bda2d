"""Parameter files: parsing, constraints and the effective-date selection rule (SPEC §2.10)."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import pytest
import yaml

from pipeline.config import SECURITY_TYPES, load_params, select_params, tenor_column
from pipeline.errors import ParameterError
from pipeline.resources import SHIPPED_PARAMS_DIR

DEFAULT = SHIPPED_PARAMS_DIR / "margin_params.yaml"


def _write(path: Path, **changes: object) -> Path:
    doc = yaml.safe_load(DEFAULT.read_text())
    for dotted, value in changes.items():
        node = doc
        keys = dotted.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    path.write_text(yaml.safe_dump(doc))
    return path


def test_shipped_default_is_the_spec_block() -> None:
    p = load_params(DEFAULT)
    assert p.key_rate_tenors == (0.25, 0.5, 1, 2, 3, 5, 7, 10, 20, 30)
    assert p.ficc.var_confidence == 0.99 and p.ficc.min_scenarios == 250
    assert p.xm.max_reduction == 0.80
    assert p.cme.products["ZN"].scan_bp == 38 and p.cme.products["SR3"].intra_bp == 8
    assert [(s.a, s.b) for s in p.cme.inter_spreads][:2] == [("ZN", "TN"), ("ZT", "Z3N")]
    assert p.reserve.alternative_reduction_pct == {"WEEKLY": 3.0, "DAILY": 2.0}
    assert p.reserve.daily_threshold == decimal.Decimal("500000000.00")
    assert len(p.sha256) == 64


def test_daily_threshold_is_optional_and_exact(tmp_path: Path) -> None:
    """SPEC §2.10: absent -> 500000000; given -> that amount to the cent, as a Decimal."""
    doc = yaml.safe_load(DEFAULT.read_text())
    del doc["reserve"]["daily_threshold"]
    absent = tmp_path / "absent.yaml"
    absent.write_text(yaml.safe_dump(doc))
    assert load_params(absent).reserve.daily_threshold == decimal.Decimal("500000000")
    given = _write(tmp_path / "given.yaml", reserve__daily_threshold=250000000.05)
    threshold = load_params(given).reserve.daily_threshold
    assert threshold == decimal.Decimal("250000000.05")
    assert threshold.as_tuple().exponent == -2


def test_tenor_columns_use_shortest_form() -> None:
    assert tenor_column(0.25) == "dy_0_25"
    assert tenor_column(1.0) == "dy_1"
    assert tenor_column(30) == "dy_30"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cme__hrp_initial_ratio": 0.9}, "hrp_initial_ratio"),
        ({"xm__max_reduction": 1.5}, "max_reduction"),
        ({"reserve__basic_reduction_pct": 101}, "basic_reduction_pct"),
        ({"ficc__floor_shock_bp": [20, 22]}, "floor_shock_bp"),
        ({"reserve__net_capital_method": "FANCY"}, "net_capital_method"),
        ({"reserve__daily_threshold": -1}, "daily_threshold"),
        ({"reserve__daily_threshold": 0.001}, "daily_threshold"),
        ({"reserve__daily_threshold": "lots"}, "daily_threshold"),
        ({"reserve__daily_threshold": 10**18}, "daily_threshold"),
        ({"cme__inter_spreads": [{"a": "ZN", "b": "XX", "credit": 0.5}]}, "inter_spreads"),
    ],
)
def test_out_of_range_parameters_are_refused(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = _write(tmp_path / "p.yaml", **change)
    with pytest.raises(ParameterError, match=message) as info:
        load_params(path)
    assert info.value.exit_code == 2


def test_not_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: [unclosed\n")
    with pytest.raises(ParameterError, match="not valid YAML"):
        load_params(path)


def test_selection_newest_effective_and_data_root_wins_tie(tmp_path: Path) -> None:
    shipped = load_params(DEFAULT)
    params_dir = tmp_path / "params"
    params_dir.mkdir()
    # Same effective date as the shipped default: the data root wins the tie.
    _write(params_dir / "tie.yaml", version="firm-tie", effective_from=shipped.effective_from)
    # Effective only later: ignored for earlier dates.
    _write(params_dir / "future.yaml", version="firm-2027", effective_from=dt.date(2027, 1, 4))
    chosen = select_params(dt.date(2026, 11, 20), tmp_path)
    assert chosen.version == "firm-tie"
    assert select_params(dt.date(2027, 1, 5), tmp_path).version == "firm-2027"


def test_no_parameter_file_in_force_is_an_invocation_error(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="no parameter file is effective"):
        select_params(dt.date(1999, 1, 4), tmp_path)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    """SPEC §2.10 and STYLE: collect all failures, then fail once with the full list."""
    doc = yaml.safe_load(DEFAULT.read_text())
    doc["effective_from"] = "someday"
    doc["ficc"]["var_confidence"] = 0
    doc["ficc"]["min_scenarios"] = 2.5
    doc["xm"]["eligible_ficc_types"] = ["NOTE", "GILT"]
    doc["cme"]["products"]["ZN"] = {"scan_bp": -1}
    del doc["customer"]
    doc["reserve"]["alternative_reduction_pct"] = {"WEEKLY": 3}
    path = tmp_path / "many.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ParameterError) as info:
        load_params(path)
    lines = str(info.value).splitlines()
    assert lines[0] == f"parameter file {path} is malformed:"
    assert [line.strip() for line in lines[1:]] == [
        ".effective_from: 'someday' is not an ISO date YYYY-MM-DD",
        ".ficc.var_confidence: 0.0 is out of range (expected 0 < x <= 1)",
        ".ficc.min_scenarios: 2.5 is not a whole number",
        f".xm.eligible_ficc_types[1]: 'GILT' is not one of {list(SECURITY_TYPES)}",
        ".cme.products.ZN.scan_bp: -1.0 is out of range (expected 0 <= x)",
        ".cme.products.ZN.intra_bp: missing",
        ".customer: missing",
        ".reserve.alternative_reduction_pct.DAILY: missing",
    ]


@pytest.mark.parametrize(
    ("buckets", "where"),
    [
        # A gap: nothing maps remaining years in (2.5, 3].
        ([(0, 2.5, "ZT"), (3, 99, "ZN")], "gap or overlap at 2.5 / 3.0"),
        # An overlap: (2, 2.5] would map to both.
        ([(0, 2.5, "ZT"), (2, 99, "ZN")], "gap or overlap at 2.5 / 2.0"),
        # A bucket that is empty or reversed.
        ([(0, 2.5, "ZT"), (2.5, 2.5, "ZN")], "hi 2.5 must exceed lo 2.5"),
    ],
)
def test_cash_mapping_must_tile_the_remaining_years(
    tmp_path: Path, buckets: list[tuple[float, float, str]], where: str
) -> None:
    mapping = [{"lo": lo, "hi": hi, "product": product} for lo, hi, product in buckets]
    path = _write(tmp_path / "p.yaml", cme__cash_mapping=mapping)
    with pytest.raises(ParameterError, match="cash_mapping") as info:
        load_params(path)
    assert where in str(info.value)


def test_contiguous_cash_mapping_is_accepted(tmp_path: Path) -> None:
    mapping = [{"lo": 0, "hi": 2.5, "product": "ZT"}, {"lo": 2.5, "hi": 99, "product": "ZN"}]
    params = load_params(_write(tmp_path / "p.yaml", cme__cash_mapping=mapping))
    assert [(b.lo, b.hi, b.product) for b in params.cme.cash_mapping] == [
        (0.0, 2.5, "ZT"),
        (2.5, 99.0, "ZN"),
    ]


def test_a_spread_whose_legs_are_one_product_is_refused(tmp_path: Path) -> None:
    spreads = [{"a": "ZN", "b": "TN", "credit": 0.85}, {"a": "ZB", "b": "ZB", "credit": 0.5}]
    path = _write(tmp_path / "p.yaml", cme__inter_spreads=spreads)
    with pytest.raises(ParameterError) as info:
        load_params(path)
    assert ".cme.inter_spreads[1]: legs must differ, found 'ZB' twice" in str(info.value)
    assert "inter_spreads[0]" not in str(info.value)
