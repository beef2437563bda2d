"""The built wheel stands alone: no checkout needed to generate, run and validate a date (issue 11).

The wheel is built from this checkout (`pip wheel . --no-deps`), installed into an empty folder
(`pip install --no-deps --target`) and run by the base interpreter with PYTHONPATH set to that
folder plus the venv's site-packages (for the dependencies only). The venv's site-packages is not
a site directory of the base interpreter, so its `.pth` files (the editable install of this
checkout) are not processed: `pipeline` can only come from the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# The user-facing sources the package ships as data, and where they land inside the package.
SHIPPED = {
    "data_contracts": "pipeline/_data/data_contracts",
    "params": "pipeline/_data/params",
    "sql": "pipeline/_data/sql",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(dist)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    (path,) = dist.glob("xmargin-*.whl")
    return path


@pytest.fixture(scope="module")
def target(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(folder),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return folder


def test_the_wheel_carries_exactly_the_top_level_sources(wheel: Path) -> None:
    """One truth: every file of data_contracts/, params/, sql/ is in the wheel, byte for byte."""
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for source, packaged in SHIPPED.items():
            folder = REPO / source
            files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
            assert files, f"{source}/ is empty"
            for path in files:
                name = f"{packaged}/{path.relative_to(folder).as_posix()}"
                assert name in names, f"{name} is not in {wheel.name}"
                assert z.read(name) == path.read_bytes(), f"{name} differs from {path}"
            extra = [n for n in names if n.startswith(packaged + "/")]
            assert len(extra) == len(files), sorted(
                set(extra) - {f"{packaged}/{p.relative_to(folder).as_posix()}" for p in files}
            )


def _run(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    site = sysconfig.get_paths()["purelib"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XMARGIN", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join([str(target), site])
    # The base interpreter: the venv's own would process its .pth files (the editable checkout).
    base = getattr(sys, "_base_executable", sys.executable)
    return subprocess.run(
        [base, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def test_generate_run_validate_history_from_the_wheel_alone(target: Path, tmp_path: Path) -> None:
    away = tmp_path / "elsewhere"
    away.mkdir()
    where = _run(target, away, "-c", "import pipeline; print(pipeline.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(target), where.stdout

    root = tmp_path / "data"
    day = "2026-11-20"
    gen = _run(
        target,
        away,
        "-m",
        "pipeline",
        "generate",
        "--date",
        day,
        "--accounts",
        "60",
        "--data-root",
        str(root),
    )
    assert gen.returncode == 0, gen.stderr[-3000:]
    run = _run(
        target, away, "-m", "pipeline", "--json", "run", "--date", day, "--data-root", str(root)
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = root / "outputs" / f"business_date={day}"
    assert (out / "_SUCCESS").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    # The shipped default parameter file came from inside the installed package.
    assert Path(manifest["params"]["source"]).is_relative_to(target), manifest["params"]
    assert len(manifest["inputs"]) == 9
    check = _run(
        target, away, "-m", "pipeline", "validate", "--date", day, "--data-root", str(root)
    )
    assert check.returncode == 0, check.stderr[-3000:]
    assert "validation results:" in check.stderr
    # The history's SQL models ship in the package too (SPEC §10).
    history = _run(
        target, away, "-m", "pipeline", "--json", "history", "--start", day, "--end", day,
        "--data-root", str(root),
    )  # fmt: skip
    assert history.returncode == 0, history.stderr[-3000:]
    pack = Path(json.loads(history.stdout)["output_dir"])
    assert (pack / "_SUCCESS").is_file() and (pack / "reserve_history.parquet").is_file()
