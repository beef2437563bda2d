"""Column order, types and sort keys of every published table (SPEC §7)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pipeline.reserve.exhibit_a import BOOKS, LINES


class Kind(Enum):
    """How a column is written: money is decimal(20,2) cents, the rest keep their meaning."""

    MONEY = "decimal(20,2)"
    INT = "int64"
    FLOAT = "float64"
    BOOL = "bool"
    DATE = "date32"
    TIMESTAMP_NY = "timestamp[us, tz=America/New_York]"
    STRING = "string"


@dataclass(frozen=True)
class TableSchema:
    """One output table: its columns in published order and the key its rows are sorted by."""

    columns: tuple[tuple[str, Kind], ...]
    sort_by: tuple[str, ...]
    # Orders that are not alphabetical: column -> values in their natural order.
    natural_order: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def money(self) -> tuple[str, ...]:
        return tuple(name for name, kind in self.columns if kind is Kind.MONEY)


M, N, F, B, D, T, S = (
    Kind.MONEY,
    Kind.INT,
    Kind.FLOAT,
    Kind.BOOL,
    Kind.DATE,
    Kind.TIMESTAMP_NY,
    Kind.STRING,
)

OUTPUT_SCHEMAS: dict[str, TableSchema] = {
    "margin_by_account": TableSchema(
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
    "margin_calls": TableSchema(
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
    "reserve_computation": TableSchema(
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
    "xm_segregation": TableSchema(
        columns=(
            ("business_date", D),
            ("account_id", S),
            ("equity", M),
            ("seg_required", M),
        ),
        sort_by=("account_id",),
    ),
    "xm_segregation_summary": TableSchema(
        columns=(
            ("business_date", D),
            ("seg_required", M),
            ("funds_held", M),
            ("residual_interest", M),
            ("is_shortfall", B),
        ),
        sort_by=(),
    ),
    "exceptions": TableSchema(
        columns=(
            ("business_date", D),
            ("kind", S),
            ("account_id", S),
            ("detail", S),
        ),
        sort_by=("kind", "account_id", "detail"),
    ),
}

# Published as produced (the report's DV01 profile): not a SPEC §7 money table.
PASSTHROUGH_TABLES = frozenset({"dv01_by_tenor"})
REQUIRED_TABLES = tuple(OUTPUT_SCHEMAS)
