"""Firm DV01 profile by key-rate tenor, for the report's plot (SPEC §4, §7.7)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from pipeline.config import Params
from pipeline.margin.inputs import MarginInputs
from pipeline.margin.positions import account_universe, netted_cash, netted_futures
from pipeline.margin.sensitivities import key_rate_matrix


def dv01_by_tenor(inputs: MarginInputs, params: Params, business_date: dt.date) -> pl.DataFrame:
    """Net FICC, CME and total key-rate DV01 and the gross Σ_accounts |DV01| per tenor (SPEC §4)."""
    universe = account_universe(inputs, business_date, 0, 1)
    n = universe.height
    tenors = params.key_rate_tenors

    def matrix(frame: pl.DataFrame) -> np.ndarray:
        return key_rate_matrix(
            frame.get_column("acct").to_numpy(),
            frame.get_column("s").to_numpy(),
            frame.get_column("t").to_numpy(),
            tenors,
            n,
        )

    ficc = matrix(netted_cash(inputs, universe, params, business_date))
    cme = matrix(netted_futures(inputs, universe, params))
    return pl.DataFrame(
        {
            "business_date": [business_date] * len(tenors),
            "tenor_years": list(tenors),
            "ficc_net_dv01": ficc.sum(axis=0),
            "cme_net_dv01": cme.sum(axis=0),
            "net_dv01": (ficc + cme).sum(axis=0),
            "gross_dv01": np.abs(ficc + cme).sum(axis=0),
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
