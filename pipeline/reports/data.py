"""What the report shows, computed from a published folder with Polars (SPEC §7.7).

Every figure is taken from the published Parquet (money is decimal(20,2), so sums are exact
cents) and reduced to a bounded size here: headline sums, top-N tables, a sampled scatter and
binned counts. The page never holds one Python object per account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import outputs
from pipeline.errors import InternalError, MissingInputError

# The published tables the page reads; a folder without dv01_by_tenor renders with a note.
REQUIRED = (
    outputs.MARGIN_BY_ACCOUNT,
    outputs.MARGIN_CALLS,
    outputs.RESERVE_COMPUTATION,
    outputs.XM_SEGREGATION_SUMMARY,
    outputs.EXCEPTIONS,
)
SCATTER_POINTS = 3000
TOP_ACCOUNTS = 20
MAX_TABLE_ROWS = 200
R_BIN_WIDTH = 0.05

# XM savings, from published columns: what each clearing house would require on the XM
# positions standing alone (FICC model on the XM cash, CME model on the XM futures) less what
# is required with the reduction applied. f_sep/c_sep are not used: they apply each model to
# *both* legs and would overstate what the account would post without the arrangement.
STANDALONE = pl.col("f_sa") + pl.col("c_sa")
WITH_XM = pl.col("ficc_xm_im") + pl.col("cme_xm_im")
SAVINGS = STANDALONE - WITH_XM
SAVINGS_DEFINITION = (
    "XM savings = Σ over XM-active accounts of (f_sa + c_sa) − (ficc_xm_im + cme_xm_im): "
    "the FICC requirement on the XM cash alone plus the CME requirement on the XM futures "
    "alone, less the cross-margined requirement on them. Percent = savings ÷ Σ (f_sa + c_sa)."
)


@dataclass(frozen=True)
class Headline:
    """The figures at the top of the page; each ties to a sum over a published table."""

    business_date: str
    accounts: int
    xm_active_accounts: int
    total_maintenance: Decimal
    total_initial: Decimal
    xm_standalone: Decimal
    xm_with_xm: Decimal
    xm_savings: Decimal
    xm_savings_pct: Decimal | None
    calls_count: int
    calls_sum: int
    reserve: dict[str, dict[str, Decimal]]
    seg_required: Decimal
    funds_held: Decimal
    residual_interest: Decimal
    is_shortfall: bool


@dataclass(frozen=True)
class ReportData:
    """Everything the page renders, already reduced to a bounded size."""

    folder: Path
    headline: Headline
    manifest: dict[str, Any] | None
    calls: pl.DataFrame
    reserve_lines: pl.DataFrame
    top_accounts: pl.DataFrame
    savings_top: pl.DataFrame
    exceptions: pl.DataFrame
    exception_counts: pl.DataFrame
    exceptions_total: int
    scatter: pl.DataFrame
    scatter_total: int
    r_edges: list[float]
    r_counts: list[int]
    dv01: pl.DataFrame | None
    has_validation: bool
    notes: list[str] = field(default_factory=list)


def _read(folder: Path, table: outputs.Table) -> pl.DataFrame:
    return pl.read_parquet(folder / table.filename)


def _dec(value: object) -> Decimal:
    if value is None:
        return Decimal("0.00")
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _sum(frame: pl.DataFrame, expr: pl.Expr) -> Decimal:
    """Exact sum of decimal(20,2) columns (Polars keeps Decimal through + and sum)."""
    return _dec(frame.select(expr.sum()).item())


def _reserve(lines: pl.DataFrame) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = {}
    for book, line, amount in lines.select("book", "line", "amount").iter_rows():
        out.setdefault(str(book), {})[str(line)] = _dec(amount)
    return out


def _headline(
    margin: pl.DataFrame,
    calls: pl.DataFrame,
    reserve: pl.DataFrame,
    summary: pl.DataFrame,
    business_date: str,
) -> Headline:
    xm = margin.filter(pl.col("xm_active"))
    standalone = _sum(xm, STANDALONE)
    with_xm = _sum(xm, WITH_XM)
    savings = standalone - with_xm
    pct = (savings / standalone) if standalone else None
    if summary.height != 1:
        raise InternalError(
            f"xm_segregation_summary.parquet: found {summary.height} rows, expected exactly one"
            " (the firm's 4d totals, SPEC §7.4)"
        )
    row = summary.row(0, named=True)
    return Headline(
        business_date=business_date,
        accounts=margin.height,
        xm_active_accounts=xm.height,
        total_maintenance=_sum(margin, pl.col("maintenance_requirement")),
        total_initial=_sum(margin, pl.col("initial_requirement")),
        xm_standalone=standalone,
        xm_with_xm=with_xm,
        xm_savings=savings,
        xm_savings_pct=pct,
        calls_count=calls.height,
        calls_sum=int(calls.select(pl.col("call_amount").sum()).item() or 0),
        reserve=_reserve(reserve),
        seg_required=_dec(row["seg_required"]),
        funds_held=_dec(row["funds_held"]),
        residual_interest=_dec(row["residual_interest"]),
        is_shortfall=bool(row["is_shortfall"]),
    )


def _r_histogram(margin: pl.DataFrame) -> tuple[list[float], list[int]]:
    """Counts of r_applied in bins of 0.05 over XM-active accounts that hold XM positions."""
    n_bins = round(1 / R_BIN_WIDTH)
    # The small epsilon puts 0.15 (stored as 0.1499…) in the bin it reads as.
    binned = (
        margin.lazy()
        .filter(pl.col("xm_active") & (STANDALONE > 0))
        .select(
            (pl.col("r_applied") * n_bins + 1e-9)
            .floor()
            .clip(0, n_bins - 1)
            .cast(pl.Int64)
            .alias("bin")
        )
        .group_by("bin")
        .agg(pl.len().alias("n"))
        .collect()
    )
    counts = [0] * n_bins
    for b, n in binned.iter_rows():
        counts[int(b)] = int(n)
    edges = [round(i * R_BIN_WIDTH, 10) for i in range(n_bins + 1)]
    return edges, counts


def _scatter(margin: pl.DataFrame) -> pl.DataFrame:
    points = margin.select(
        pl.col("account_id"),
        pl.col("equity").cast(pl.Float64),
        pl.col("maintenance_requirement").cast(pl.Float64),
        (pl.col("call_amount") > 0).alias("called"),
    )
    if points.height > SCATTER_POINTS:
        # A fixed seed keeps reruns of the same outputs byte-identical.
        points = points.sample(n=SCATTER_POINTS, seed=0)
    return points


def _manifest(folder: Path, notes: list[str]) -> dict[str, Any] | None:
    path = folder / "manifest.json"
    if not path.is_file():
        notes.append("manifest.json is absent: run and input details are not shown.")
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"manifest.json could not be read ({exc}): run details are not shown.")
        return None
    return doc if isinstance(doc, dict) else None


def load_report_data(folder: Path) -> ReportData:
    """Read a published (or staging) folder and reduce it to what the page shows (SPEC §7.7)."""
    missing = [t.filename for t in REQUIRED if not (folder / t.filename).is_file()]
    if missing:
        raise MissingInputError(folder, missing)
    notes: list[str] = []
    manifest = _manifest(folder, notes)
    margin, calls, reserve, summary, exceptions = (_read(folder, t) for t in REQUIRED)
    has_dv01 = (folder / outputs.DV01_BY_TENOR.filename).is_file()
    dv01 = _read(folder, outputs.DV01_BY_TENOR) if has_dv01 else None
    if dv01 is None:
        notes.append(f"{outputs.DV01_BY_TENOR.filename} is absent: the DV01 profile is not shown.")

    if manifest and manifest.get("business_date"):
        business_date = str(manifest["business_date"])
    elif margin.height:
        business_date = margin["business_date"][0].isoformat()
    else:
        business_date = "unknown"

    edges, counts = _r_histogram(margin)
    by_requirement = margin.with_columns(SAVINGS.alias("xm_savings")).sort(
        ["initial_requirement", "account_id"], descending=[True, False]
    )
    savings_top = (
        margin.filter(pl.col("xm_active"))
        .select("account_id", SAVINGS.alias("xm_savings"))
        .filter(pl.col("xm_savings") > 0)
        .sort(["xm_savings", "account_id"], descending=[True, False])
        .head(TOP_ACCOUNTS)
    )
    return ReportData(
        folder=folder,
        headline=_headline(margin, calls, reserve, summary, business_date),
        manifest=manifest,
        calls=calls.sort(["call_amount", "call_id"], descending=[True, False]).head(MAX_TABLE_ROWS),
        reserve_lines=reserve,
        top_accounts=by_requirement.head(TOP_ACCOUNTS),
        savings_top=savings_top,
        exceptions=exceptions.head(MAX_TABLE_ROWS),
        exception_counts=exceptions.group_by("kind").agg(pl.len().alias("n")).sort("kind"),
        exceptions_total=exceptions.height,
        scatter=_scatter(margin),
        scatter_total=margin.height,
        r_edges=edges,
        r_counts=counts,
        dv01=dv01.sort("tenor_years") if dv01 is not None and dv01.height else None,
        has_validation=(folder / "validation" / "index.html").is_file(),
        notes=notes,
    )
