"""The input files of one business date (SPEC §2): names, formats and where they live."""

from __future__ import annotations

import datetime as dt
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.errors import DataRootError, MissingInputError, UnusableInputError


@dataclass(frozen=True)
class InputSpec:
    """One input of SPEC §2: `name` is its contract and staging name."""

    name: str
    kind: Literal["csv", "fixml"]
    may_be_empty: bool = False

    def filename(self, business_date: dt.date) -> str:
        ext = "xml" if self.kind == "fixml" else "csv"
        return f"{self.name}_{business_date:%Y%m%d}.{ext}"


# Masters first: the position files' cross-file rules refer to them.
INPUTS: tuple[InputSpec, ...] = (
    InputSpec("accounts", "csv"),
    InputSpec("treasury_securities", "csv"),
    InputSpec("cme_contracts", "csv"),
    InputSpec("ficc_positions", "csv"),
    InputSpec("cme_positions", "fixml"),
    InputSpec("balances", "csv", may_be_empty=True),
    InputSpec("ficc_var_scenarios", "csv"),
    InputSpec("reserve_items", "csv", may_be_empty=True),
    InputSpec("reserve_bank", "csv"),
)
INPUT_NAMES: tuple[str, ...] = tuple(spec.name for spec in INPUTS)
INPUTS_BY_NAME: dict[str, InputSpec] = {spec.name: spec for spec in INPUTS}


def staged_path(staged_dir: Path, name: str) -> Path:
    """`work/.../staged/<input>.parquet`: the typed, validated copy of one input (SPEC §3)."""
    return staged_dir / f"{INPUTS_BY_NAME[name].name}.parquet"


def inbox_dir(data_root: Path, business_date: dt.date) -> Path:
    """`inbox/YYYYMMDD/` under the data root (SPEC §2)."""
    return data_root / "inbox" / f"{business_date:%Y%m%d}"


def input_paths(data_root: Path, business_date: dt.date) -> dict[str, Path]:
    """Expected path of every input of D, by input name."""
    folder = inbox_dir(data_root, business_date)
    return {spec.name: folder / spec.filename(business_date) for spec in INPUTS}


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str | None:
    """What a non-regular file is, for the refusal; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_data_root(data_root: Path) -> None:
    """A data root that is absent or not a folder is a bad invocation (SPEC §8, exit 2)."""
    if data_root.is_dir():
        return
    what = "it is not a folder" if data_root.exists() else "no such folder"
    raise DataRootError(
        f"data root {data_root} is missing ({what}); expected a folder holding inbox/ "
        "(give --data-root or set XMARGIN_DATA_ROOT)"
    )


def unusable_reason(path: Path, data_root: Path) -> str | None:
    """Why the input entry `path` cannot be read as an input, or None if it can (SPEC §2, §8).

    An input is a regular, readable file whose real path lies inside the data root. The entry is
    examined with lstat/realpath and never opened unless it is a regular file, so a FIFO cannot
    block the run and a link cannot smuggle another file's bytes into the manifest or quarantine.
    A missing entry is not this function's business (see `missing_inputs`).
    """
    info = os.lstat(path)
    real = Path(os.path.realpath(path))
    root = Path(os.path.realpath(data_root))
    link = ""
    if stat.S_ISLNK(info.st_mode):
        link = f"is a symbolic link to {real}"
        if not real.is_relative_to(root):
            return f"{link}, outside the data root {root}"
        try:
            info = os.stat(path)
        except OSError as exc:
            return f"{link}, which cannot be examined ({exc.strerror})"
    elif not real.is_relative_to(root):
        return f"resolves to {real}, outside the data root {root}"
    kind = file_kind(info.st_mode)
    if kind is not None:
        return f"{link}, {kind}" if link else f"is {kind}, not a regular file"
    try:
        # O_NONBLOCK: should the entry be swapped for a FIFO since the lstat, open cannot block.
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY))
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    return None


def missing_inputs(data_root: Path, business_date: dt.date) -> list[str]:
    """File names of D's inputs that are not present yet (a dangling link counts as present)."""
    return [
        path.name
        for path in input_paths(data_root, business_date).values()
        if not os.path.lexists(path)
    ]


def unusable_inputs(data_root: Path, business_date: dt.date) -> dict[str, str]:
    """File name -> why it cannot be used, for every present input of D that is no plain file."""
    problems = {}
    for path in input_paths(data_root, business_date).values():
        if os.path.lexists(path) and (why := unusable_reason(path, data_root)) is not None:
            problems[path.name] = why
    return problems


def require_inputs(data_root: Path, business_date: dt.date) -> dict[str, Path]:
    """Every input path of D, checked: a regular, readable file inside the data root (SPEC §8).

    The data root must be a folder (else exit 2); absent files exit 3 naming each (before
    anything is validated); present entries that are not usable files exit 1 naming each and
    what it is, with nothing read or quarantined.
    """
    check_data_root(data_root)
    missing = missing_inputs(data_root, business_date)
    if missing:
        raise MissingInputError(inbox_dir(data_root, business_date), missing)
    problems = unusable_inputs(data_root, business_date)
    if problems:
        raise UnusableInputError(inbox_dir(data_root, business_date), problems)
    return input_paths(data_root, business_date)
