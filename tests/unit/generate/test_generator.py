"""Determinism, atomic install and refusals of `generate_inputs` (SPEC §8 `xmargin generate`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline.errors import InvocationError
from pipeline.generate import book, generate_inputs
from pipeline.inputs import INPUT_NAMES

D = dt.date(2026, 11, 20)


def _bytes(paths: dict[str, Path]) -> dict[str, bytes]:
    return {name: path.read_bytes() for name, path in paths.items()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = _bytes(generate_inputs(tmp_path / "a", D, 300, 5))
    again = _bytes(generate_inputs(tmp_path / "b", D, 300, 5))
    other = _bytes(generate_inputs(tmp_path / "c", D, 300, 6))
    assert sorted(first) == sorted(INPUT_NAMES)
    assert first == again
    for name in INPUT_NAMES:
        assert first[name] != other[name], name


def test_other_date_other_set(tmp_path: Path) -> None:
    a = generate_inputs(tmp_path, D, 50, 5)
    b = generate_inputs(tmp_path, dt.date(2026, 11, 23), 50, 5)
    assert a["ficc_positions"].parent.name == "20261120"
    assert b["ficc_positions"].parent.name == "20261123"
    rows = b["ficc_positions"].read_text().splitlines()[1:]
    assert rows and all(row.startswith("2026-11-23,") for row in rows)


def test_progress_reports_every_file(tmp_path: Path) -> None:
    seen: dict[str, int] = {}
    generate_inputs(tmp_path, D, 40, 1, lambda stage, rows: seen.__setitem__(stage, rows))
    assert sorted(seen) == sorted(INPUT_NAMES)
    assert seen["accounts"] == 40 and seen["ficc_var_scenarios"] == 1_250


def test_one_account_still_fills_every_required_file(tmp_path: Path) -> None:
    """SPEC §2: every file but balances and reserve_items needs at least one data row."""
    paths = generate_inputs(tmp_path, D, 1, 3)
    for name in INPUT_NAMES:
        if name == "cme_positions":
            assert paths[name].read_text().count("<PosRpt ") >= 1
        else:
            assert len(paths[name].read_text().splitlines()) >= 2, name


def test_identical_rerun_is_accepted(tmp_path: Path) -> None:
    paths = generate_inputs(tmp_path, D, 60, 9)
    stamp = {n: p.stat().st_mtime_ns for n, p in paths.items()}
    again = generate_inputs(tmp_path, D, 60, 9)
    assert {n: p.stat().st_mtime_ns for n, p in again.items()} == stamp
    assert [p.name for p in (tmp_path / "inbox").iterdir()] == ["20261120"]


def test_refuses_to_overwrite_a_different_inbox(tmp_path: Path) -> None:
    paths = generate_inputs(tmp_path, D, 60, 9)
    before = _bytes(paths)
    with pytest.raises(InvocationError, match="20261120") as caught:
        generate_inputs(tmp_path, D, 60, 10)
    assert caught.value.exit_code == 2
    assert _bytes(paths) == before
    assert [p.name for p in (tmp_path / "inbox").iterdir()] == ["20261120"]


def test_empty_inbox_folder_is_filled(tmp_path: Path) -> None:
    (tmp_path / "inbox" / "20261120").mkdir(parents=True)
    paths = generate_inputs(tmp_path, D, 20, 2)
    assert all(p.is_file() for p in paths.values())


def test_crash_leaves_no_partial_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = book.build_chunk

    def failing(*args: object, **kwargs: object) -> book.Chunk:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("pipeline.generate.generator.CHUNK_ACCOUNTS", 30)
    monkeypatch.setattr(book, "build_chunk", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        generate_inputs(tmp_path, D, 100, 4)
    assert calls["n"] == 2
    assert list((tmp_path / "inbox").iterdir()) == []


def test_rejects_no_accounts(tmp_path: Path) -> None:
    with pytest.raises(InvocationError, match="accounts"):
        generate_inputs(tmp_path, D, 0, 1)


def test_cli_generate(tmp_path: Path) -> None:
    from pipeline.cli import main

    code = main(
        ["-q", "generate", "--date", "2026-11-20", "--accounts", "25", "--data-root", str(tmp_path)]
    )
    assert code == 0
    assert len(list((tmp_path / "inbox" / "20261120").iterdir())) == 9
    # A second, different set for the same date is refused with exit 2, not overwritten.
    code = main(
        ["-q", "generate", "--date", "2026-11-20", "--accounts", "26", "--data-root", str(tmp_path)]
    )
    assert code == 2


@pytest.mark.parametrize(
    "day",
    [
        dt.date(2026, 12, 31),  # year end, inside the December delivery month
        dt.date(2027, 2, 26),  # end of a short month (EOM coupon clamping)
        dt.date(2026, 5, 15),  # a coupon date of the 15th-cycle notes and bonds
        dt.date(2025, 6, 2),  # before the shipped parameter file is in force
        dt.date(2031, 3, 17),  # far out: contract codes and STRIPS roll on
    ],
)
def test_date_edges_keep_the_spec_rules(tmp_path: Path, day: dt.date) -> None:
    import polars as pl

    paths = generate_inputs(tmp_path, day, 40, 8)
    sec = pl.read_csv(paths["treasury_securities"], try_parse_dates=True)
    assert (sec["maturity_date"] > day).all() and (sec["issue_date"] < sec["maturity_date"]).all()
    assert sec["clean_price"].is_between(1, 250).all()
    assert sec["accrued_interest"].is_between(0, 10).all()
    assert ((sec["dv01_per_100"] > 0) & (sec["dv01_per_100"] <= 0.5)).all()
    assert sec["cusip"].is_unique().all()
    con = pl.read_csv(paths["cme_contracts"], schema_overrides={"maturity_month": pl.Utf8})
    assert con["contract_id"].is_unique().all() and con["product_code"].n_unique() == 11
    assert ((con["dv01_per_contract"] > 0) & (con["dv01_per_contract"] <= 1000)).all()
    assert con["risk_tenor_years"].is_between(0, 40).all()
    pos = pl.read_csv(paths["ficc_positions"], try_parse_dates=True)
    assert (pos["business_date"] == day).all() and (pos["settlement_date"] >= day).all()


def _firm_params(root: Path, edit: object) -> None:
    """A data-root parameter file in force from 2026-11-01, edited from the shipped default."""
    import yaml

    from pipeline.resources import SHIPPED_PARAMS_DIR

    doc = yaml.safe_load((SHIPPED_PARAMS_DIR / "margin_params.yaml").read_text())
    doc["effective_from"] = dt.date(2026, 11, 1)
    edit(doc)  # type: ignore[operator]
    (root / "params").mkdir(parents=True)
    (root / "params" / "firm.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def test_the_products_listed_are_those_of_the_parameter_file_in_force(tmp_path: Path) -> None:
    import polars as pl

    from pipeline.cli import main

    def without_zq(doc: dict) -> None:  # type: ignore[type-arg]
        del doc["cme"]["products"]["ZQ"]
        doc["cme"]["inter_spreads"] = [
            s for s in doc["cme"]["inter_spreads"] if "ZQ" not in s.values()
        ]
        doc["xm"]["eligible_cme_products"].remove("ZQ")

    _firm_params(tmp_path, without_zq)
    paths = generate_inputs(tmp_path, D, 200, 3)
    contracts = pl.read_csv(paths["cme_contracts"], infer_schema=False)
    assert "ZQ" not in set(contracts["product_code"])
    assert {"ZN", "SR3", "SR1"} <= set(contracts["product_code"])
    assert "ZQ" not in paths["cme_positions"].read_text()
    # The set passes its contracts under that file (cme_contracts' enum is read from it).
    args = ["--quiet", "validate", "--date", D.isoformat(), "--data-root", str(tmp_path)]
    assert main(args) == 0


def test_a_product_the_generator_cannot_shape_is_named(tmp_path: Path) -> None:
    def with_zx(doc: dict) -> None:  # type: ignore[type-arg]
        doc["cme"]["products"]["ZX"] = {"scan_bp": 50, "intra_bp": 7}

    _firm_params(tmp_path, with_zx)
    with pytest.raises(InvocationError, match=r"cme\.products \['ZX'\] have no row in"):
        generate_inputs(tmp_path, D, 50, 3)
    assert not (tmp_path / "inbox" / "20261120").exists()
