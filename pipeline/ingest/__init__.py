"""Raw readers and staging helpers: strict CSV, streaming FIXML, atomic Parquet (SPEC §2)."""

from pipeline.ingest.csv_reader import read_csv_strings
from pipeline.ingest.fixml import RAW_SCHEMA, read_cme_positions
from pipeline.ingest.staging import sha256_file, write_parquet_atomic

__all__ = [
    "RAW_SCHEMA",
    "read_cme_positions",
    "read_csv_strings",
    "sha256_file",
    "write_parquet_atomic",
]
