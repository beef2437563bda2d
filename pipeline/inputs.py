"""The input files of one business date (SPEC §2): names, formats and where they live."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.errors import MissingInputError


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


def missing_inputs(data_root: Path, business_date: dt.date) -> list[str]:
    """File names of D's inputs that are not present yet."""
    return [
        path.name for path in input_paths(data_root, business_date).values() if not path.is_file()
    ]


def require_inputs(data_root: Path, business_date: dt.date) -> dict[str, Path]:
    """Every input path of D, or MissingInputError (exit 3) naming each absent file."""
    missing = missing_inputs(data_root, business_date)
    if missing:
        raise MissingInputError(inbox_dir(data_root, business_date), missing)
    return input_paths(data_root, business_date)
