"""The table registry (pipeline.outputs) is what the stages actually write and publish."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from pipeline import outputs
from pipeline.errors import InternalError
from pipeline.run import run_date

GOLDEN = Path(__file__).parents[1] / "golden" / "01_xm_basis_cap"
D = "2026-11-20"


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One golden run on 2 shards with its work folder kept."""
    import datetime as dt

    root = tmp_path_factory.mktemp("registry")
    shutil.copytree(GOLDEN / "inbox", root / "inbox")
    result = run_date(
        dt.date.fromisoformat(D),
        root,
        GOLDEN / "params.yaml",
        n_shards=2,
        keep_work=True,
    )
    assert result.ok, result.message
    return root


def _work_dir(root: Path) -> Path:
    (work,) = (root / "work" / "20261120").iterdir()
    return work


def test_every_work_table_is_where_the_registry_says_with_its_columns(kept_run: Path) -> None:
    work = _work_dir(kept_run)
    expected: set[Path] = set()
    for table in outputs.TABLES:
        if table.stage is outputs.Stage.PUBLISH:
            continue  # assembled by publish straight into the published folder
        paths = (
            [table.shard_path(work, k, 2) for k in range(2)]
            if table.per_shard
            else [table.work_path(work)]
        )
        for path in paths:
            assert pl.read_parquet_schema(path) == table.schema.polars(), path.name
        expected.update(paths)
    written = {p for folder in ("margin", "results") for p in (work / folder).iterdir()}
    assert written == expected


def test_the_published_folder_holds_exactly_the_published_tables(kept_run: Path) -> None:
    folder = kept_run / "outputs" / f"business_date={D}"
    parquet = sorted(p.name for p in folder.glob("*.parquet"))
    assert parquet == sorted(t.filename for t in outputs.PUBLISHED)
    for table in outputs.PUBLISHED:
        assert tuple(pl.read_parquet_schema(folder / table.filename)) == table.schema.names


def test_published_tables_come_in_manifest_order_and_intermediates_stay_behind() -> None:
    assert outputs.PUBLISHED_NAMES == (
        "margin_by_account",
        "margin_calls",
        "reserve_computation",
        "xm_segregation",
        "xm_segregation_summary",
        "exceptions",
        "dv01_by_tenor",
    )
    assert {t.name for t in outputs.TABLES if not t.published} == {
        "account_margin",
        "dv01_partials",
        "exceptions_margin",
    }
    assert len(outputs.TABLES_BY_NAME) == len(outputs.TABLES)


def test_a_stage_refuses_to_write_columns_the_registry_does_not_list(tmp_path: Path) -> None:
    from pipeline.run import _write

    table = outputs.EXCEPTIONS_MARGIN
    frame = pl.DataFrame({"kind": ["X"], "detail": ["y"]})
    with pytest.raises(InternalError, match="exceptions_margin: found columns"):
        _write(table, frame, table.work_path(tmp_path))
    assert not table.work_path(tmp_path).exists()


def test_paths_per_run_and_per_shard_are_not_interchangeable(tmp_path: Path) -> None:
    assert outputs.ACCOUNT_MARGIN.shard_path(tmp_path, 1, 4) == (
        tmp_path / "margin" / "account_margin-1-of-4.parquet"
    )
    assert outputs.MARGIN_CALLS.work_path(tmp_path) == tmp_path / "results" / "margin_calls.parquet"
    with pytest.raises(ValueError, match="per shard"):
        outputs.ACCOUNT_MARGIN.work_path(tmp_path)
    with pytest.raises(ValueError, match="once per run"):
        outputs.MARGIN_CALLS.shard_path(tmp_path, 0, 1)


def test_the_reduce_takes_the_dv01_profile_from_the_shards_not_the_positions(
    tmp_path: Path,
) -> None:
    """SPEC §4 profile from the shards' partial sums: the reduce never reads a position file."""
    import datetime as dt

    from pipeline.inputs import staged_path
    from pipeline.run import margin_shard, reduce_margin, start_run, validate_inputs

    shutil.copytree(GOLDEN / "inbox", tmp_path / "inbox")
    ctx = start_run(dt.date.fromisoformat(D), tmp_path, GOLDEN / "params.yaml")
    validate_inputs(ctx)
    for k in range(3):
        margin_shard(ctx, k, 3)
    for name in ("ficc_positions", "cme_positions"):
        staged_path(ctx.staged_dir, name).write_bytes(b"not parquet")
    reduce_margin(ctx, 3)
    dv01 = pl.read_parquet(outputs.DV01_BY_TENOR.work_path(ctx.work_dir))
    # Golden case 01 (tests/unit/margin/test_models.py): net 7y DV01 14,000 − 11,666.67.
    net_7y = dv01.filter(pl.col("tenor_years") == 7.0).get_column("net_dv01").item()
    assert net_7y == pytest.approx(7_000 / 3)
