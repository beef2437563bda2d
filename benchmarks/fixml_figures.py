"""The FIXML reader's figures for `run_benchmark.py` (issues 10 and 13), against its lxml floor.

Two files of the same reports: the generator's (one batch, one line per report) and a
real-shaped rewrite of it as CME and the FIX standard allow (a prolog comment, several batches
each with a header, comments every few thousand reports, one of them holding `<PosRpt` text, the
position account party R="38" with a Sub for half the accounts, decimal and omitted quantities,
multi-line reports, a position request's acknowledgement). For each: `read_cme_positions` as
validation calls it (rows into memory), the two-process lxml floor on the same file measured
just before, their ratio, and how the reader read it (parts, extractor). The real-shaped file
must be cut and parsed on both cores like the plain one (`parts` 2) at the same ratio.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# Reports per batch of the real-shaped file and between two of its comments.
_BATCHES = 4
_COMMENT_EVERY = 5000


def real_shaped(src: Path, dest: Path) -> int:
    """Rewrite the generator's FIXML file `src` into the real shape at `dest`; the report count."""
    import polars as pl

    text = pl.read_csv(
        src, has_header=False, separator="\x1f", quote_char=None, infer_schema=False
    ).to_series()
    reports = text.filter(text.str.starts_with("<PosRpt")).to_frame("line")
    n = reports.height
    per_batch = -(-n // _BATCHES)
    i = pl.int_range(pl.len())
    line = pl.col("line")
    shaped = reports.select(
        pl.when(i % 2 == 0)
        .then(line.str.replace(' R="24"/>', ' R="38"><Sub ID="C" Typ="26"/></Pty>', literal=True))
        .otherwise(line)
        # Whole quantities as decimals, zero ones left out (FIX: an omitted quantity is 0).
        .str.replace_all(r'(Typ="FIN" Long=")(\d+)(" Short=")(\d+)"', '${1}${2}.0${3}${4}.0"')
        .str.replace_all(r'(Typ="SOD"[^/]*?) (Long|Short)="0"', "$1")
        .str.replace_all(r"><(Pty|Instrmt|Qty|Amt)", ">\n  <$1")
        .str.replace("></PosRpt>", ">\n</PosRpt>", literal=True)
        .alias("line"),
        i.alias("i"),
    )
    batch_start = pl.format(
        '<Batch ID="B{}" TotMsg="{}">\n<Hdr Snt="2026-11-20T18:30:00" SID="CME" TID="905"/>\n',
        pl.col("i") // per_batch,
        pl.lit(per_batch),
    )
    prefix = (
        pl.when(pl.col("i") == 0)
        .then(batch_start)
        .when(pl.col("i") % per_batch == 0)
        .then(pl.lit("</Batch>\n<!-- next batch -->\n") + batch_start)
        .when(pl.col("i") % _COMMENT_EVERY == 17)
        .then(pl.lit("<!-- continued: <PosRpt> reports of the batch -->\n"))
        .when(pl.col("i") == per_batch // 2)
        .then(pl.lit('<PosReqAck RptID="ACK1" Rslt="0" TotRpts="1"/>\n'))
        .otherwise(pl.lit(""))
    )
    shaped = shaped.select(pl.concat_str([prefix, pl.col("line")]).alias("line"))
    with dest.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<!-- CME Clearing: positions of the day -->\n'
            '<FIXML xmlns="http://www.fixprotocol.org/FIXML-5-0-SP2" v="FIX.5.0SP2" '
            'xv="192" s="2014-05-07">\n'
        )
        for start in range(0, n, 200_000):
            out.write(shaped["line"].slice(start, 200_000).str.join("\n").item())
            out.write("\n")
        out.write("</Batch>\n</FIXML>\n")
    return n


def reader_figures(
    inbox: Path, floor: dict[str, Any], floor_of: Callable[[Path], float]
) -> dict[str, Any]:
    """The reader against its floor on the generator's file and on its real-shaped rewrite.

    `floor` is the input-parse floor measured for the inbox; `floor_of(path)` measures the
    two-process lxml floor of one more file the same way.
    """
    sys.path.insert(0, str(REPO))
    from pipeline.ingest.fixml import read_cme_positions

    def measure(path: Path, floor_s: float) -> dict[str, Any]:
        started = time.perf_counter()
        read = read_cme_positions(path)
        seconds = time.perf_counter() - started
        figures = {
            "bytes": read.size,
            "reports": read.reports,
            "floor_s": round(floor_s, 2),
            "reader_s": round(seconds, 2),
            "reader_vs_floor": round(seconds / floor_s, 2),
            "parts": read.parts,
            "extractor": read.implementation,
            "ignored": read.ignored,
        }
        del read  # the rows are freed before the next file is read
        return figures

    out: dict[str, Any] = {}
    for path in sorted(inbox.glob("*.xml")):
        out[path.name] = measure(path, floor["per_file_s"][path.name])
        shaped = inbox.parent / f"_real_shaped_{path.name}"
        try:
            real_shaped(path, shaped)
            out[f"real-shaped {path.name}"] = measure(shaped, floor_of(shaped))
        finally:
            shaped.unlink(missing_ok=True)
    return out
