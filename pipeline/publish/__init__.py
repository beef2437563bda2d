"""Publishing: exact money, Parquet, manifest, atomic swap, history, date lock (SPEC §7, §8)."""

from pipeline.publish.lock import DateLock, lock_path
from pipeline.publish.publisher import history_dir, publish, runs_dir
from pipeline.publish.rounding import cents_array, decimal_array, round_cents
from pipeline.publish.tables import round_money, write_table

__all__ = [
    "DateLock",
    "cents_array",
    "decimal_array",
    "history_dir",
    "lock_path",
    "publish",
    "round_cents",
    "round_money",
    "runs_dir",
    "write_table",
]
