"""Margin engine: key-rate DV01, FICC and CME models, XM reduction, calls (SPEC §4-§5)."""

from pipeline.margin.calls import MarginResults, finalize_margin
from pipeline.margin.columns import MARGIN_COLUMNS
from pipeline.margin.dv01 import dv01_by_tenor, dv01_partials
from pipeline.margin.inputs import MarginInputs
from pipeline.margin.requirements import ShardResults, compute_account_margin, compute_shard
from pipeline.margin.sharding import shard_of

__all__ = [
    "MARGIN_COLUMNS",
    "MarginInputs",
    "MarginResults",
    "ShardResults",
    "compute_account_margin",
    "compute_shard",
    "dv01_by_tenor",
    "dv01_partials",
    "finalize_margin",
    "shard_of",
]
