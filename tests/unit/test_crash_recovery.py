"""Real SIGKILLs of `xmargin run` (issue 11 defects 3, 4 and the work-folder leak).

A run is killed at exact steps of publishing (`$XMARGIN_CRASH_AT`, a test seam that SIGKILLs the
process itself) and at random moments. After each kill `business_date=D` is absent or a whole
set, and `_history` holds only manifests of sets that were once the published one. A rerun then
succeeds and leaves no stale `_runs/` folder, no `*.tmp`, no dangling swap link, and no more
than `pipeline.scratch.KEEP_FAILED` work folders of failed runs.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "01_xm_basis_cap"
D = "2026-11-20"
# The steps of publishing a kill can land between (pipeline.publish.publisher, ingest.staging).
CRASH_POINTS = ("publish:success", "publish:filed", "swap:link", "publish:swapped")
KEEP_FAILED = 3


def _cmd(root: Path) -> list[str]:
    return [
        sys.executable, "-m", "pipeline", "--quiet", "run", "--date", D,
        "--data-root", str(root), "--params", str(GOLDEN / "params.yaml"),
    ]  # fmt: skip


def _env(crash_at: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XMARGIN")}
    if crash_at:
        env["XMARGIN_CRASH_AT"] = crash_at
    return env


def _out(root: Path) -> Path:
    return root / "outputs" / f"business_date={D}"


class Ledger:
    """Which sets were ever the published one, checked after every process ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.published: set[str] = set()

    def check(self) -> None:
        link = _out(self.root)
        if os.path.lexists(link):
            assert link.is_symlink(), "business_date=D is a swapped symlink"
            target = link.resolve()
            assert (target / "_SUCCESS").is_file(), f"published a set without _SUCCESS: {target}"
            manifest = json.loads((target / "manifest.json").read_text())
            for output in manifest["outputs"]:
                assert (target / f"{output['name']}.parquet").is_file(), output["name"]
            self.published.add(manifest["run_id"])
        history = self.root / "outputs" / "_history"
        filed = {json.loads(p.read_text())["run_id"] for p in history.rglob("*.manifest.json")}
        assert filed <= self.published, f"filed sets never published: {filed - self.published}"

    def run(self) -> None:
        done = subprocess.run(_cmd(self.root), env=_env(), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        self.check()

    def clean(self) -> None:
        """After a successful run: nothing stale is left of the killed ones."""
        outputs = self.root / "outputs"
        target = _out(self.root).resolve()
        runs = outputs / "_runs" / D
        assert [p for p in runs.iterdir()] == [target], "stale staging folders"
        assert list(outputs.rglob("*.tmp*")) == []
        assert list(outputs.glob(".business_date=*")) == [], "dangling swap link"
        work = self.root / "work" / D.replace("-", "")
        kept = sorted(work.iterdir()) if work.is_dir() else []
        assert len(kept) <= KEEP_FAILED, f"{len(kept)} work folders kept: {kept}"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(GOLDEN / "inbox", tmp_path / "inbox")
    return tmp_path


def test_a_kill_at_each_step_of_publishing_loses_nothing_and_files_no_stranger(
    root: Path,
) -> None:
    ledger = Ledger(root)
    ledger.run()
    for point in CRASH_POINTS:
        killed = subprocess.run(_cmd(root), env=_env(point), capture_output=True, text=True)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
        ledger.check()
        ledger.run()
        ledger.clean()
    # Five runs swapped in a set: the first, the one killed just after its swap, and three
    # reruns; every set replaced since was filed, and nothing else.
    filed = list((root / "outputs" / "_history").rglob("*.manifest.json"))
    assert len(filed) == len(ledger.published) - 1 == 5


def test_random_kills_then_a_rerun_leave_one_whole_set_and_no_debris(root: Path) -> None:
    ledger = Ledger(root)
    started = time.monotonic()
    ledger.run()
    duration = time.monotonic() - started
    rng = random.Random(11)
    for _ in range(6):
        proc = subprocess.Popen(
            _cmd(root), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # Late in the run more often: publishing is its last fraction of a second.
        time.sleep(duration * rng.uniform(0.3, 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ledger.check()
    ledger.run()
    ledger.clean()
