"""Every table a run writes: name, columns, the stage that writes it, published or not (SPEC §7).

The one registry of tables, as `pipeline.inputs` is of input files. Stages write and read their
work files through `Table.work_path`, the publisher writes the `published` tables in registry
order with their schema, and tests take names and columns from here. The DAG keeps a literal copy
of the published names (parsing it must not load Polars); a test holds it equal to `PUBLISHED`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import polars as pl

from pipeline.calendar import NEW_YORK
from pipeline.reserve.exhibit_a import BOOKS, LINES

NY_ZONE = str(NEW_YORK)


class Kind(Enum):
    """How a column is written: money is decimal(20,2) cents, the rest keep their meaning."""

    MONEY = "decimal(20,2)"
    INT = "int64"
    FLOAT = "float64"
    BOOL = "bool"
    DATE = "date32"
    TIMESTAMP_NY = "timestamp[us, tz=America/New_York]"
    STRING = "string"

    @property
    def polars(self) -> pl.DataType:
        """The dtype in work files, where money is still unrounded float64 (SPEC §7)."""
        return _POLARS[self]


_POLARS: dict[Kind, pl.DataType] = {
    Kind.MONEY: pl.Float64(),
    Kind.INT: pl.Int64(),
    Kind.FLOAT: pl.Float64(),
    Kind.BOOL: pl.Boolean(),
    Kind.DATE: pl.Date(),
    Kind.TIMESTAMP_NY: pl.Datetime("us", NY_ZONE),
    Kind.STRING: pl.Utf8(),
}


@dataclass(frozen=True)
class TableSchema:
    """One table's columns in order and the key its published rows are sorted by."""

    columns: tuple[tuple[str, Kind], ...]
    sort_by: tuple[str, ...] = ()
    # Orders that are not alphabetical: column -> values in their natural order.
    natural_order: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def money(self) -> tuple[str, ...]:
        return tuple(name for name, kind in self.columns if kind is Kind.MONEY)

    def polars(self) -> pl.Schema:
        """The work-file schema (money unrounded float64)."""
        return pl.Schema({name: kind.polars for name, kind in self.columns})


class Stage(Enum):
    """The stage functions of `pipeline.run` (and the Airflow tasks named alike) that write."""

    MARGIN_SHARD = "margin_shard"
    REDUCE_MARGIN = "reduce_margin"
    RESERVE = "reserve"
    PUBLISH = "publish"


@dataclass(frozen=True)
class Table:
    """One table of a run: written by `stage`, published (SPEC §7) or kept in the work folder."""

    name: str
    stage: Stage
    published: bool
    schema: TableSchema
    # One file per account shard (`margin/<name>-<k>-of-<n>.parquet`) instead of one per run.
    per_shard: bool = False

    @property
    def filename(self) -> str:
        """`<name>.parquet`: the file in the published folder and in `work/.../results/`."""
        return f"{self.name}.parquet"

    def work_path(self, work_dir: Path) -> Path:
        """`work/.../results/<name>.parquet`: the run's unrounded copy."""
        if self.per_shard:
            raise ValueError(f"{self.name} is written per shard; use shard_path")
        return work_dir / "results" / self.filename

    def shard_path(self, work_dir: Path, shard: int, n_shards: int) -> Path:
        """`work/.../margin/<name>-<k>-of-<n>.parquet`: one account shard's part."""
        if not self.per_shard:
            raise ValueError(f"{self.name} is written once per run; use work_path")
        return work_dir / "margin" / f"{self.name}-{shard}-of-{n_shards}.parquet"


M, N, F, B, D, T, S = (
    Kind.MONEY,
    Kind.INT,
    Kind.FLOAT,
    Kind.BOOL,
    Kind.DATE,
    Kind.TIMESTAMP_NY,
    Kind.STRING,
)

MARGIN_BY_ACCOUNT = Table(
    "margin_by_account",
    Stage.REDUCE_MARGIN,
    published=True,
    schema=TableSchema(
        columns=(
            ("business_date", D),
            ("account_id", S),
            ("account_class", S),
            ("xm_active", B),
            ("hrp", B),
            ("n_ficc_positions", N),
            ("n_cme_positions", N),
            ("ficc_regular_im", M),
            ("cme_regular_im", M),
            ("f_sa", M),
            ("f_sep", M),
            ("f_all", M),
            ("c_sa", M),
            ("c_sep", M),
            ("c_all", M),
            ("r_ficc", F),
            ("r_cme", F),
            ("r_applied", F),
            ("ficc_xm_im", M),
            ("cme_xm_im", M),
            ("ficc_im", M),
            ("cme_im", M),
            ("maintenance_requirement", M),
            ("initial_requirement", M),
            ("equity", M),
            ("excess_deficit", M),
            ("call_amount", N),
        ),
        sort_by=("account_id",),
    ),
)
MARGIN_CALLS = Table(
    "margin_calls",
    Stage.REDUCE_MARGIN,
    published=True,
    schema=TableSchema(
        columns=(
            ("business_date", D),
            ("call_id", S),
            ("account_id", S),
            ("customer_lei", S),
            ("call_amount", N),
            ("maintenance_requirement", M),
            ("initial_requirement", M),
            ("equity", M),
            ("due_by", T),
        ),
        sort_by=("call_id",),
    ),
)
RESERVE_COMPUTATION = Table(
    "reserve_computation",
    Stage.RESERVE,
    published=True,
    schema=TableSchema(
        columns=(
            ("business_date", D),
            ("book", S),
            ("line", S),
            ("side", S),
            ("description", S),
            ("amount", M),
        ),
        sort_by=("book", "line"),
        natural_order=(("book", BOOKS), ("line", tuple(line.line for line in LINES))),
    ),
)
XM_SEGREGATION = Table(
    "xm_segregation",
    Stage.RESERVE,
    published=True,
    schema=TableSchema(
        columns=(
            ("business_date", D),
            ("account_id", S),
            ("equity", M),
            ("seg_required", M),
        ),
        sort_by=("account_id",),
    ),
)
XM_SEGREGATION_SUMMARY = Table(
    "xm_segregation_summary",
    Stage.RESERVE,
    published=True,
    schema=TableSchema(
        columns=(
            ("business_date", D),
            ("seg_required", M),
            ("funds_held", M),
            ("residual_interest", M),
            ("is_shortfall", B),
        ),
    ),
)
_EXCEPTION_COLUMNS = (
    ("business_date", D),
    ("kind", S),
    ("account_id", S),
    ("detail", S),
)
_EXCEPTION_ORDER = ("kind", "account_id", "detail")
EXCEPTIONS = Table(
    "exceptions",
    Stage.PUBLISH,
    published=True,
    schema=TableSchema(columns=_EXCEPTION_COLUMNS, sort_by=_EXCEPTION_ORDER),
)
DV01_BY_TENOR = Table(
    "dv01_by_tenor",
    Stage.REDUCE_MARGIN,
    published=True,
    schema=TableSchema(
        columns=(
            ("business_date", D),
            ("tenor_years", F),
            ("ficc_net_dv01", F),
            ("cme_net_dv01", F),
            ("net_dv01", F),
            ("gross_dv01", F),
        ),
        sort_by=("tenor_years",),
    ),
)

# Intermediate tables: the hand-over between stages inside one run's work folder.
ACCOUNT_MARGIN = Table(
    "account_margin",
    Stage.MARGIN_SHARD,
    published=False,
    per_shard=True,
    # margin_by_account's columns plus the LEI that margin_calls carries (SPEC §7.1, §7.2).
    schema=TableSchema(columns=(*MARGIN_BY_ACCOUNT.schema.columns, ("customer_lei", S))),
)
DV01_PARTIALS = Table(
    "dv01_partials",
    Stage.MARGIN_SHARD,
    published=False,
    per_shard=True,
    # A shard's exact Σ of each dv01_by_tenor measure: Σ (high × 2**26 + low) × 2**exponent
    # over its rows (pipeline.margin.exactsum), so the reduce adds shards without rounding.
    schema=TableSchema(
        columns=(
            ("measure", S),
            ("tenor_years", F),
            ("exponent", N),
            ("high", N),
            ("low", N),
        )
    ),
)
EXCEPTIONS_MARGIN = Table(
    "exceptions_margin",
    Stage.REDUCE_MARGIN,
    published=False,
    # The margin stage's part of `exceptions`; publish adds the validation warnings (SPEC §7.6).
    schema=TableSchema(columns=_EXCEPTION_COLUMNS, sort_by=_EXCEPTION_ORDER),
)

# Published tables in the order the publisher writes them and the manifest lists them.
TABLES: tuple[Table, ...] = (
    MARGIN_BY_ACCOUNT,
    MARGIN_CALLS,
    RESERVE_COMPUTATION,
    XM_SEGREGATION,
    XM_SEGREGATION_SUMMARY,
    EXCEPTIONS,
    DV01_BY_TENOR,
    ACCOUNT_MARGIN,
    DV01_PARTIALS,
    EXCEPTIONS_MARGIN,
)
TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
PUBLISHED: tuple[Table, ...] = tuple(t for t in TABLES if t.published)
PUBLISHED_NAMES: tuple[str, ...] = tuple(t.name for t in PUBLISHED)


def written_by(stage: Stage) -> tuple[Table, ...]:
    """The tables a stage writes, in registry order."""
    return tuple(t for t in TABLES if t.stage is stage)
