"""Exit codes and refusals of the command line that need no computation (SPEC §8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.cli import main

GOLDEN = Path(__file__).parents[2] / "golden" / "01_xm_basis_cap"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(GOLDEN / "inbox", tmp_path / "inbox")
    return tmp_path


def test_non_business_date_is_refused_with_exit_2(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--date", "2026-11-26", "--data-root", str(root)])
    assert code == 2
    assert "not a SIFMA U.S. bond market business day" in capsys.readouterr().err
    assert not (root / "outputs").exists() or not any((root / "outputs").glob("business_date=*"))


def test_bad_date_is_a_bad_invocation(root: Path) -> None:
    assert main(["run", "--date", "20261120", "--data-root", str(root)]) == 2


def test_missing_file_exits_3_naming_it(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (root / "inbox" / "20261120" / "balances_20261120.csv").unlink()
    code = main(
        [
            "run",
            "--date",
            "2026-11-20",
            "--data-root",
            str(root),
            "--params",
            str(GOLDEN / "params.yaml"),
        ]
    )
    assert code == 3
    assert "balances_20261120.csv" in capsys.readouterr().err
    assert (
        not list((root / "outputs").glob("business_date=*"))
        if (root / "outputs").exists()
        else True
    )


def test_missing_files_are_checked_before_validation(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = root / "inbox" / "20261120"
    (inbox / "accounts_20261120.csv").write_bytes(b"\xff\xfe garbage")
    (inbox / "reserve_bank_20261120.csv").unlink()
    code = main(["run", "--date", "2026-11-20", "--data-root", str(root)])
    assert code == 3


def test_malformed_params_file_exits_2(root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: x\neffective_from: 2000-01-01\n")
    code = main(["run", "--date", "2026-11-20", "--data-root", str(root), "--params", str(bad)])
    assert code == 2


def test_missing_params_file_exits_2(root: Path, tmp_path: Path) -> None:
    code = main(
        [
            "run",
            "--date",
            "2026-11-20",
            "--data-root",
            str(root),
            "--params",
            str(tmp_path / "nope.yaml"),
        ]
    )
    assert code == 2
