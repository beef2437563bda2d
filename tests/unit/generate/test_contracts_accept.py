"""A generated set passes the team's data contracts with no warning (SPEC §3): the real check."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline.generate import generate_inputs

D = dt.date(2026, 11, 20)


@pytest.mark.slow
def test_generated_set_passes_every_contract(tmp_path: Path) -> None:
    from pipeline.run import finish_validation, start_run, validate_stage

    generate_inputs(tmp_path, D, 250, 21)
    ctx = start_run(D, tmp_path)
    validate_stage(ctx)
    outcome = finish_validation(ctx)
    results = {f.name: (f.outcome, f.failures) for f in outcome.files}
    assert len(results) == 9
    assert all(result == "passed" for result, _ in results.values()), results
