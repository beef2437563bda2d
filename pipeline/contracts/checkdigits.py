"""Vectorised check digits of CUSIP and ISO 17442 LEI codes (SPEC §2.2, §2.5)."""

from __future__ import annotations

import polars as pl

_ALNUM = {str(d): d for d in range(10)} | {chr(ord("A") + i): 10 + i for i in range(26)}
_CUSIP_CHARS = _ALNUM | {"*": 36, "@": 37, "#": 38}


def _char_value(code: pl.Expr, pos: int, table: dict[str, int]) -> pl.Expr:
    return code.str.slice(pos, 1).replace_strict(table, default=None, return_dtype=pl.Int64)


def cusip_is_valid(code: pl.Expr) -> pl.Expr:
    """True where `code` is 9 characters whose last is the CUSIP modulus-10 check digit.

    The loop runs over the 8 character positions, not over rows: each step is one column-wide
    expression.
    """
    total = pl.lit(0, dtype=pl.Int64)
    for pos in range(8):
        value = _char_value(code, pos, _CUSIP_CHARS)
        # Every second character (2nd, 4th, ...) is doubled before its digits are summed.
        if pos % 2 == 1:
            value = value * 2
        total = total + value // 10 + value % 10
    expected = (10 - total % 10) % 10
    check = code.str.slice(8, 1).replace_strict(_ALNUM, default=None, return_dtype=pl.Int64)
    return ((code.str.len_chars() == 9) & (check == expected)).fill_null(False)


def lei_is_valid(code: pl.Expr) -> pl.Expr:
    """True where `code` is a 20-character LEI whose ISO 7064 MOD 97-10 remainder is 1."""
    remainder = pl.lit(0, dtype=pl.Int64)
    for pos in range(20):
        value = _char_value(code, pos, _ALNUM)
        # Letters expand to two digits (A=10 ... Z=35), so they shift the number by 100.
        shift = pl.when(value >= 10).then(pl.lit(100, pl.Int64)).otherwise(pl.lit(10, pl.Int64))
        remainder = (remainder * shift + value) % 97
    return ((code.str.len_chars() == 20) & (remainder == 1)).fill_null(False)


def valid_values(values: pl.Series, kind: str) -> pl.Series:
    """The distinct values of `values` whose check digit is valid (`kind` cusip or lei).

    Computed on distinct values only: 10M position rows carry a few thousand CUSIPs.
    """
    check = cusip_is_valid if kind == "cusip" else lei_is_valid
    distinct = values.drop_nulls().unique().to_frame("code")
    return distinct.filter(check(pl.col("code")))["code"]
