"""Published tables: exact types, money rounded once, deterministic Parquet bytes (SPEC §7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import InternalError
from pipeline.ingest.staging import commit_temp, sha256_file, temp_path
from pipeline.outputs import NY_ZONE, PUBLISHED_NAMES, TABLES_BY_NAME, Kind, Table, TableSchema
from pipeline.publish.rounding import MONEY_TYPE, decimal_array

_ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.MONEY: MONEY_TYPE,
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.BOOL: pa.bool_(),
    Kind.DATE: pa.date32(),
    Kind.TIMESTAMP_NY: pa.timestamp("us", tz=NY_ZONE),
    Kind.STRING: pa.string(),
}


def _sorted(frame: pl.DataFrame, schema: TableSchema) -> pl.DataFrame:
    """Rows in key order; natural orders (books, reserve lines) rank by their listed position."""
    if not schema.sort_by or frame.height == 0:
        return frame
    natural = dict(schema.natural_order)
    keys: list[pl.Expr] = []
    for name in schema.sort_by:
        if name in natural:
            order = natural[name]
            rank = pl.col(name).replace_strict(
                list(order), list(range(len(order))), default=len(order), return_dtype=pl.Int64
            )
            keys.append(rank)
        keys.append(pl.col(name))
    return frame.sort(keys, nulls_last=True, maintain_order=True)


def _typed(series: pl.Series, kind: Kind, table: str) -> pl.Series:
    """One column cast to its published meaning, refusing lossy casts."""
    name = series.name
    if kind is Kind.INT and series.dtype.is_float():
        frac = series.fill_null(0.0) - series.fill_null(0.0).round(0)
        if (frac != 0).any():
            raise InternalError(
                f"{table}.{name}: found fractional values, expected whole numbers (Int64)"
            )
    if kind is Kind.TIMESTAMP_NY:
        if not isinstance(series.dtype, pl.Datetime):
            series = series.cast(pl.Datetime("us"))
        dtype = series.dtype
        assert isinstance(dtype, pl.Datetime)
        if dtype.time_zone is None:
            series = series.dt.replace_time_zone(NY_ZONE)
        return series.dt.convert_time_zone(NY_ZONE).dt.cast_time_unit("us")
    try:
        return series.cast(kind.polars, strict=True)
    except pl.exceptions.PolarsError as exc:
        raise InternalError(
            f"{table}.{name}: found {series.dtype}, expected values castable to {kind.value}"
        ) from exc


def _plain_arrow(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Large/view string types as plain utf8, so the file's schema never depends on Polars."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        return array.cast(pa.string())
    return array


def _published(table: str) -> Table:
    spec = TABLES_BY_NAME.get(table)
    if spec is None or not spec.published:
        raise InternalError(
            f"unknown output table {table!r}; expected one of {list(PUBLISHED_NAMES)}"
        )
    return spec


def round_money(frame: pl.DataFrame, table: str) -> pa.Table:
    """The table as published: exact columns in order, sorted, money as decimal(20,2) cents."""
    schema = _published(table).schema
    missing = [c for c in schema.names if c not in frame.columns]
    extra = [c for c in frame.columns if c not in schema.names]
    if missing or extra:
        raise InternalError(
            f"{table}: columns differ from SPEC §7: missing {missing}, unexpected {extra}"
        )
    typed = pl.DataFrame([_typed(frame[name], kind, table) for name, kind in schema.columns])
    typed = _sorted(typed, schema)
    arrays: list[pa.Array] = []
    for name, kind in schema.columns:
        column = typed[name].to_arrow()
        if kind is Kind.MONEY:
            arrays.append(decimal_array(column))
        else:
            arrays.append(_plain_arrow(column).cast(_ARROW_TYPES[kind]))
    fields = [pa.field(name, _ARROW_TYPES[kind]) for name, kind in schema.columns]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def write_table(frame: pl.DataFrame, table: str, dest_dir: Path) -> dict[str, Any]:
    """Write `<table>.parquet` (same data -> same bytes) and describe it for the manifest."""
    return write_arrow(round_money(frame, table), table, dest_dir / _published(table).filename)


def write_arrow(arrow: pa.Table, name: str, dest: Path) -> dict[str, Any]:
    """Write an exactly typed table to `dest`: the bytes are a function of the data.

    Shared by the nightly outputs (SPEC §7) and the history tables (SPEC §10).
    """
    tmp = temp_path(dest)
    # Fixed writer settings and no wall-clock metadata make the bytes a function of the data.
    pq.write_table(
        arrow,
        tmp,
        compression="zstd",
        compression_level=3,
        version="2.6",
        write_statistics=True,
        store_schema=True,
    )
    commit_temp(tmp, dest)
    return {"name": name, "rows": arrow.num_rows, "sha256": sha256_file(dest)}
