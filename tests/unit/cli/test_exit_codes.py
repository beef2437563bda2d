"""Exit codes and refusals of the command line that need no computation (SPEC §8)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
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


def _run(root: Path, *options: str) -> int:
    args = [*options, "run", "--date", "2026-11-20", "--data-root", str(root)]
    return main([*args, "--params", str(GOLDEN / "params.yaml")])


def test_an_unforeseen_defect_exits_4_and_keeps_the_published_set(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC §8: a defect (here injected into the reserve stage) is exit 4, publishing nothing."""
    import pipeline.reserve

    assert _run(root, "--quiet") == 0
    published = root / "outputs" / "business_date=2026-11-20"
    before = {p.name: p.read_bytes() for p in published.iterdir() if p.is_file()}

    def defect(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(pipeline.reserve, "compute_segregation", defect)
    capsys.readouterr()
    assert _run(root, "--json") == 4
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["exit_code"] == 4 and summary["status"] == "failed"
    assert summary["message"] == "internal error: ZeroDivisionError: float division by zero"
    assert "internal error: ZeroDivisionError" in captured.err
    after = {p.name: p.read_bytes() for p in published.iterdir() if p.is_file()}
    assert after == before


def test_run_force_computes_and_publishes_a_non_business_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SPEC §1, §8: Thanksgiving is refused (exit 2) unless --force; forced, it publishes."""
    holiday = "2026-11-26"
    assert main(["--quiet", "generate", "--date", holiday, "--accounts", "40",
                 "--data-root", str(tmp_path)]) == 0  # fmt: skip
    run = ["--quiet", "run", "--date", holiday, "--data-root", str(tmp_path)]
    assert main(run) == 2
    assert not (tmp_path / "outputs").exists()
    assert main([*run, "--force"]) == 0
    published = tmp_path / "outputs" / f"business_date={holiday}"
    assert (published / "_SUCCESS").is_file()
    manifest = json.loads((published / "manifest.json").read_text())
    assert manifest["business_date"] == holiday
    calls = pl.read_parquet(published / "margin_calls.parquet")
    # A call issued on the holiday is due the next business day, 09:00 New York (SPEC §7.2).
    assert set(calls["due_by"].dt.strftime("%Y-%m-%dT%H:%M%z")) <= {"2026-11-27T09:00-0500"}
