"""Margin engine: key-rate DV01, FICC and CME models, XM reduction, calls (SPEC §4-§5)."""

from pipeline.margin.calls import MarginResults, finalize_margin
from pipeline.margin.columns import MARGIN_COLUMNS
from pipeline.margin.dv01 import dv01_by_tenor
from pipeline.margin.inputs import MarginInputs
from pipeline.margin.requirements import compute_account_margin
from pipeline.margin.sharding import shard_of

__all__ = [
    "MARGIN_COLUMNS",
    "MarginInputs",
    "MarginResults",
    "compute_account_margin",
    "dv01_by_tenor",
    "finalize_margin",
    "shard_of",
]
