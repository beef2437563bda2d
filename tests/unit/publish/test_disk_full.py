"""A full disk, for real (issue 11 defects 3 and 7): small tmpfs mounts inside the data root.

A run that fails for want of space says so in one line naming the path and the space needed
(exit 4: the machine's fault, not the input's), leaves the previously published set exactly as
it was, and leaves nothing behind that the next run trips over; once there is room, a rerun
succeeds. The mounts need root (or CAP_SYS_ADMIN); elsewhere the tests say so and skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.cli import main

GOLDEN = Path(__file__).parents[2] / "golden" / "01_xm_basis_cap"
D = "2026-11-20"

Mount = Callable[[Path, int], None]


@pytest.fixture
def tmpfs() -> Iterator[Mount]:
    mounted: list[Path] = []

    def mount(path: Path, size: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
        mounted.append(path)

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def _remount(path: Path, size: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def _fill(folder: Path) -> None:
    """Take every free byte of the filesystem holding `folder`."""
    fh = open(folder / "filler", "wb", buffering=0)  # noqa: SIM115 (close may fail too)
    try:
        while True:
            fh.write(b"\0" * 4096)
    except OSError:
        pass
    finally:
        fh.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(GOLDEN / "inbox", tmp_path / "inbox")
    return tmp_path


def _run(root: Path) -> int:
    args = ["--quiet", "run", "--date", D, "--data-root", str(root)]
    return main([*args, "--params", str(GOLDEN / "params.yaml")])


def _out(root: Path) -> Path:
    return root / "outputs" / f"business_date={D}"


def _published_state(root: Path) -> dict[str, bytes]:
    target = _out(root).resolve()
    return {
        str(p.relative_to(target)): p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()
    }


def _leftovers(root: Path) -> list[str]:
    """Temp files, dangling swap links and staging folders that are not the published set."""
    outputs = root / "outputs"
    found = [str(p) for p in outputs.rglob("*.tmp*")]
    found += [str(p) for p in outputs.glob(".business_date=*")]
    runs = outputs / "_runs" / D
    if runs.is_dir():
        target = _out(root).resolve() if _out(root).exists() else None
        found += [str(p) for p in runs.iterdir() if p.resolve() != target]
    return found


def _error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("xmargin:")]
    assert len(lines) == 1, err
    return lines[0]


def test_outputs_too_small_for_a_second_set_refuse_the_publish_naming_the_space(
    root: Path, tmpfs: Mount, capsys: pytest.CaptureFixture[str]
) -> None:
    # One published set of the golden case takes ~0.6 MB: room for one, not for two.
    tmpfs(root / "outputs", 900 * 1024)
    assert _run(root) == 0
    before = _published_state(root)
    capsys.readouterr()

    assert _run(root) == 4
    err = capsys.readouterr().err
    line = _error_line(err)
    assert "disk full" in line and "internal error" not in line
    assert str(root / "outputs") in line and "free" in line and "needed" in line
    assert len(err) < 1000, err
    assert _published_state(root) == before
    assert _leftovers(root) == []

    _remount(root / "outputs", 8 * 1024 * 1024)
    assert _run(root) == 0
    assert _leftovers(root) == []
    history = list((root / "outputs" / "_history").rglob("*.manifest.json"))
    assert len(history) == 1


def test_a_full_history_folder_fails_the_run_before_the_new_set_is_swapped_in(
    root: Path, tmpfs: Mount, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case: the history copy hit a full disk after the swap and left a `.tmp`."""
    assert _run(root) == 0
    before = _published_state(root)
    first = json.loads((_out(root) / "manifest.json").read_text())["run_id"]
    history = root / "outputs" / "_history"
    tmpfs(history, 64 * 1024)
    _fill(history)
    capsys.readouterr()

    assert _run(root) == 4
    line = _error_line(capsys.readouterr().err)
    assert "disk full" in line and str(history) in line
    assert _published_state(root) == before
    assert _leftovers(root) == []

    (history / "filler").unlink()
    assert _run(root) == 0
    kept = sorted(p.name for p in history.rglob("*.manifest.json"))
    assert kept == [f"{first}.manifest.json"]
    assert _leftovers(root) == []


def test_a_full_disk_while_staging_inputs_is_one_clear_line_and_a_rerun_succeeds(
    root: Path, tmpfs: Mount, capsys: pytest.CaptureFixture[str]
) -> None:
    tmpfs(root / "work", 64 * 1024)
    _fill(root / "work")
    assert _run(root) == 4
    line = _error_line(capsys.readouterr().err)
    assert "disk full" in line and str(root / "work") in line and "internal error" not in line
    assert not _out(root).exists()
    (root / "work" / "filler").unlink()
    _remount(root / "work", 16 * 1024 * 1024)
    assert _run(root) == 0


def test_copying_a_folder_onto_a_full_disk_is_one_line_naming_the_path(
    tmp_path: Path, tmpfs: Mount
) -> None:
    """Not shutil.Error's multi-kilobyte list of (src, dst, why) tuples (issue 11 defect 7)."""
    from pipeline.ingest.staging import copy_folder

    source = tmp_path / "validation"
    source.mkdir()
    for k in range(40):
        (source / f"file_{k}.json").write_bytes(os.urandom(8 * 1024))
    full = tmp_path / "full"
    tmpfs(full, 128 * 1024)
    from pipeline.errors import DiskFullError

    with pytest.raises(DiskFullError) as caught:
        copy_folder(source, full / "validation")
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message
    assert str(full / "validation") in message and "free" in message
