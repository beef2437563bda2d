"""A run is frozen at its start (issue 11 defect 1): every task computes with the same parameters.

`start_run` selects the parameter file once and copies its bytes into the run's work folder;
every later task (possibly another process on another worker) rebuilds its context from
`context.json` alone and loads that copy, checking its sha256. Editing the parameter file while
the DAG runs changes nothing of this run; its manifest names the file, version and sha256 the
run started with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest

import pipeline.config
import pipeline.context
import pipeline.run
from pipeline.context import RunContext
from pipeline.errors import InternalError
from pipeline.inputs import INPUTS

GOLDEN = Path(__file__).parents[1] / "golden" / "01_xm_basis_cap"
D = dt.date(2026, 11, 20)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(GOLDEN / "inbox", tmp_path / "inbox")
    (tmp_path / "params").mkdir()
    # Newer than the shipped default, so it is the file in force on D (SPEC §2.10).
    text = (GOLDEN / "params.yaml").read_text().replace("2000-01-01", "2026-11-01")
    (tmp_path / "params" / "firm.yaml").write_text(text)
    return tmp_path


def _edit(root: Path, version: str) -> None:
    """What an operator might do mid-run: a new version that issues no call at all."""
    path = root / "params" / "firm.yaml"
    text = path.read_text()
    text = text.replace('version: "golden"', f'version: "{version}"')
    text = text.replace("min_call_amount: 0 ", "min_call_amount: 1000000000 ")
    path.write_text(text)


def _load(ctx: RunContext) -> RunContext:
    """A task's context, rebuilt from the run reference's three strings as a worker does."""
    return RunContext.load(ctx.business_date, Path(str(ctx.data_root)), ctx.run_id)


def test_every_task_computes_with_the_parameters_the_run_started_with(root: Path) -> None:
    original = (root / "params" / "firm.yaml").read_bytes()
    ctx = pipeline.run.start_run(D, root)
    assert ctx.params.version == "golden"
    _edit(root, "edited-before-validation")
    for spec in INPUTS:
        pipeline.run.validate_stage(_load(ctx), [spec.name])
    pipeline.run.finish_validation(_load(ctx))
    _edit(root, "edited-between-shards")
    pipeline.run.margin_shard(_load(ctx), 0, 2)
    _edit(root, "edited-again")
    pipeline.run.margin_shard(_load(ctx), 1, 2)
    pipeline.run.reduce_margin(_load(ctx), 2)
    pipeline.run.reserve_stage(_load(ctx))
    out = pipeline.run.publish_stage(_load(ctx))

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["version"] == "golden"
    assert manifest["params"]["sha256"] == hashlib.sha256(original).hexdigest()
    assert manifest["params"]["source"] == str((root / "params" / "firm.yaml").resolve())
    # Calls as with min_call_amount 0 (golden README 01), not as the edited file says.
    assert manifest["control_totals"]["sum_call_amount"] == 80_100
    assert manifest["control_totals"]["calls_count"] > 0


def test_a_task_refuses_a_frozen_copy_that_changed(root: Path) -> None:
    ctx = pipeline.run.start_run(D, root)
    frozen = ctx.work_dir / "params.yaml"
    assert frozen.read_bytes() == (root / "params" / "firm.yaml").read_bytes()
    frozen.write_bytes(frozen.read_bytes().replace(b'"golden"', b'"tampered"'))
    with pytest.raises(InternalError, match=r"params\.yaml.*sha256"):
        _load(ctx)
    frozen.unlink()
    with pytest.raises(InternalError, match=r"params\.yaml"):
        _load(ctx)


def test_the_context_comes_from_context_json_alone(root: Path) -> None:
    """A worker whose own data root spelling differs still finds the same run and parameters."""
    ctx = pipeline.run.start_run(D, root)
    doc = json.loads((ctx.work_dir / "context.json").read_text())
    assert doc["params_sha256"] == ctx.params.sha256
    shutil.rmtree(root / "params")  # the original is gone: the run does not need it
    again = _load(ctx)
    assert again.params == ctx.params
    assert again.started_at == ctx.started_at
    with pytest.raises(InternalError, match=r"context\.json"):
        RunContext.load(D, root, "no-such-run")


def test_the_parameter_file_is_selected_once_per_run(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dt.date] = []
    real = pipeline.config.select_params

    def counted(*args: object, **kwargs: object) -> pipeline.config.Params:
        calls.append(D)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    for module in (pipeline.config, pipeline.run, pipeline.context):
        if hasattr(module, "select_params"):
            monkeypatch.setattr(module, "select_params", counted)
    result = pipeline.run.run_date(D, root)
    assert result.exit_code == 0, result.message
    assert len(calls) == 1
