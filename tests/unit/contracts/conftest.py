"""Golden inbox copies mutated per case, validated through the real CLI (SPEC §3, §8)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import main

GOLDEN = Path(__file__).parents[2] / "golden" / "01_xm_basis_cap"
PARAMS = GOLDEN / "params.yaml"
DATE = "2026-11-20"


@dataclass
class Validated:
    """What one `xmargin validate` left behind."""

    code: int
    err: str
    root: Path

    @property
    def message(self) -> str:
        # Rich wraps long lines at the console width; compare with whitespace collapsed.
        return " ".join(self.err.split())

    def quarantine(self) -> Path:
        folders = list((self.root / "quarantine" / "20261120").iterdir())
        assert len(folders) == 1, folders
        return folders[0]

    def report(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.quarantine() / "report.json").read_text())
        return doc

    def failure(self, file_name: str, rule: str) -> dict[str, Any]:
        for entry in self.report()["files"]:
            if entry["file"] == file_name:
                for failure in entry["failures"]:
                    if failure["rule"] == rule:
                        return dict(failure)
        raise AssertionError(f"{file_name}: no failure {rule} in the quarantine report")

    def validation_dir(self) -> Path:
        runs = list((self.root / "work" / "20261120").iterdir())
        assert len(runs) == 1, runs
        return runs[0] / "validation"


class Inbox:
    """A writable copy of the golden inbox of case 01."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / "inbox" / "20261120"

    def path(self, name: str) -> Path:
        ext = "xml" if name == "cme_positions" else "csv"
        return self.folder / f"{name}_20261120.{ext}"

    def text(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def write(self, name: str, text: str) -> None:
        self.path(name).write_text(text, encoding="utf-8")

    def replace(self, name: str, old: str, new: str, count: int = 1) -> None:
        text = self.text(name)
        assert old in text, f"{old!r} not in {name}"
        self.write(name, text.replace(old, new, count))

    def validate(self, capsys: pytest.CaptureFixture[str], params: Path = PARAMS) -> Validated:
        capsys.readouterr()
        code = main(
            [
                "--quiet",
                "validate",
                "--date",
                DATE,
                "--data-root",
                str(self.root),
                "--params",
                str(params),
            ]
        )
        return Validated(code, capsys.readouterr().err, self.root)


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    shutil.copytree(GOLDEN / "inbox", tmp_path / "inbox")
    return Inbox(tmp_path)
