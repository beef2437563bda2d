"""DV01 to key-rate mapping and dense per-account key-rate matrices (SPEC §4)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def key_rate_split(
    t: FloatArray, tenors: tuple[float, ...]
) -> tuple[IntArray, IntArray, FloatArray]:
    """Lower and upper tenor index and the weight on the lower one for each t (SPEC §4)."""
    grid = np.asarray(tenors, dtype=np.float64)
    k = len(grid)
    # i with T_i <= t < T_{i+1}; clipped so the first and last tenor take everything outside.
    lower = np.clip(np.searchsorted(grid, t, side="right") - 1, 0, max(k - 2, 0)).astype(np.int64)
    upper = np.minimum(lower + 1, k - 1)
    span = grid[upper] - grid[lower]
    inside = (t > grid[0]) & (t < grid[-1]) & (span > 0)
    weight = np.ones_like(t, dtype=np.float64)
    np.divide(grid[upper] - t, span, out=weight, where=inside)
    below_first = t <= grid[0]
    upper = np.where(below_first, lower, upper)
    # At or beyond the last tenor everything sits on T_K.
    at_last = t >= grid[-1]
    lower = np.where(at_last, k - 1, lower)
    upper = np.where(at_last, k - 1, upper)
    weight = np.where(below_first | at_last, 1.0, weight)
    return lower, upper, weight


def key_rate_matrices(
    acct: IntArray,
    portfolio: IntArray,
    n_portfolios: int,
    s: FloatArray,
    instrument: IntArray,
    instrument_t: FloatArray,
    tenors: tuple[float, ...],
    n_accounts: int,
) -> FloatArray:
    """Σ key-rate DV01 vectors per (portfolio, account): a dense (n_portfolios, n_accounts, K).

    One pass over the positions fills every portfolio. `t` belongs to the instrument, so the
    split is computed once per instrument (hundreds) and gathered per position (millions).
    """
    k = len(tenors)
    if acct.size == 0:
        return np.zeros((n_portfolios, n_accounts, k))
    lower, upper, weight = key_rate_split(instrument_t, tenors)
    w = weight[instrument]
    row = (portfolio * n_accounts + acct) * k
    size = n_portfolios * n_accounts * k
    # bincount sums in row order, so the result is deterministic for a deterministic row order.
    flat = np.bincount(row + lower[instrument], weights=w * s, minlength=size)
    flat += np.bincount(row + upper[instrument], weights=(1.0 - w) * s, minlength=size)
    return flat.reshape(n_portfolios, n_accounts, k).astype(np.float64, copy=False)


def key_rate_matrix(
    acct: IntArray,
    s: FloatArray,
    instrument: IntArray,
    instrument_t: FloatArray,
    tenors: tuple[float, ...],
    n_accounts: int,
) -> FloatArray:
    """Σ key-rate DV01 vectors per account of one portfolio: (n_accounts, K) (SPEC §4)."""
    one = np.zeros_like(acct)
    stacked = key_rate_matrices(acct, one, 1, s, instrument, instrument_t, tenors, n_accounts)
    result: FloatArray = stacked[0]
    return result


def per_account_sum(
    acct: IntArray, column: IntArray, values: FloatArray, n_accounts: int, width: int
) -> FloatArray:
    """Dense (n_accounts, width) matrix of Σ values per (account, column)."""
    if acct.size == 0:
        return np.zeros((n_accounts, width))
    flat = np.bincount(acct * width + column, weights=values, minlength=n_accounts * width)
    return flat.reshape(n_accounts, width).astype(np.float64, copy=False)
