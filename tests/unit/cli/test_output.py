"""What the CLI prints (SPEC §8): `--json` on stdout, progress on stderr, `--quiet`, JSON logs.

`pipeline.run.run_date` is replaced by a stand-in that reports stages like the real one, so these
tests pin the command line itself, whatever state the computing stages are in.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pipeline
import pipeline.run as run_module
from pipeline.cli import main
from pipeline.run import RunResult
from tests.unit.reports.sample_folder import write_sample_folder

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
D = "2026-11-20"


def _fake_run_date(
    output_dir: Path | None, exit_code: int = 0, message: str = "published"
) -> Callable[..., RunResult]:
    # The parameter names of pipeline.run.run_date, which callers pass by keyword.
    def fake(
        business_date: dt.date,
        data_root: Path,
        params_file: Path | None = None,
        force: bool = False,
        n_shards: int = 1,
        progress: Callable[[str, dict[str, Any]], None] | None = None,
        keep_work: bool = False,
    ) -> RunResult:
        day, root, shards = business_date, data_root, n_shards
        if progress:
            progress("start", {"stage": "validate"})
            progress("done", {"stage": "validate", "seconds": 0.25, "rows": 1234567})
            progress("start", {"stage": "margin", "shards": shards})
            if exit_code:
                return RunResult(day, exit_code, message, run_id="r1", quarantine_dir=root / "q")
            progress("done", {"stage": "margin", "seconds": 1.5, "accounts": 200000})
        return RunResult(
            day,
            0,
            message,
            run_id="r1",
            output_dir=output_dir,
            summary={
                "accounts": 200000,
                "calls": 3,
                "sum_call_amount": 80100,
                "reserve_requirement": {"CUSTOMER": 266200.0, "PAB": 0.0},
            },
        )

    return fake


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """A data root whose 2026-11-20 outputs are a synthetic published folder."""
    folder = write_sample_folder(tmp_path / "outputs" / f"business_date={D}", n_accounts=200)
    (folder / "_SUCCESS").write_text("sample-7\n")
    return tmp_path


def test_json_summary_is_the_only_stdout_and_progress_goes_to_stderr(
    published: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = published / "outputs" / f"business_date={D}"
    (out_dir / "report.html").write_text("<html></html>")
    monkeypatch.setattr(run_module, "run_date", _fake_run_date(out_dir))
    code = main(["--json", "run", "--date", D, "--data-root", str(published)])
    assert code == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert captured.out.count("\n") == 1
    assert payload["status"] == "success"
    assert payload["exit_code"] == 0
    assert payload["summary"]["calls"] == 3
    assert payload["report"] == str(out_dir / "report.html")
    # Not a terminal: plain lines, no escape codes, row counts with separators.
    assert not ANSI.search(captured.err)
    lines = captured.err.splitlines()
    assert "✓ validate in 0.25s rows=1,234,567" in lines
    assert "✓ margin in 1.50s accounts=200,000" in lines
    assert "▶ margin (1 shard(s)) …" in lines
    assert any("reserve CUSTOMER $266,200.00, PAB $0.00" in line for line in lines)


def test_quiet_silences_progress_but_not_the_json_summary(
    published: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = published / "outputs" / f"business_date={D}"
    monkeypatch.setattr(run_module, "run_date", _fake_run_date(out_dir))
    code = main(["--quiet", "--json", "run", "--date", D, "--data-root", str(published)])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.err == ""
    assert json.loads(captured.out)["summary"]["accounts"] == 200000


def test_quiet_failure_prints_one_error_line_and_keeps_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--quiet", "run", "--date", "2026-11-26", "--data-root", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("xmargin: error: 2026-11-26 is not a SIFMA")


def test_json_failure_carries_exit_code_and_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--json", "run", "--date", "2026-11-26", "--data-root", str(tmp_path)])
    payload = json.loads(capsys.readouterr().out)
    assert code == 2
    assert payload["status"] == "failed"
    assert payload["exit_code"] == 2
    assert "not a SIFMA U.S. bond market business day" in payload["message"]


def test_bad_date_with_json_still_gives_one_json_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--json", "run", "--date", "20261120", "--data-root", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 2
    assert json.loads(captured.out) == {
        "exit_code": 2,
        "message": "bad invocation",
        "status": "failed",
    }
    assert "is not an ISO date YYYY-MM-DD" in captured.err


def test_rejection_names_the_quarantine_on_an_indented_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    message = "ficc_positions_20261120.csv: rule par_multiple_of_100: column par_amount: 2 rows"
    monkeypatch.setattr(run_module, "run_date", _fake_run_date(None, 1, message))
    code = main(["--json", "run", "--date", D, "--data-root", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1
    error_lines = [ln for ln in captured.err.splitlines() if not ln.startswith(("▶", "✓"))]
    assert error_lines == [f"xmargin: error: {message}", f"  quarantined: {tmp_path / 'q'}"]
    payload = json.loads(captured.out)
    assert payload["exit_code"] == 1
    assert payload["quarantine_dir"] == str(tmp_path / "q")


def test_json_logs_make_stderr_json_lines_only(
    published: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = published / "outputs" / f"business_date={D}"
    monkeypatch.setattr(run_module, "run_date", _fake_run_date(out_dir))
    code = main(["--log-format", "json", "run", "--date", D, "--data-root", str(published)])
    captured = capsys.readouterr()
    assert code == 0
    records = [json.loads(line) for line in captured.err.splitlines()]
    done = {r["stage"]: r for r in records if r.get("event") == "stage_done"}
    assert done["validate"]["rows"] == 1234567
    assert done["margin"]["accounts"] == 200000
    assert done["margin"]["seconds"] == 1.5
    assert all(r["logger"].startswith("xmargin") and "ts" in r for r in records)
    assert any(r.get("event") == "published" for r in records)


def test_json_log_errors_are_records_with_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--log-format", "json", "run", "--date", "2026-11-26", "--data-root", str(tmp_path)]
    )
    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "error"
    assert record["exit_code"] == 2
    assert "not a SIFMA" in record["msg"]


def test_unknown_log_format_is_a_bad_invocation(tmp_path: Path) -> None:
    assert main(["--log-format", "xml", "version"]) == 2


def test_terminal_gets_a_live_spinner_and_styled_lines(
    published: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out_dir = published / "outputs" / f"business_date={D}"
    monkeypatch.setattr(run_module, "run_date", _fake_run_date(out_dir))
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    code = main(["run", "--date", D, "--data-root", str(published)])
    assert code == 0
    text = tty.getvalue()
    assert ANSI.search(text)
    plain = ANSI.sub("", text)
    assert "✓ margin in 1.50s accounts=200,000" in plain
    # Stage starts are spinners on a terminal, not "▶" lines.
    assert "▶" not in plain


def test_report_without_published_outputs_exits_3_naming_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--json", "report", "--date", D, "--data-root", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 3
    folder = tmp_path / "outputs" / f"business_date={D}"
    assert captured.err.startswith(f"xmargin: error: no published outputs for {D} in {folder}")
    assert captured.err.count("\n") == 1
    assert json.loads(captured.out)["exit_code"] == 3


def test_report_on_a_folder_without_success_marker_exits_3(
    published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (published / "outputs" / f"business_date={D}" / "_SUCCESS").unlink()
    assert main(["report", "--date", D, "--data-root", str(published)]) == 3
    assert "no published outputs" in capsys.readouterr().err


def test_report_rerenders_a_published_folder(
    published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = published / "outputs" / f"business_date={D}"
    (folder / "report.html").write_text("stale")
    code = main(["--json", "report", "--date", D, "--data-root", str(published)])
    captured = capsys.readouterr()
    assert code == 0
    payload = json.loads(captured.out)
    assert payload == {
        "business_date": D,
        "exit_code": 0,
        "report": str(folder / "report.html"),
        "status": "success",
    }
    html = (folder / "report.html").read_text()
    assert 'id="fig-total-maintenance"' in html
    assert captured.err.startswith("✓ report: ")


def test_report_with_a_missing_table_exits_3_naming_it(
    published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (published / "outputs" / f"business_date={D}" / "exceptions.parquet").unlink()
    assert main(["report", "--date", D, "--data-root", str(published)]) == 3
    assert "exceptions.parquet" in capsys.readouterr().err


def test_backfill_json_lists_every_date_and_exits_with_the_worst_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _fake_run_date(tmp_path)
    bad = _fake_run_date(None, 3, "missing input file(s)")

    def fake(day: dt.date, *args: Any, **kwargs: Any) -> RunResult:
        return (bad if day == dt.date(2026, 11, 23) else good)(day, *args, **kwargs)

    monkeypatch.setattr(run_module, "run_date", fake)
    code = main(
        ["--json", "backfill", "--start", D, "--end", "2026-11-24", "--data-root", str(tmp_path)]
    )
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert code == 3
    assert [d["business_date"] for d in payload["dates"]] == [
        "2026-11-20",
        "2026-11-23",
        "2026-11-24",
    ]
    assert payload["failed"] == 1
    assert "✗ 2026-11-23: exit 3: missing input file(s)" in captured.err
    assert "backfill: 2 succeeded, 1 failed" in captured.err


def test_version_json(capsys: pytest.CaptureFixture[str]) -> None:
    import pipeline

    assert main(["--json", "version"]) == 0
    assert json.loads(capsys.readouterr().out) == {"version": pipeline.__version__}


_CONTRACTS = Path(pipeline.__file__).parent / "contracts" / "__init__.py"


@pytest.mark.skipif(not _CONTRACTS.is_file(), reason="needs the contracts stage (issue 3)")
def test_validate_reports_each_file_with_its_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    case = Path(__file__).parents[2] / "golden" / "01_xm_basis_cap"
    shutil.copytree(case / "inbox", tmp_path / "inbox")
    params = str(case / "params.yaml")
    code = main(
        ["--json", "validate", "--date", D, "--data-root", str(tmp_path), "--params", params]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    payload = json.loads(captured.out)
    assert len(payload["files"]) == 9
    rows = {f["input"]: f["rows"] for f in payload["files"]}
    for name in ("accounts", "treasury_securities", "ficc_positions", "reserve_bank"):
        pattern = rf"✓ validate {name} in \d+\.\d\ds rows={rows[name]:,} outcome=passed"
        assert re.search(pattern, captured.err), (name, captured.err)
    assert captured.err.index("validate accounts") < captured.err.index("validate ficc_positions")
