"""compliance.html: the history of a window for compliance and operations (SPEC §10.10).

Built from a pack's own tables and manifest only, with the report's building blocks (inline CSS
and SVG, a policy that forbids every fetch), so it opens the same without a network. Figures
carry their exact value in `data-value` under a stable id, as in report.html.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.ingest.staging import write_text_atomic
from pipeline.reports import svg
from pipeline.reports.data import MAX_TABLE_ROWS
from pipeline.reports.fmt import count, esc, iso, money, whole_dollars
from pipeline.reports.html import CSP, CSS, card, data_table, shown_note, value_span
from pipeline.reserve.exhibit_a import BOOKS

PAGE = "compliance.html"
AGE_BUCKETS = (
    ("1", "calls_1", "#90cdf4"),
    ("2", "calls_2", svg.BLUE),
    ("3-5", "calls_3_5", "#dd6b20"),
    ("6+", "calls_6_plus", svg.RED),
)
BOOK_COLOURS = {"CUSTOMER": svg.BLUE, "PAB": "#805ad5"}


@dataclass(frozen=True)
class Pack:
    """The tables and manifest of one `compliance/D1_D2/` folder."""

    manifest: dict[str, Any]
    tables: dict[str, pl.DataFrame]

    def __getitem__(self, table: str) -> pl.DataFrame:
        return self.tables[table]


def load_pack(folder: Path) -> Pack:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    tables = {
        o["name"]: pl.read_parquet(folder / f"{o['name']}.parquet") for o in manifest["outputs"]
    }
    return Pack(manifest, tables)


def _floats(frame: pl.DataFrame, column: str) -> list[float | None]:
    """A money column as floats for drawing only (every figure shown comes from the cents)."""
    return [None if v is None else float(v) for v in frame[column].to_list()]


def _zeros(values: Sequence[float | None]) -> list[float]:
    return [0.0 if v is None else v for v in values]


def _dates(frame: pl.DataFrame) -> list[str]:
    return [d.isoformat() for d in frame["business_date"].to_list()]


def _window(pack: Pack) -> str:
    m = pack.manifest
    w = m.get("window", {})
    published, missing = w.get("published", []), w.get("missing", [])
    closed, read = w.get("non_business", []), m.get("dates_read", [])
    cards = [
        card(
            "Window",
            value_span("window", f"{m['start']} to {m['end']}", f"{m['start']}_{m['end']}", "fig"),
            f"{count(int(w.get('business_dates', 0)))} SIFMA business dates",
        ),
        card(
            "Published",
            value_span("published-dates", count(len(published)), len(published), "fig"),
            "business dates with outputs/business_date=D/_SUCCESS",
        ),
        card(
            "Not published",
            value_span("missing-dates", count(len(missing)), len(missing), "fig"),
            esc(", ".join(missing[:12]) + (" …" if len(missing) > 12 else "")) or "none",
            bad=bool(missing),
        ),
        card(
            "Non-business folders",
            value_span("non-business-dates", count(len(closed)), len(closed), "fig"),
            esc(", ".join(closed)) or "none (forced runs are listed, never counted)",
        ),
        card(
            "Published dates read",
            value_span("dates-read", count(len(read)), len(read), "fig"),
            "window, chain look-back, next business date and month-ends",
        ),
    ]
    return (
        '<section id="window"><h2>Window</h2>'
        f'<div class="cards">{"".join(cards)}</div>'
        '<p class="note">Only published dates are read. A business date that is not published '
        "appears in no table and ends every chain (consecutive business days).</p></section>"
    )


def _daily_test(pack: Pack) -> str:
    test = pack["daily_computation_test"].row(0, named=True)
    months = pack["daily_computation_months"]
    status = str(test["status"])
    average = test["average_total_credits"]
    threshold = test["threshold"]
    used = int(test["months_used"])
    span = f"{test['first_month']} to {test['last_month']}" if used else "no month-end published"
    params = pack.manifest.get("params", {})
    cards = [
        card(
            "Daily computation (SEC 34-102022)",
            value_span("daily-status", status, status, "fig word"),
            f"as of {esc(iso(test['as_of']))}",
            bad=status == "DAILY_REQUIRED",
        ),
        card(
            "Average total credits",
            value_span(
                "average-total-credits",
                money(average) if average is not None else "—",
                "" if average is None else average,
                "fig",
            ),
            "Σ customer + PAB total credits at the month-ends ÷ months, half-even to the cent",
        ),
        card(
            "Threshold",
            value_span("threshold", money(threshold), threshold, "fig"),
            f"reserve.daily_threshold of parameters {esc(params.get('version', ''))}",
        ),
        card(
            "Months used",
            value_span("months-used", f"{used} of 12", used, "fig"),
            esc(span),
            bad=used < 12,
        ),
    ]
    rows = [
        (
            r["month"],
            iso(r["month_end_date"]),
            money(r["customer_total_credits"]),
            money(r["pab_total_credits"]),
            money(r["total_credits"]),
        )
        for r in months.iter_rows(named=True)
    ]
    header = [
        ("Month", False),
        ("Month-end", False),
        ("Customer total credits", True),
        ("PAB total credits", True),
        ("Total credits", True),
    ]
    return (
        '<section id="daily-computation"><h2>Daily computation test</h2>'
        f'<div class="cards">{"".join(cards)}</div>'
        '<p class="note">The 12 calendar months before the last date\'s month; a month counts '
        "only if its last SIFMA business date is published. Fewer than 12: "
        "INSUFFICIENT_HISTORY.</p>" + data_table("table-daily-months", header, rows) + "</section>"
    )


def _plots(pack: Pack) -> str:
    reserve = pack["reserve_history"]
    figures: list[str] = []
    for book in BOOKS:
        rows = reserve.filter(pl.col("book") == book)
        plot = svg.date_lines(
            f"plot-reserve-{book.lower()}",
            f"Reserve requirement against on deposit — {book}",
            _dates(rows),
            [
                ("reserve requirement", _floats(rows, "reserve_requirement"), svg.RED),
                ("on deposit", _floats(rows, "on_deposit"), svg.GREEN),
            ],
            "USD",
        )
        figures.append(
            f"<figure>{plot}<figcaption>Exhibit A reserve requirement of each published date "
            "and the Special Reserve Bank Account balance that night.</figcaption></figure>"
        )
    deposits = pack["deposit_compliance"]
    dates = sorted({d.isoformat() for d in deposits["business_date"].to_list()})
    by_book = []
    for book in BOOKS:
        rows = deposits.filter(pl.col("book") == book)
        shortfall = dict(zip(_dates(rows), _zeros(_floats(rows, "shortfall")), strict=True))
        by_book.append((book, [shortfall.get(d, 0.0) for d in dates], BOOK_COLOURS[book]))
    missing_next = deposits.filter(pl.col("status") == "NEXT_DATE_MISSING").height
    plot = svg.date_bars(
        "plot-deposit-shortfalls",
        "Deposit shortfall at the next business date's close",
        dates,
        by_book,
        "USD",
    )
    figures.append(
        f"<figure>{plot}<figcaption>max(0, requirement for D − on deposit at the close of the "
        f"next business date); {count(missing_next)} book-date(s) whose next business date is "
        "not published (NEXT_DATE_MISSING) draw no bar.</figcaption></figure>"
    )
    summary = pack["call_summary"]
    plot = svg.date_bars(
        "plot-calls-by-age",
        "Margin calls per day by age",
        _dates(summary),
        [
            (f"{name} d", [float(v) for v in summary[col].to_list()], c)
            for name, col, c in AGE_BUCKETS
        ],
        "calls",
        counts=True,
    )
    figures.append(
        f"<figure>{plot}<figcaption>Issued calls by the account's run of consecutive called "
        "business days (1, 2, 3-5, 6+).</figcaption></figure>"
    )
    xm = pack["xm_savings_history"]
    plot = svg.date_lines(
        "plot-xm-savings",
        "Cross-margining savings",
        _dates(xm),
        [
            ("standalone", _floats(xm, "standalone"), svg.GREY),
            ("with XM", _floats(xm, "applied"), svg.BLUE),
            ("savings", _floats(xm, "savings"), svg.GREEN),
        ],
        "USD",
    )
    figures.append(
        f"<figure>{plot}<figcaption>Σ over XM-active accounts of (f_sa + c_sa), of (ficc_xm_im + "
        "cme_xm_im), and their difference.</figcaption></figure>"
    )
    seg = pack["segregation_history"]
    residual = _zeros(_floats(seg, "residual_interest"))
    plot = svg.date_bars(
        "plot-residual-interest",
        "CEA §4d residual interest",
        _dates(seg),
        [
            ("residual interest", [max(v, 0.0) for v in residual], svg.GREEN),
            ("shortfall", [min(v, 0.0) for v in residual], svg.RED),
        ],
        "USD",
    )
    figures.append(
        f"<figure>{plot}<figcaption>Funds held less segregation required for XM-active "
        "customer accounts; below zero is a segregation shortfall.</figcaption></figure>"
    )
    return (
        f'<section id="plots"><h2>Plots</h2><div class="plots">{"".join(figures)}</div></section>'
    )


def _deposits(pack: Pack) -> str:
    deposits = pack["deposit_compliance"]
    counts = deposits.group_by("status").len().sort("status")
    flagged = deposits.filter(pl.col("status") != "OK")
    rows = [
        (
            iso(r["business_date"]),
            r["book"],
            money(r["reserve_requirement"]),
            iso(r["next_business_date"]),
            "" if r["on_deposit_next"] is None else money(r["on_deposit_next"]),
            "" if r["shortfall"] is None else money(r["shortfall"]),
            r["status"],
        )
        for r in flagged.head(MAX_TABLE_ROWS).iter_rows(named=True)
    ]
    header = [
        ("Date", False),
        ("Book", False),
        ("Requirement", True),
        ("Next business date", False),
        ("On deposit next", True),
        ("Shortfall", True),
        ("Status", False),
    ]
    return (
        '<section id="deposits"><h2>Reserve deposits</h2>'
        + data_table(
            "table-deposit-status",
            [("Status", False), ("Book-dates", True)],
            [(s, count(int(n))) for s, n in counts.iter_rows()],
        )
        + shown_note(len(rows), flagged.height, "book-dates not OK")
        + data_table("table-deposits", header, rows, box="scroll")
        + "</section>"
    )


def _calls(pack: Pack) -> str:
    summary = pack["call_summary"]
    rows = [
        (
            iso(r["business_date"]),
            count(int(r["calls"])),
            whole_dollars(r["call_amount"]),
            *(count(int(r[col])) for _, col, _ in AGE_BUCKETS),
        )
        for r in summary.iter_rows(named=True)
    ]
    header = [
        ("Date", False),
        ("Calls", True),
        ("Amount", True),
        *((f"{name} day(s)", True) for name, _, _ in AGE_BUCKETS),
    ]
    return (
        '<section id="calls"><h2>Calls per day</h2>'
        + data_table("table-call-summary", header, rows, box="scroll")
        + "</section>"
    )


def _exceptions(pack: Pack) -> str:
    exceptions = pack["history_exceptions"]
    counts = exceptions.group_by("kind").len().sort("kind")
    rows = [
        (r["kind"], iso(r["business_date"]), r["book"] or "", r["account_id"] or "", r["detail"])
        for r in exceptions.head(MAX_TABLE_ROWS).iter_rows(named=True)
    ]
    header = [
        ("Kind", False),
        ("Date", False),
        ("Book", False),
        ("Account", False),
        ("Detail", False),
    ]
    return (
        '<section id="exceptions"><h2>Exceptions</h2>'
        + data_table(
            "table-exception-counts",
            [("Kind", False), ("Count", True)],
            [(k, count(int(n))) for k, n in counts.iter_rows()],
        )
        + shown_note(len(rows), exceptions.height, "exceptions")
        + data_table("table-exceptions", header, rows, box="scroll")
        + "</section>"
    )


def _lineage(pack: Pack) -> str:
    lineage = pack["run_lineage"]
    rows = [
        (
            iso(r["business_date"]),
            r["run_id"] or "",
            r["software_version"] or "",
            r["params_version"] or "",
            (r["params_sha256"] or "")[:16],
            iso(r["finished_at"]),
            (r["manifest_sha256"] or "")[:16],
        )
        for r in lineage.iter_rows(named=True)
    ]
    header = [
        ("Date", False),
        ("Run id", False),
        ("Software", False),
        ("Parameters", False),
        ("Parameters sha256 (prefix)", False),
        ("Finished (UTC)", False),
        ("manifest.json sha256 (prefix)", False),
    ]
    m = pack.manifest
    params = m.get("params", {})
    facts = [
        ("Pack run id", str(m.get("run_id", ""))),
        ("Started (UTC)", str(m.get("started_at", ""))),
        ("Software version", str(m.get("software_version", ""))),
        (
            "Parameters in force for the last date",
            f"{params.get('version', '')} sha256 {params.get('sha256', '')}",
        ),
    ]
    return (
        '<section id="lineage"><h2>Lineage</h2>'
        + data_table("table-pack", [("Field", False), ("Value", False)], facts)
        + "<h3>Runs that published the window</h3>"
        + data_table("table-lineage", header, rows, box="scroll")
        + "</section>"
    )


def render_compliance_html(pack: Pack) -> str:
    """The whole page as one string."""
    m = pack.manifest
    title = f"xmargin compliance — {m['start']} to {m['end']}"
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f'<body data-start="{esc(m["start"])}" data-end="{esc(m["end"])}">'
        f"<header><h1>15c3-3 reserve, margin calls and cross-margining — {esc(m['start'])} to "
        f"{esc(m['end'])}</h1><p>history of the published outputs · parameters "
        f"{esc(m.get('params', {}).get('version', ''))}</p></header>"
        "<main>"
        + _window(pack)
        + _daily_test(pack)
        + _plots(pack)
        + _deposits(pack)
        + _calls(pack)
        + _exceptions(pack)
        + _lineage(pack)
        + "</main></body></html>\n"
    )


def render_compliance(folder: Path) -> Path:
    """Write `folder/compliance.html` from the pack's tables and manifest (SPEC §10.10)."""
    dest = folder / PAGE
    write_text_atomic(dest, render_compliance_html(load_pack(folder)))
    return dest


__all__ = ["PAGE", "load_pack", "render_compliance", "render_compliance_html"]
