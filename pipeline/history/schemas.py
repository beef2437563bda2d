"""Columns and types of the §10 tables, in published order (SPEC §10.1-§10.9).

Each table `<name>` is produced by the SQL model `rpt_<name>`; its rows come sorted by that
model. Money is decimal(20,2) as in the nightly outputs (SPEC §7).
"""

from __future__ import annotations

import pyarrow as pa

from pipeline.errors import InternalError
from pipeline.publish.rounding import MONEY_TYPE

MONEY = MONEY_TYPE
DATE = pa.date32()
TEXT = pa.string()
COUNT = pa.int64()
FLAG = pa.bool_()
UTC_TIME = pa.timestamp("us", tz="UTC")

HISTORY_SCHEMAS: dict[str, pa.Schema] = {
    "reserve_history": pa.schema(
        [
            ("business_date", DATE),
            ("book", TEXT),
            ("total_credits", MONEY),
            ("total_debits", MONEY),
            ("debit_reduction", MONEY),
            ("reserve_requirement", MONEY),
            ("on_deposit", MONEY),
            ("deposit_required", MONEY),
            ("excess_on_deposit", MONEY),
        ]
    ),
    "deposit_compliance": pa.schema(
        [
            ("business_date", DATE),
            ("book", TEXT),
            ("reserve_requirement", MONEY),
            ("next_business_date", DATE),
            ("on_deposit_next", MONEY),
            ("shortfall", MONEY),
            ("status", TEXT),
        ]
    ),
    "daily_computation_test": pa.schema(
        [
            ("as_of", DATE),
            ("months_used", COUNT),
            ("first_month", TEXT),
            ("last_month", TEXT),
            ("average_total_credits", MONEY),
            ("threshold", MONEY),
            ("status", TEXT),
        ]
    ),
    "daily_computation_months": pa.schema(
        [
            ("month", TEXT),
            ("month_end_date", DATE),
            ("customer_total_credits", MONEY),
            ("pab_total_credits", MONEY),
            ("total_credits", MONEY),
        ]
    ),
    "call_history": pa.schema(
        [
            ("business_date", DATE),
            ("account_id", TEXT),
            ("call_id", TEXT),
            ("call_amount", MONEY),
            ("consecutive_days", COUNT),
            ("first_call_date", DATE),
            ("age_bucket", TEXT),
        ]
    ),
    "call_summary": pa.schema(
        [
            ("business_date", DATE),
            ("calls", COUNT),
            ("call_amount", MONEY),
            ("calls_1", COUNT),
            ("calls_2", COUNT),
            ("calls_3_5", COUNT),
            ("calls_6_plus", COUNT),
        ]
    ),
    "xm_savings_history": pa.schema(
        [
            ("business_date", DATE),
            ("accounts", COUNT),
            ("xm_active_accounts", COUNT),
            ("standalone", MONEY),
            ("applied", MONEY),
            ("savings", MONEY),
            ("savings_pct", pa.float64()),
            ("maintenance_requirement", MONEY),
            ("initial_requirement", MONEY),
            ("call_amount", MONEY),
        ]
    ),
    "segregation_history": pa.schema(
        [
            ("business_date", DATE),
            ("seg_required", MONEY),
            ("funds_held", MONEY),
            ("residual_interest", MONEY),
            ("is_shortfall", FLAG),
        ]
    ),
    "document_exceptions": pa.schema(
        [
            ("business_date", DATE),
            ("account_id", TEXT),
            ("consecutive_days", COUNT),
            ("first_date", DATE),
        ]
    ),
    "run_lineage": pa.schema(
        [
            ("business_date", DATE),
            ("run_id", TEXT),
            ("software_version", TEXT),
            ("params_version", TEXT),
            ("params_sha256", TEXT),
            ("finished_at", UTC_TIME),
            ("manifest_sha256", TEXT),
        ]
    ),
    "history_exceptions": pa.schema(
        [
            ("kind", TEXT),
            ("business_date", DATE),
            ("book", TEXT),
            ("account_id", TEXT),
            ("detail", TEXT),
        ]
    ),
}
HISTORY_TABLES = tuple(HISTORY_SCHEMAS)


def model_of(table: str) -> str:
    """The SQL model that produces a §10 table."""
    return f"rpt_{table}"


def conform(table: str, arrow: pa.Table) -> pa.Table:
    """The model's result with exactly the table's columns and types, in one chunk each."""
    schema = HISTORY_SCHEMAS[table]
    if arrow.column_names != schema.names:
        raise InternalError(
            f"{model_of(table)}: columns {arrow.column_names} differ from SPEC §10 {schema.names}"
        )
    try:
        typed = arrow.cast(schema, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        model = model_of(table)
        raise InternalError(f"{model}: result does not fit SPEC §10 types: {exc}") from exc
    return typed.combine_chunks()
