"""Column names and types of the margin tables, from the table registry (SPEC §7.1, §7.2, §7.6)."""

from __future__ import annotations

from pipeline.outputs import EXCEPTIONS_MARGIN, MARGIN_BY_ACCOUNT, MARGIN_CALLS

MARGIN_COLUMNS = MARGIN_BY_ACCOUNT.schema.names
CALL_COLUMNS = MARGIN_CALLS.schema.names
EXCEPTION_SCHEMA = EXCEPTIONS_MARGIN.schema.polars()

XM_DOCUMENTS_DETAIL = (
    "opted in but lacks subordination agreement or disclosure acknowledgement on D: "
    "not cross-margined"
)
