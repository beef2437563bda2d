"""The typed staged frames the margin engine reads (SPEC §2, ARCHITECTURE "Typed staged inputs")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.errors import InternalError
from pipeline.inputs import staged_path

# The staged inputs margin needs; the reserve inputs are read by pipeline.reserve itself.
MARGIN_INPUTS = (
    "accounts",
    "treasury_securities",
    "cme_contracts",
    "ficc_positions",
    "cme_positions",
    "balances",
    "ficc_var_scenarios",
)


@dataclass(frozen=True)
class MarginInputs:
    """Lazy handles on the validated staged inputs, so one shard scans only what it needs."""

    accounts: pl.LazyFrame
    treasury_securities: pl.LazyFrame
    cme_contracts: pl.LazyFrame
    ficc_positions: pl.LazyFrame
    cme_positions: pl.LazyFrame
    balances: pl.LazyFrame
    ficc_var_scenarios: pl.LazyFrame

    @classmethod
    def from_staged(cls, staged_dir: Path) -> MarginInputs:
        """Scan `staged_dir/<input>.parquet` written by pipeline.contracts (SPEC §3)."""
        missing = [n for n in MARGIN_INPUTS if not staged_path(staged_dir, n).is_file()]
        if missing:
            raise InternalError(
                f"{staged_dir}: staged input(s) {', '.join(missing)} not found; expected one "
                "<input>.parquet per validated file before the margin stage"
            )
        frames = {n: pl.scan_parquet(staged_path(staged_dir, n)) for n in MARGIN_INPUTS}
        return cls(**frames)

    @classmethod
    def from_frames(cls, **frames: pl.DataFrame | pl.LazyFrame) -> MarginInputs:
        """Build from in-memory frames with the staged schemas (tests, tools)."""
        unknown = sorted(set(frames) - set(MARGIN_INPUTS))
        missing = [n for n in MARGIN_INPUTS if n not in frames]
        if unknown or missing:
            raise InternalError(
                f"MarginInputs.from_frames: expected frames {list(MARGIN_INPUTS)}, "
                f"missing {missing}, unknown {unknown}"
            )
        return cls(**{n: f.lazy() for n, f in frames.items()})
