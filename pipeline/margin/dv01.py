"""Firm DV01 profile by key-rate tenor, for the report's plot (SPEC §4, §7.7)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from pipeline.config import Params
from pipeline.margin.inputs import MarginInputs
from pipeline.margin.positions import load_book
from pipeline.margin.sensitivities import key_rate_matrix


def dv01_by_tenor(inputs: MarginInputs, params: Params, business_date: dt.date) -> pl.DataFrame:
    """Net FICC, CME and total key-rate DV01 and the gross Σ_accounts |DV01| per tenor (SPEC §4)."""
    book = load_book(inputs, params, business_date, 0, 1)
    n = book.accounts.height
    tenors = params.key_rate_tenors
    sec, con, cash, futures = book.securities, book.contracts, book.cash, book.futures
    ficc = key_rate_matrix(cash.acct, cash.s, cash.instrument, sec.t, tenors, n)
    cme = key_rate_matrix(futures.acct, futures.s, futures.instrument, con.t, tenors, n)
    total = ficc + cme
    return pl.DataFrame(
        {
            "business_date": [business_date] * len(tenors),
            "tenor_years": list(tenors),
            "ficc_net_dv01": ficc.sum(axis=0),
            "cme_net_dv01": cme.sum(axis=0),
            "net_dv01": total.sum(axis=0),
            "gross_dv01": np.abs(total).sum(axis=0),
        },
        schema={
            "business_date": pl.Date,
            "tenor_years": pl.Float64,
            "ficc_net_dv01": pl.Float64,
            "cme_net_dv01": pl.Float64,
            "net_dv01": pl.Float64,
            "gross_dv01": pl.Float64,
        },
    )
