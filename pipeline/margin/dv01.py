"""Firm DV01 profile by key-rate tenor, added up exactly from the shards (SPEC §4, §7.7).

Each margin shard writes the exact partial sums of its accounts (`dv01_partials`); the reduce
adds them (`dv01_by_tenor`), so the profile needs no second build of the book and any shard
count publishes the same bits (`pipeline.margin.exactsum`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from pipeline.config import Params
from pipeline.errors import InternalError
from pipeline.margin.exactsum import add_partials, partial_sums, totals
from pipeline.margin.positions import Book
from pipeline.margin.sensitivities import key_rate_matrix
from pipeline.outputs import DV01_BY_TENOR, DV01_PARTIALS

FloatArray = npt.NDArray[np.float64]

# Published columns after business_date and tenor_years; gross is Σ_accounts |net key-rate DV01|.
MEASURES = DV01_BY_TENOR.schema.names[2:]


def account_key_rates(book: Book, params: Params) -> tuple[FloatArray, FloatArray]:
    """(n_accounts, K) key-rate DV01 of each account's cash and of its futures, regular and XM."""
    n = book.accounts.height
    tenors = params.key_rate_tenors
    cash, futures = book.cash, book.futures
    ficc = key_rate_matrix(cash.acct, cash.s, cash.instrument, book.securities.t, tenors, n)
    cme = key_rate_matrix(futures.acct, futures.s, futures.instrument, book.contracts.t, tenors, n)
    return ficc, cme


def dv01_partials(book: Book, params: Params) -> pl.DataFrame:
    """One shard's exact partial sums of every measure at every tenor (SPEC §4)."""
    ficc, cme = account_key_rates(book, params)
    total = ficc + cme
    # Columns measure-major: [ficc | cme | net | gross], each K tenors wide.
    parts = partial_sums(np.hstack([ficc, cme, total, np.abs(total)]))
    k = len(params.key_rate_tenors)
    measure, tenor = parts.get_column("column") // k, parts.get_column("column") % k
    return parts.select(
        measure.replace_strict(range(len(MEASURES)), MEASURES, return_dtype=pl.Utf8).alias(
            "measure"
        ),
        tenor.replace_strict(range(k), params.key_rate_tenors, return_dtype=pl.Float64).alias(
            "tenor_years"
        ),
        "exponent",
        "high",
        "low",
    )


def dv01_by_tenor(
    partials: Sequence[pl.DataFrame], params: Params, business_date: dt.date
) -> pl.DataFrame:
    """Net FICC, CME and total key-rate DV01 and the gross Σ_accounts |DV01| per tenor (SPEC §4).

    `partials` are the shards' `dv01_partials`, in any number and order.
    """
    if not partials:
        raise InternalError("dv01_by_tenor: no shard partials; expected one per margin shard")
    tenors = params.key_rate_tenors
    k = len(tenors)
    parts = add_partials(
        [
            p.select(
                (
                    pl.col("measure").replace_strict(
                        MEASURES, range(len(MEASURES)), return_dtype=pl.Int64
                    )
                    * k
                    + pl.col("tenor_years").replace_strict(tenors, range(k), return_dtype=pl.Int64)
                ).alias("column"),
                *DV01_PARTIALS.schema.names[2:],
            )
            for p in partials
        ]
    )
    sums = totals(parts, len(MEASURES) * k).reshape(len(MEASURES), k)
    return pl.DataFrame(
        {
            "business_date": [business_date] * k,
            "tenor_years": list(tenors),
            **{measure: sums[i] for i, measure in enumerate(MEASURES)},
        },
        schema=DV01_BY_TENOR.schema.polars(),
    )
