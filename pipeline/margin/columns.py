"""Column names and types of the margin tables (SPEC §7.1, §7.2, §7.6; ARCHITECTURE)."""

from __future__ import annotations

import polars as pl

# SPEC §7.1 column order of margin_by_account.
MARGIN_COLUMNS = (
    "business_date",
    "account_id",
    "account_class",
    "xm_active",
    "hrp",
    "n_ficc_positions",
    "n_cme_positions",
    "ficc_regular_im",
    "cme_regular_im",
    "f_sa",
    "f_sep",
    "f_all",
    "c_sa",
    "c_sep",
    "c_all",
    "r_ficc",
    "r_cme",
    "r_applied",
    "ficc_xm_im",
    "cme_xm_im",
    "ficc_im",
    "cme_im",
    "maintenance_requirement",
    "initial_requirement",
    "equity",
    "excess_deficit",
    "call_amount",
)

XM_DOCUMENTS_DETAIL = (
    "opted in but lacks subordination agreement or disclosure acknowledgement on D: "
    "not cross-margined"
)
# Exceptions frames everywhere (ARCHITECTURE "Exceptions").
EXCEPTION_SCHEMA = pl.Schema(
    {
        "business_date": pl.Date(),
        "kind": pl.String(),
        "account_id": pl.String(),
        "detail": pl.String(),
    }
)
# SPEC §7.2 column order of margin_calls.
CALL_COLUMNS = (
    "business_date",
    "call_id",
    "account_id",
    "customer_lei",
    "call_amount",
    "maintenance_requirement",
    "initial_requirement",
    "equity",
    "due_by",
)
