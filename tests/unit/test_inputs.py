"""The presence check of D's inputs says what is wrong (SPEC §8; issue 11 defects 5 and 7).

An input must be a regular file inside the data root. Anything else in a file's place (a
symlink leading outside, a FIFO, a device, a directory) is refused at the presence check with
exit 1 naming what it is, never opened for reading and never copied into quarantine. A data root
that is absent or not a folder is a bad invocation (exit 2).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.cli import main

GOLDEN = Path(__file__).parents[1] / "golden" / "01_xm_basis_cap"
PARAMS = GOLDEN / "params.yaml"
DAY = "2026-11-20"
REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(GOLDEN / "inbox", tmp_path / "inbox")
    return tmp_path


def _run(root: Path) -> int:
    return main(["run", "--date", DAY, "--data-root", str(root), "--params", str(PARAMS)])


def _nothing_read_or_kept(root: Path) -> None:
    """Refused before any run started: no work folder, no quarantine, nothing published."""
    for folder in ("work", "quarantine"):
        assert not (root / folder).exists() or not any((root / folder).rglob("*")), folder
    assert (
        not list((root / "outputs").glob("business_date=*"))
        if (root / "outputs").exists()
        else True
    )


def test_a_symlink_out_of_the_data_root_is_refused_not_read(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = root.parent / f"{root.name}-outside.csv"
    shutil.copyfile(root / "inbox" / "20261120" / "reserve_bank_20261120.csv", outside)
    entry = root / "inbox" / "20261120" / "reserve_bank_20261120.csv"
    entry.unlink()
    entry.symlink_to(outside)
    assert _run(root) == 1
    err = capsys.readouterr().err
    assert "reserve_bank_20261120.csv" in err
    assert "symbolic link" in err and str(outside) in err and "outside the data root" in err
    _nothing_read_or_kept(root)


def test_a_symlink_inside_the_data_root_is_an_ordinary_input(root: Path) -> None:
    inbox = root / "inbox" / "20261120"
    kept = root / "archive" / "reserve_bank.csv"
    kept.parent.mkdir()
    (inbox / "reserve_bank_20261120.csv").rename(kept)
    (inbox / "reserve_bank_20261120.csv").symlink_to(os.path.relpath(kept, inbox))
    assert main(["validate", "--date", DAY, "--data-root", str(root), "--params", str(PARAMS)]) == 0


@pytest.mark.timeout(60)
def test_a_fifo_is_refused_without_opening_it(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = root / "inbox" / "20261120" / "balances_20261120.csv"
    entry.unlink()
    os.mkfifo(entry)
    # Opening a FIFO for reading blocks until a writer comes: the timeout catches a hang.
    assert _run(root) == 1
    err = capsys.readouterr().err
    assert "balances_20261120.csv" in err and "named pipe (FIFO)" in err
    _nothing_read_or_kept(root)


def test_a_directory_in_a_file_s_place_is_not_called_missing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = root / "inbox" / "20261120" / "accounts_20261120.csv"
    entry.unlink()
    entry.mkdir()
    assert _run(root) == 1
    err = capsys.readouterr().err
    assert "accounts_20261120.csv" in err and "is a directory" in err
    assert "missing" not in err
    _nothing_read_or_kept(root)


def test_a_device_is_refused(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = root / "inbox" / "20261120" / "reserve_items_20261120.csv"
    entry.unlink()
    entry.symlink_to("/dev/zero")  # a device outside the data root, reached by a link
    assert _run(root) == 1
    err = capsys.readouterr().err
    assert "reserve_items_20261120.csv" in err and "outside the data root" in err
    entry.unlink()
    try:  # the device node itself in the inbox (mknod needs privilege)
        os.mknod(entry, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # what /dev/zero is
    except PermissionError:
        pytest.skip("mknod needs privilege; the link case above ran")
    assert _run(root) == 1
    err = capsys.readouterr().err
    assert "reserve_items_20261120.csv" in err and "is a character device" in err
    _nothing_read_or_kept(root)


def test_every_unusable_entry_is_named_at_once(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = root / "inbox" / "20261120"
    (inbox / "accounts_20261120.csv").unlink()
    (inbox / "accounts_20261120.csv").mkdir()
    (inbox / "balances_20261120.csv").unlink()
    os.mkfifo(inbox / "balances_20261120.csv")
    assert _run(root) == 1
    err = capsys.readouterr().err
    assert "accounts_20261120.csv" in err and "balances_20261120.csv" in err


def test_missing_files_still_come_first(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inbox = root / "inbox" / "20261120"
    (inbox / "accounts_20261120.csv").unlink()
    (inbox / "accounts_20261120.csv").mkdir()
    (inbox / "balances_20261120.csv").unlink()
    assert _run(root) == 3
    assert "balances_20261120.csv" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["absent", "a file"])
def test_a_data_root_that_is_not_a_folder_is_a_bad_invocation(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    if kind == "a file":
        root.write_text("not a folder\n")
    assert main(["run", "--date", DAY, "--data-root", str(root)]) == 2
    err = capsys.readouterr().err
    assert f"data root {root}" in err and "missing" in err
    assert "input file" not in err
    assert main(["validate", "--date", DAY, "--data-root", str(root)]) == 2


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A data root the user `nobody` owns (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="xmargin-unreadable-"))
    shutil.copytree(GOLDEN / "inbox", folder / "inbox")
    if os.geteuid() == 0:
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_an_unreadable_input_is_refused_at_the_presence_check(shared_root: Path) -> None:
    """Exit 1 naming the file, before any validation, for a file the run's user cannot read.

    Root reads any file whatever its mode, so as root the run is started as the unprivileged
    user `nobody` (setpriv), who owns the data root; the input's mode 000 really denies that
    process the read (owner bits apply to the owner; only a privileged process bypasses them).
    """
    entry = shared_root / "inbox" / "20261120" / "ficc_positions_20261120.csv"
    entry.chmod(0o000)
    cmd = [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "--date",
        DAY,
        "--data-root",
        str(shared_root),
        "--params",
        str(PARAMS),
    ]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: no unprivileged user to be")
        cmd = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "ficc_positions_20261120.csv" in done.stderr
    assert "cannot be read" in done.stderr and "Permission denied" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (shared_root / "work").exists() and not (shared_root / "quarantine").exists()
