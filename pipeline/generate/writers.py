"""Writers of the generated files in the exact SPEC §2 formats: plain-decimal CSV and FIXML.

Decimals are rendered from scaled integers, never by a float formatter, so no value can come out
in exponent form or as `-0.00` (SPEC §2: `[+-]digits[.digits]` only). Both writers append one
chunk at a time so memory stays bounded by the chunk, not the file.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

import polars as pl

FIXML_NAMESPACE = "http://www.fixprotocol.org/FIXML-5-0-SP2"


def fixed(column: str | pl.Expr, decimals: int) -> pl.Expr:
    """A Float64 column as plain text with exactly `decimals` decimals (ties to even)."""
    expr = pl.col(column) if isinstance(column, str) else column
    scale = 10**decimals
    scaled = (expr * scale).round(0).cast(pl.Int64)
    magnitude = scaled.abs()
    sign = pl.when(scaled < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    whole = (magnitude // scale).cast(pl.Utf8)
    if decimals == 0:
        return pl.concat_str([sign, whole])
    frac = (magnitude % scale).cast(pl.Utf8).str.zfill(decimals)
    return pl.concat_str([sign, whole, pl.lit("."), frac])


def boolean(column: str | pl.Series) -> pl.Expr:
    """A Boolean column (or series) as `true`/`false` (SPEC §2)."""
    value = pl.col(column) if isinstance(column, str) else pl.lit(column)
    return pl.when(value).then(pl.lit("true")).otherwise(pl.lit("false"))


class _ChunkedFile:
    """A file written chunk by chunk: a fixed head on open, a fixed tail on close."""

    _TAIL = b""

    def __init__(self, path: Path, head: bytes) -> None:
        self.path = path
        self.rows = 0
        self._handle: BinaryIO = path.open("wb")
        self._handle.write(head)

    def close(self) -> None:
        self._handle.write(self._TAIL)
        self._handle.flush()
        self._handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class CsvAppender(_ChunkedFile):
    """One CSV file written chunk by chunk: the header once, then rows in the order given."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        super().__init__(path, (",".join(columns) + "\n").encode("ascii"))
        self.columns = columns

    def write(self, frame: pl.DataFrame) -> None:
        """Append rows; the frame must hold exactly the file's columns (text, ints or dates)."""
        if tuple(frame.columns) != self.columns:
            raise ValueError(
                f"{self.path.name}: columns {frame.columns} do not match the header "
                f"{list(self.columns)}"
            )
        if frame.height:
            frame.write_csv(self._handle, include_header=False, date_format="%Y-%m-%d")
            self.rows += frame.height


class FixmlWriter(_ChunkedFile):
    """The CME position file of SPEC §2.3: a FIXML 5.0 SP2 batch of PosRpt, streamed per chunk."""

    _TAIL = b"</Batch>\n</FIXML>\n"

    def __init__(self, path: Path) -> None:
        super().__init__(
            path,
            (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<FIXML xmlns="{FIXML_NAMESPACE}">\n<Batch>\n'
            ).encode("ascii"),
        )

    def write(self, reports: pl.DataFrame) -> None:
        """Append one `PosRpt` line per row of `reports` (text columns, see `posrpt_line`)."""
        if not reports.height:
            return
        lines = reports.select(posrpt_line().alias("line"))["line"]
        # One string per chunk, joined in Rust: no Python object per report.
        text = lines.str.join("\n").item()
        self._handle.write(text.encode("ascii"))
        self._handle.write(b"\n")
        self.rows += reports.height


def posrpt_line() -> pl.Expr:
    """The PosRpt element of SPEC §2.3 from text columns `rpt_id, biz_dt, set_px, pri_set_px,
    clearing_firm_id, account_id, contract_id, symbol, mmy, exchange, sod_long, sod_short,
    fin_long, fin_short, fmtm` (ids are `[A-Z0-9-]`: nothing needs XML escaping)."""
    c = pl.col
    # fmt: off
    return pl.concat_str(
        [
            pl.lit('<PosRpt RptID="'), c("rpt_id"),
            pl.lit('" BizDt="'), c("biz_dt"),
            pl.lit('" ReqTyp="0" SetSesID="EOD" SetPx="'), c("set_px"),
            pl.lit('" PriSetPx="'), c("pri_set_px"),
            pl.lit('"><Pty ID="CME" R="21"/><Pty ID="'), c("clearing_firm_id"),
            pl.lit('" R="4"/><Pty ID="'), c("account_id"),
            pl.lit('" R="24"/><Instrmt ID="'), c("contract_id"),
            pl.lit('" Sym="'), c("symbol"),
            pl.lit('" SecTyp="FUT" MMY="'), c("mmy"),
            pl.lit('" Exch="'), c("exchange"),
            pl.lit('"/><Qty Typ="SOD" Long="'), c("sod_long"),
            pl.lit('" Short="'), c("sod_short"),
            pl.lit('"/><Qty Typ="FIN" Long="'), c("fin_long"),
            pl.lit('" Short="'), c("fin_short"),
            pl.lit('"/><Amt Typ="FMTM" Amt="'), c("fmtm"),
            pl.lit('" Ccy="USD"/></PosRpt>'),
        ]
    )
    # fmt: on
