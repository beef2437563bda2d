"""The manifest records the bytes a run read, even if the inbox changes under it (SPEC §7.5)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main
from pipeline.contracts import validate

GOLDEN = Path(__file__).parents[1] / "golden" / "01_xm_basis_cap"
D = "2026-11-20"


def test_a_file_replaced_during_validation_is_recorded_as_the_bytes_validated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 defect 2: the FICC file is replaced by rename after it was read, before the
    run is done with it; the numbers and the manifest's sha256 must both be of the bytes read."""
    shutil.copytree(GOLDEN / "inbox", tmp_path / "inbox")
    ficc = tmp_path / "inbox" / "20261120" / "ficc_positions_20261120.csv"
    read = ficc.read_bytes()
    # Still a valid file, with other numbers: 10M more par for NX1.
    replacement = read.replace(
        b"NX1,91282CQ87,2026-11-20,10000000", b"NX1,91282CQ87,2026-11-20,20000000"
    )
    assert replacement != read
    real_compile = validate.compile_contract
    swapped: list[str] = []

    def compile_then_replace(contract: Any, env: Any) -> Any:
        # Called once the file's bytes were read, before its outcome is recorded.
        if contract.name == "ficc_positions" and not swapped:
            new = ficc.with_name(".replacement")
            new.write_bytes(replacement)
            os.replace(new, ficc)
            swapped.append(contract.name)
        return real_compile(contract, env)

    monkeypatch.setattr(validate, "compile_contract", compile_then_replace)
    args = ["--quiet", "run", "--date", D, "--data-root", str(tmp_path)]
    assert main([*args, "--params", str(GOLDEN / "params.yaml")]) == 0
    assert swapped and ficc.read_bytes() == replacement

    manifest = json.loads(
        (tmp_path / "outputs" / f"business_date={D}" / "manifest.json").read_text()
    )
    [entry] = [i for i in manifest["inputs"] if i["input"] == "ficc_positions"]
    assert entry["sha256"] == hashlib.sha256(read).hexdigest()
    assert entry["bytes"] == len(read)
    # The published numbers are those of the bytes read (golden README 01: XM1 10M + 20M,
    # NX1 10M, HX1 10M), not the replacement's 60M.
    assert manifest["control_totals"]["ficc_sum_net_par"] == 50_000_000
