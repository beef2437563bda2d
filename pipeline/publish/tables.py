"""Published tables: exact types, money rounded once, deterministic Parquet bytes (SPEC §7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.calendar import NEW_YORK
from pipeline.errors import InternalError
from pipeline.ingest.staging import commit_temp, sha256_file, temp_path
from pipeline.publish.rounding import MONEY_TYPE, decimal_array
from pipeline.publish.schemas import OUTPUT_SCHEMAS, PASSTHROUGH_TABLES, Kind, TableSchema

NY_ZONE = str(NEW_YORK)
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
    target: dict[Kind, pl.DataType] = {
        Kind.MONEY: pl.Float64(),
        Kind.INT: pl.Int64(),
        Kind.FLOAT: pl.Float64(),
        Kind.BOOL: pl.Boolean(),
        Kind.DATE: pl.Date(),
        Kind.STRING: pl.Utf8(),
    }
    try:
        return series.cast(target[kind], strict=True)
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


def round_money(frame: pl.DataFrame, table: str) -> pa.Table:
    """The table as published: exact columns in order, sorted, money as decimal(20,2) cents."""
    if table in PASSTHROUGH_TABLES:
        # Rows in a canonical order, so reruns hash alike whatever order the producer used.
        keys = [c for c, t in frame.schema.items() if not t.is_nested()]
        if keys and frame.height:
            frame = frame.sort(keys, nulls_last=True, maintain_order=True)
        arrow = frame.to_arrow()
        columns = [_plain_arrow(c) for c in arrow.columns]
        return pa.Table.from_arrays(columns, names=arrow.column_names)
    try:
        schema = OUTPUT_SCHEMAS[table]
    except KeyError:
        raise InternalError(
            f"unknown output table {table!r}; expected one of {sorted(OUTPUT_SCHEMAS)}"
        ) from None
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
    arrow = round_money(frame, table)
    dest = dest_dir / f"{table}.parquet"
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
    return {"name": table, "rows": arrow.num_rows, "sha256": sha256_file(dest)}
