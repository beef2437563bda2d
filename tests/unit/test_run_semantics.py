"""Run semantics of SPEC §8 through the CLI: idempotent reruns, history, rejection, locking."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main

GOLDEN = Path(__file__).parents[1] / "golden" / "01_xm_basis_cap"
D = "2026-11-20"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(GOLDEN / "inbox", tmp_path / "inbox")
    return tmp_path


def _run(root: Path, *extra: str) -> int:
    args = ["--quiet", "run", "--date", D, "--data-root", str(root)]
    return main([*args, "--params", str(GOLDEN / "params.yaml"), *extra])


def _out(root: Path) -> Path:
    return root / "outputs" / f"business_date={D}"


def _output_hashes(manifest: dict[str, Any]) -> dict[str, str]:
    return {o["name"]: o["sha256"] for o in manifest["outputs"]}


def test_rerun_is_idempotent_and_keeps_history(root: Path) -> None:
    assert _run(root) == 0
    first = json.loads((_out(root) / "manifest.json").read_text())
    assert _run(root) == 0
    second = json.loads((_out(root) / "manifest.json").read_text())
    assert first["run_id"] != second["run_id"]
    assert _output_hashes(first) == _output_hashes(second)
    history = list((root / "outputs" / "_history").rglob("*.json"))
    assert any(first["run_id"] in p.name for p in history)
    # Exactly one published set: the previous run's folder is gone.
    published = [p for p in (root / "outputs").iterdir() if p.name.startswith("business_date=")]
    assert published == [_out(root)]
    assert (_out(root) / "_SUCCESS").is_file()


def test_manifest_records_inputs_params_outputs_and_totals(root: Path) -> None:
    assert _run(root) == 0
    manifest = json.loads((_out(root) / "manifest.json").read_text())
    names = {i["name"] for i in manifest["inputs"]}
    assert len(names) == 9
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert manifest["params"]["version"] == "golden"
    totals = manifest["control_totals"]
    # XM1: N8 10M + bill 20M; NX1: N8 10M; HX1: N8 10M (golden README 01).
    assert totals["ficc_sum_net_par"] == (10_000_000 + 20_000_000) + 10_000_000 + 10_000_000
    assert totals["ficc_sum_abs_net_par"] == totals["ficc_sum_net_par"]
    assert totals["cme_sum_net_qty"] == -100 - 100 - 50
    assert totals["sum_call_amount"] == 80_100


def test_rejected_input_publishes_nothing_and_keeps_previous(root: Path) -> None:
    assert _run(root) == 0
    before = (_out(root) / "manifest.json").read_text()
    ficc = root / "inbox" / "20261120" / "ficc_positions_20261120.csv"
    ficc.write_text(ficc.read_text().replace("91282CQ87", "91282CQ88", 1))
    assert _run(root) == 1
    assert (_out(root) / "manifest.json").read_text() == before
    quarantined = list((root / "quarantine" / "20261120").rglob("ficc_positions_20261120.csv"))
    assert quarantined, "the rejected file is copied to quarantine"


def test_positions_without_a_balance_row_are_refused_before_margin(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SPEC §2.6, §3: the balances contract's rule; margin never sees such a book."""
    balances = root / "inbox" / "20261120" / "balances_20261120.csv"
    lines = balances.read_text().splitlines(keepends=True)
    balances.write_text("".join(line for line in lines if not line.startswith("HX1,")))
    capsys.readouterr()
    assert _run(root, "--keep-work") == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "balances_20261120.csv: rule accounts_with_positions_have_balance" in err
    assert not _out(root).exists()
    assert not list((root / "work").rglob("account_margin-*.parquet"))


def test_futures_variation_margin_leaves_equity_and_every_output_unchanged(
    tmp_path: Path,
) -> None:
    """SPEC §9: equity excludes FMTM (staged but unused), so every table publishes alike."""
    plain, varied = tmp_path / "plain", tmp_path / "varied"
    for root in (plain, varied):
        shutil.copytree(GOLDEN / "inbox", root / "inbox")
    fixml = varied / "inbox" / "20261120" / "cme_positions_20261120.xml"
    text = fixml.read_text()
    assert text.count('Amt Typ="FMTM" Amt="0.00"') == 3
    for i, amount in enumerate(("-250000.00", "1000000.00", "-7.25")):
        text = text.replace('Amt="0.00"', f'Amt="{amount}"', 1)
        assert amount in text, i
    fixml.write_text(text)
    assert _run(plain) == 0 and _run(varied) == 0
    manifests = [json.loads((_out(r) / "manifest.json").read_text()) for r in (plain, varied)]
    assert _output_hashes(manifests[0]) == _output_hashes(manifests[1])
    # The two FIXML files differ (the manifests record their hashes); the outputs do not.
    assert manifests[0]["inputs"] != manifests[1]["inputs"]


def test_inputs_are_never_modified(root: Path) -> None:
    inbox = root / "inbox" / "20261120"
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in inbox.iterdir()}
    assert _run(root) == 0
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in inbox.iterdir()}
    assert before == after


def test_second_concurrent_run_of_the_same_date_is_refused(root: Path) -> None:
    code = (
        "import datetime as dt, sys, time; from pathlib import Path;"
        "from pipeline.publish import DateLock;"
        f"lock = DateLock(Path({str(root)!r}), dt.date(2026, 11, 20), 'holder');"
        "lock.__enter__(); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert _run(root) == 2
        assert not _out(root).exists()
    finally:
        holder.kill()
        holder.wait()
    # The lock died with its holder: the date runs now.
    assert _run(root) == 0


def test_sharded_run_publishes_the_same_bytes_as_one_shard(tmp_path: Path) -> None:
    # The Airflow DAG margins in shards; its outputs must hash like `xmargin run`'s. A generated
    # book is big enough that BLAS kernels chosen by shape would change last bits per shard.
    one, four = tmp_path / "one", tmp_path / "four"
    gen = ["--quiet", "generate", "--date", D, "--accounts", "1500", "--seed", "3"]
    assert main([*gen, "--data-root", str(one)]) == 0
    shutil.copytree(one / "inbox", four / "inbox")
    for root, shards in ((one, "1"), (four, "4")):
        assert (
            main(["--quiet", "run", "--date", D, "--data-root", str(root), "--shards", shards]) == 0
        )

    def manifest(root: Path) -> dict[str, Any]:
        return dict(json.loads((_out(root) / "manifest.json").read_text()))

    assert _output_hashes(manifest(one)) == _output_hashes(manifest(four))


def test_backfill_line_names_each_date_once(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 2026-11-21 is a Saturday: the range holds one business date, published once.
    args = ["backfill", "--start", D, "--end", "2026-11-21", "--data-root", str(root)]
    assert main([*args, "--params", str(GOLDEN / "params.yaml")]) == 0
    err = capsys.readouterr().err
    assert f"✓ {D}: published {_out(root)}" in err
    assert "2026-11-21" not in err
    assert "backfill: 1 succeeded, 0 failed" in err
