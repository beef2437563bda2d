"""`xmargin history`: what it reads, its exit codes, the atomic pack and byte-identical reruns
(SPEC §10, §8)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from history_builders import Account, default_params, publish_day, requirement
from typer.testing import CliRunner

from pipeline import cli
from pipeline.errors import InternalError, InvocationError, NothingPublishedError
from pipeline.history import compute_tables, month_to_date, run_history
from pipeline.history.pack import pack_dir
from pipeline.history.schemas import HISTORY_TABLES
from pipeline.history.window import find_published, plan_history

D = {d: dt.date(2026, 11, d) for d in range(1, 31)}
REPO = Path(__file__).resolve().parents[3]


def _hashes(folder: Path) -> dict[str, str]:
    manifest = json.loads((folder / "manifest.json").read_text())
    return {o["name"]: o["sha256"] for o in manifest["outputs"]}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, list(args))
    return result.exit_code, result.stdout


def test_only_published_folders_one_level_under_outputs_are_found(tmp_path: Path) -> None:
    """business_date=D with _SUCCESS counts; a folder without it, the run folders under _runs/,
    _history/, work/, quarantine/ and a malformed name do not."""
    link = publish_day(tmp_path, D[16])
    outputs = tmp_path / "outputs"
    unfinished = outputs / "business_date=2026-11-17"
    shutil.copytree(link.resolve(), unfinished)
    (unfinished / "_SUCCESS").unlink()
    shutil.copytree(link.resolve(), outputs / "_runs" / "2026-11-18" / "business_date=2026-11-18")
    shutil.copytree(link.resolve(), outputs / "_history" / "business_date=2026-11-19")
    shutil.copytree(link.resolve(), tmp_path / "work" / "business_date=2026-11-20")
    shutil.copytree(link.resolve(), tmp_path / "quarantine" / "business_date=2026-11-23")
    shutil.copytree(link.resolve(), outputs / "business_date=2026-11-31")
    shutil.copytree(link.resolve(), outputs / "business_date=20261124")
    found = find_published(outputs)
    assert list(found) == [D[16]]
    # Read through the link's target: the run folder under _runs/ that was published.
    assert found[D[16]] == link.resolve()
    plan = plan_history(D[16], D[20], outputs)
    assert plan.missing == (D[17], D[18], D[19], D[20])


def test_bad_range_is_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    publish_day(tmp_path, D[16])
    with pytest.raises(InvocationError, match="before --start") as info:
        run_history(D[17], D[16], tmp_path)
    assert info.value.exit_code == 2
    code, out = _invoke(
        "--json", "history", "--start", "2026-11-17", "--end", "2026-11-16",
        "--data-root", str(tmp_path),
    )  # fmt: skip
    assert code == 2 and json.loads(out)["exit_code"] == 2
    code, _ = _invoke("history", "--start", "2026-11-1", "--end", "2026-11-16")
    assert code == 2
    code, _ = _invoke(
        "history", "--start", "2026-11-16", "--end", "2026-11-16",
        "--data-root", str(tmp_path), "--params", str(tmp_path / "nope.yaml"),
    )  # fmt: skip
    assert code == 2
    assert not (tmp_path / "compliance").exists()


def test_nothing_published_in_the_window_is_exit_3_and_writes_nothing(tmp_path: Path) -> None:
    """Published: Fri 13 and a forced run of Sat 21; the window 16 .. 20 has none published
    (a non-business folder never counts), and 14 .. 15 has no business date at all."""
    publish_day(tmp_path, D[13])
    publish_day(tmp_path, D[21])
    with pytest.raises(NothingPublishedError, match="2026-11-16 to 2026-11-22") as info:
        run_history(D[16], D[22], tmp_path)
    assert info.value.exit_code == 3
    code, out = _invoke(
        "--json", "history", "--start", "2026-11-14", "--end", "2026-11-15",
        "--data-root", str(tmp_path),
    )  # fmt: skip
    assert code == 3
    assert "2026-11-14 to 2026-11-15" in json.loads(out)["message"]
    assert not (tmp_path / "compliance").exists()


def test_a_published_folder_without_a_table_is_exit_4_naming_folder_and_table(
    tmp_path: Path,
) -> None:
    """17 lacks margin_calls.parquet. 13 lacks margin_by_account, but 13 is only read for its
    calls and exceptions (the chain look-back), so it is not named."""
    publish_day(tmp_path, D[13], drop=["margin_by_account"])
    publish_day(tmp_path, D[16])
    broken = publish_day(tmp_path, D[17], drop=["margin_calls"])
    with pytest.raises(InternalError) as info:
        run_history(D[16], D[17], tmp_path)
    message = str(info.value)
    assert str(broken.resolve()) in message and "margin_calls" in message
    assert "margin_by_account" not in message
    assert info.value.exit_code == 4
    code, out = _invoke(
        "--json", "history", "--start", "2026-11-16", "--end", "2026-11-17",
        "--data-root", str(tmp_path),
    )  # fmt: skip
    assert code == 4 and "margin_calls" in json.loads(out)["message"]
    assert not (tmp_path / "compliance").exists()


def _busy_history(root: Path) -> None:
    """Twelve business dates of 60 accounts each: calls, documents, reserve, XM savings."""
    for i, day in enumerate(d for d in D.values() if d.weekday() < 5 and d.day not in (11, 26)):
        accounts = [
            Account(
                f"A{k:03d}",
                xm_active=k % 3 == 0,
                money={
                    "f_sa": 1000.0 / (k + 1) + i,
                    "c_sa": 333.33 + k * 0.01,
                    "ficc_xm_im": 10.0 / (k + 3),
                    "cme_xm_im": 0.07 * k,
                    "maintenance_requirement": 123.45 * k,
                    "initial_requirement": 135.79 * k + i,
                },
            )
            for k in range(60)
        ]
        calls = {f"A{k:03d}": 100 + k + i for k in range(60) if (k + i) % 4}
        publish_day(
            root,
            day,
            accounts=accounts,
            calls=calls,
            documents=[f"A{k:03d}" for k in range(0, 60, 7)],
            reserve=requirement((1000.0 + 17.5 * i, 990.0 + 17.0 * i), (55.55, 55.55)),
            seg=(1000.0 + i, 999.0 + 2 * i),
        )


def test_reruns_write_the_same_table_bytes_whatever_the_thread_count(tmp_path: Path) -> None:
    """Money is summed as exact decimals, so 1, 2 and 4 DuckDB threads write the same bytes;
    a rerun replaces the pack and keeps only the newest run folder."""
    _busy_history(tmp_path)
    hashes = []
    for threads in (1, 2, 4):
        result = run_history(D[2], D[30], tmp_path, threads=threads)
        hashes.append(_hashes(result.output_dir))
        assert set(hashes[-1]) == set(HISTORY_TABLES)
    assert hashes[0] == hashes[1] == hashes[2]
    runs = tmp_path / "compliance" / "_runs" / "2026-11-02_2026-11-30"
    assert len(list(runs.iterdir())) == 1
    # And the tables are what the models computed, not an empty agreement.
    calls = pl.read_parquet(pack_dir(tmp_path, D[2], D[30]) / "call_history.parquet")
    assert calls.height > 400 and calls["consecutive_days"].max() == 3


def test_models_in_one_process_agree_across_thread_counts(tmp_path: Path) -> None:
    """The tables themselves (before any file is written) are equal for 1 and 3 threads."""
    _busy_history(tmp_path)
    plan = plan_history(D[2], D[30], tmp_path / "outputs")
    one, _ = compute_tables(plan, default_params(), threads=1)
    three, _ = compute_tables(plan, default_params(), threads=3)
    for table in HISTORY_TABLES:
        assert one[table].equals(three[table]), table


def test_a_failure_mid_write_leaves_the_previous_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second run dies after its third table: compliance/D1_D2 still is the first pack,
    byte for byte, and the failed run's staging folder is gone."""
    from pipeline.history import pack as pack_module

    publish_day(tmp_path, D[16], calls={"A": 5})
    first = run_history(D[16], D[16], tmp_path).output_dir
    before, target = _snapshot(first), os.readlink(first)
    publish_day(tmp_path, D[16], calls={"A": 6}, run_id="rerun")
    written = []
    real = pack_module.write_arrow

    def dying(arrow: object, table: str, dest: Path) -> object:
        if len(written) == 3:
            raise OSError("disk full")
        written.append(table)
        return real(arrow, table, dest)  # type: ignore[arg-type]

    monkeypatch.setattr(pack_module, "write_arrow", dying)
    with pytest.raises(OSError, match="disk full"):
        run_history(D[16], D[16], tmp_path)
    assert os.readlink(first) == target
    assert _snapshot(first) == before
    runs = tmp_path / "compliance" / "_runs" / "2026-11-16_2026-11-16"
    assert [p.name for p in runs.iterdir()] == [Path(target).name]


def test_a_failure_mid_write_with_no_previous_pack_leaves_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.history import pack as pack_module

    publish_day(tmp_path, D[16])

    def boom(folder: Path) -> None:
        raise OSError("fsync failed")

    monkeypatch.setattr(pack_module, "fsync_dir", boom)
    with pytest.raises(OSError, match="fsync failed"):
        run_history(D[16], D[16], tmp_path)
    link = pack_dir(tmp_path, D[16], D[16])
    assert not link.exists() and not link.is_symlink()
    assert list((tmp_path / "compliance" / "_runs" / link.name).iterdir()) == []


KILL_MID_WRITE = """
import os, sys, datetime as dt
from pathlib import Path
from pipeline.history import pack, run_history
real, written = pack.write_arrow, []
def dying(arrow, table, dest):
    if len(written) == 2:
        os._exit(9)          # the process dies: no cleanup, no exception handler runs
    written.append(table)
    return real(arrow, table, dest)
pack.write_arrow = dying
run_history(dt.date(2026, 11, 16), dt.date(2026, 11, 16), Path(sys.argv[1]))
"""


def test_a_process_killed_mid_write_leaves_the_previous_pack_and_the_next_run_tidies(
    tmp_path: Path,
) -> None:
    """A real crash (os._exit in the middle of the tables): the link still names the first
    pack, whose bytes are unchanged; the next complete run swaps in and removes the debris."""
    publish_day(tmp_path, D[16], calls={"A": 5})
    first = run_history(D[16], D[16], tmp_path).output_dir
    before = _snapshot(first)
    done = subprocess.run(
        [sys.executable, "-c", KILL_MID_WRITE, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 9, done.stderr.decode()[-2000:]
    assert _snapshot(first) == before
    runs = tmp_path / "compliance" / "_runs" / "2026-11-16_2026-11-16"
    assert len(list(runs.iterdir())) == 2  # the published pack and the dead run's staging
    again = run_history(D[16], D[16], tmp_path).output_dir
    assert _hashes(again) == _hashes(first)
    assert len(list(runs.iterdir())) == 1


def test_cli_json_summary_and_progress(tmp_path: Path) -> None:
    publish_day(tmp_path, D[16], calls={"A": 5}, reserve=requirement((10, 0)))
    publish_day(tmp_path, D[17], calls={"A": 5})
    code, out = _invoke(
        "--json", "history", "--start", "2026-11-16", "--end", "2026-11-18",
        "--data-root", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "success" and doc["exit_code"] == 0
    assert doc["output_dir"] == str(tmp_path.resolve() / "compliance" / "2026-11-16_2026-11-18")
    assert doc["missing_dates"] == ["2026-11-18"]
    assert doc["exceptions"] == {"DEPOSIT_SHORTFALL": 1, "MISSING_DATE": 1}
    assert doc["tables"]["call_history"] == 2
    assert Path(doc["page"]).is_file()
    assert (Path(doc["output_dir"]) / "_SUCCESS").read_text().strip() == doc["run_id"]


def test_month_to_date_window() -> None:
    """SPEC §10.11: first SIFMA business date of D's month .. D; a forced run of a closed day
    before the month's first business date has no window."""
    assert month_to_date(D[20]) == (D[2], D[20])
    assert month_to_date(dt.date(2026, 9, 1)) == (dt.date(2026, 9, 1), dt.date(2026, 9, 1))
    assert month_to_date(D[1]) is None  # Sunday 1 November: the month opens on Monday 2
