"""report.html: one self-contained page for a person reading a business date (SPEC §7.7).

Inline CSS and SVG only; a Content-Security-Policy forbids every fetch, so the page opens the
same without a network. Headline figures carry their exact value in `data-value` (plain
decimal, cents for money) under a stable element id, so tests and scripts can tie them back to
the Parquet outputs.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.ingest.staging import write_text_atomic
from pipeline.reports import svg
from pipeline.reports.data import (
    MAX_TABLE_ROWS,
    SAVINGS_DEFINITION,
    TOP_ACCOUNTS,
    Headline,
    ReportData,
    load_report_data,
)
from pipeline.reports.fmt import count, esc, iso, money, percent, ratio, whole_dollars
from pipeline.reports.html import CSP, CSS, card, data_table, shown_note, value_span
from pipeline.reserve.exhibit_a import BOOKS


def _headline(h: Headline) -> str:
    zero = Decimal("0.00")
    pct = "" if h.xm_savings_pct is None else h.xm_savings_pct
    cards = [
        card(
            "Maintenance requirement",
            value_span("total-maintenance", money(h.total_maintenance), h.total_maintenance, "fig"),
            f"Σ over {value_span('accounts', count(h.accounts), h.accounts)} accounts",
        ),
        card(
            "Initial requirement",
            value_span("total-initial", money(h.total_initial), h.total_initial, "fig"),
            "Σ initial_requirement",
        ),
        card(
            "XM savings",
            value_span("xm-savings", money(h.xm_savings), h.xm_savings, "fig"),
            f"{esc(count(h.xm_active_accounts))} XM-active accounts; standalone "
            + value_span("xm-standalone", money(h.xm_standalone), h.xm_standalone)
            + ", with XM "
            + value_span("xm-with-xm", money(h.xm_with_xm), h.xm_with_xm),
        ),
        card(
            "XM savings %",
            value_span("xm-savings-pct", percent(h.xm_savings_pct), pct, "fig"),
            "of the standalone requirement on XM positions",
        ),
        card(
            "Margin calls",
            value_span("calls-count", count(h.calls_count), h.calls_count, "fig"),
            "issued, due next business day 09:00 New York",
        ),
        card(
            "Calls total", value_span("calls-sum", whole_dollars(h.calls_sum), h.calls_sum, "fig")
        ),
    ]
    for book in BOOKS:
        lines = h.reserve.get(book, {})

        def line(name: str, fid: str, css: str = "", book: str = book) -> str:
            amount = h.reserve.get(book, {}).get(name, zero)
            return value_span(f"{fid}-{book.lower()}", money(amount), amount, css)

        cards.append(
            card(
                f"15c3-3 reserve requirement — {book}",
                line("reserve_requirement", "reserve-requirement", "fig"),
                "on deposit " + line("on_deposit", "on-deposit"),
            )
        )
        cards.append(
            card(
                f"Deposit required — {book}",
                line("deposit_required", "deposit-required", "fig"),
                "excess on deposit " + line("excess_on_deposit", "excess-on-deposit"),
                bad=lines.get("deposit_required", zero) > 0,
            )
        )
    flag = (
        value_span("shortfall", "SHORTFALL", "true", "flag bad")
        if h.is_shortfall
        else value_span("shortfall", "no shortfall", "false", "flag ok")
    )
    cards.append(
        card(
            "4d residual interest",
            value_span("residual-interest", money(h.residual_interest), h.residual_interest, "fig"),
            "funds held "
            + value_span("funds-held", money(h.funds_held), h.funds_held)
            + " − seg. required "
            + value_span("seg-required", money(h.seg_required), h.seg_required)
            + f" {flag}",
            bad=h.is_shortfall,
        )
    )
    return (
        '<section id="headline"><h2>Headline figures</h2>'
        f'<div class="cards">{"".join(cards)}</div>'
        f'<p class="note">{esc(SAVINGS_DEFINITION)} Totals are sums of the published cents.</p>'
        "</section>"
    )


def _plots(data: ReportData) -> str:
    sc = data.scatter
    scatter = svg.scatter(
        "plot-requirement-vs-equity",
        "Maintenance requirement vs equity per account",
        sc["equity"].to_list(),
        sc["maintenance_requirement"].to_list(),
        sc["called"].to_list(),
        "equity (signed log scale)",
        "maintenance requirement",
    )
    sample = (
        f"random sample of {count(sc.height)} of {count(data.scatter_total)} accounts"
        if sc.height < data.scatter_total
        else f"all {count(sc.height)} accounts"
    )
    hist = svg.histogram(
        "plot-r-applied",
        "Distribution of the applied XM reduction factor",
        data.r_edges,
        data.r_counts,
        "r_applied",
        "accounts",
    )
    st = data.savings_top
    savings = svg.hbars(
        "plot-xm-savings",
        f"XM savings by account (top {TOP_ACCOUNTS})",
        st["account_id"].to_list(),
        st["xm_savings"].cast(pl.Float64).to_list(),
    )
    if data.dv01 is not None:
        d = data.dv01
        dv01 = svg.grouped_bars(
            "plot-dv01",
            "Net and gross DV01 by key-rate tenor",
            [f"{t:g}y" for t in d["tenor_years"].to_list()],
            [
                ("net DV01", d["net_dv01"].cast(pl.Float64).to_list(), svg.BLUE),
                ("gross DV01", d["gross_dv01"].cast(pl.Float64).to_list(), svg.GREY),
            ],
            "key-rate tenor",
            "USD per +1 bp",
        )
    else:
        dv01 = svg.empty_plot("plot-dv01", "DV01 by tenor", "dv01_by_tenor.parquet not published")
    return (
        '<section id="plots"><h2>Plots</h2><div class="plots">'
        f"<figure>{scatter}<figcaption>Each dot is an account ({esc(sample)}); red: a call "
        "was issued. Below the dashed diagonal equity exceeds the requirement.</figcaption>"
        "</figure>"
        f"<figure>{hist}<figcaption>r_applied over XM-active accounts holding XM positions, "
        "bins of 0.05; the parameter cap max_reduction bounds it.</figcaption></figure>"
        f"<figure>{dv01}<figcaption>Net: Σ of key-rate DV01 (long positive); gross: Σ over "
        "accounts of |the account's key-rate DV01|.</figcaption></figure>"
        f"<figure>{savings}<figcaption>(f_sa + c_sa) − (ficc_xm_im + cme_xm_im) per "
        "XM-active account.</figcaption></figure>"
        "</div></section>"
    )


def _calls(data: ReportData) -> str:
    header = [
        ("Call id", False),
        ("Account", False),
        ("Customer LEI", False),
        ("Call amount", True),
        ("Maintenance", True),
        ("Initial", True),
        ("Equity", True),
        ("Due by", False),
    ]
    rows = [
        (
            r["call_id"],
            r["account_id"],
            r["customer_lei"],
            whole_dollars(r["call_amount"]),
            money(r["maintenance_requirement"]),
            money(r["initial_requirement"]),
            money(r["equity"]),
            iso(r["due_by"]),
        )
        for r in data.calls.iter_rows(named=True)
    ]
    return (
        '<section id="calls"><h2>Margin calls</h2>'
        + shown_note(len(rows), data.headline.calls_count, "calls, largest first")
        + data_table("table-calls", header, rows, box="scroll")
        + "</section>"
    )


def _waterfall(book: str, lines: dict[str, Decimal]) -> str:
    def f(name: str) -> float:
        return float(lines.get(name, Decimal(0)))

    steps = [
        svg.Step("credits 1–9", f("total_credits"), total=True),
        svg.Step("− debits 10–15", -f("total_debits")),
        svg.Step("+ reduction", f("debit_reduction")),
        svg.Step("requirement", f("reserve_requirement"), total=True),
        svg.Step("on deposit", f("on_deposit"), total=True),
    ]
    return svg.waterfall(
        f"plot-reserve-waterfall-{book.lower()}",
        f"Reserve computation — {book}",
        steps,
        "USD",
    )


def _reserve(data: ReportData) -> str:
    header = [("Line", False), ("Side", False), ("Description", False), ("Amount", True)]
    parts = ['<section id="reserve"><h2>Rule 15c3-3 reserve computation (Exhibit A)</h2>']
    parts.append('<div class="books">')
    for book in BOOKS:
        frame = data.reserve_lines.filter(pl.col("book") == book)
        rows = [
            (r["line"], r["side"], r["description"], money(r["amount"]))
            for r in frame.iter_rows(named=True)
        ]
        classes = ["total" if r[0].startswith("total") or r[1] == "total" else "" for r in rows]
        parts.append(
            f"<div><h3>{esc(book)}</h3>"
            + data_table(f"table-reserve-{book.lower()}", header, rows, classes)
            + f"<figure>{_waterfall(book, data.headline.reserve.get(book, {}))}"
            "<figcaption>Credits less debits plus the debit reduction gives the requirement "
            "(floored at zero), set against the Special Reserve Bank Account.</figcaption>"
            "</figure></div>"
        )
    parts.append("</div>")
    h = data.headline
    parts.append(
        "<h3>CEA §4d segregation of XM-active customer funds</h3>"
        + data_table(
            "table-segregation",
            [("Figure", False), ("Amount", True)],
            [
                ("Segregation required (Σ max(equity, 0))", money(h.seg_required)),
                ("Funds held (XM_4D on deposit)", money(h.funds_held)),
                ("Residual interest", money(h.residual_interest)),
                ("Shortfall", "YES" if h.is_shortfall else "no"),
            ],
        )
    )
    parts.append("</section>")
    return "".join(parts)


def _top_accounts(data: ReportData) -> str:
    header = [
        ("Account", False),
        ("Class", False),
        ("XM", False),
        ("FICC IM", True),
        ("CME IM", True),
        ("f_sa", True),
        ("c_sa", True),
        ("r_applied", True),
        ("FICC XM IM", True),
        ("CME XM IM", True),
        ("XM savings", True),
        ("Maintenance", True),
        ("Initial", True),
        ("Equity", True),
        ("Excess / deficit", True),
    ]
    rows = [
        (
            r["account_id"],
            r["account_class"],
            "yes" if r["xm_active"] else "no",
            money(r["ficc_im"]),
            money(r["cme_im"]),
            money(r["f_sa"]),
            money(r["c_sa"]),
            ratio(r["r_applied"]),
            money(r["ficc_xm_im"]),
            money(r["cme_xm_im"]),
            money(r["xm_savings"]) if r["xm_active"] else "",
            money(r["maintenance_requirement"]),
            money(r["initial_requirement"]),
            money(r["equity"]),
            money(r["excess_deficit"]),
        )
        for r in data.top_accounts.iter_rows(named=True)
    ]
    return (
        f'<section id="top-accounts"><h2>Top {TOP_ACCOUNTS} accounts by initial requirement'
        "</h2>"
        + shown_note(len(rows), data.headline.accounts, "accounts")
        + data_table("table-top-accounts", header, rows)
        + "</section>"
    )


def _exceptions(data: ReportData) -> str:
    counts = data_table(
        "table-exception-counts",
        [("Kind", False), ("Count", True)],
        [(k, count(int(n))) for k, n in data.exception_counts.iter_rows()],
    )
    rows = [
        (r["kind"], r["account_id"] or "", r["detail"])
        for r in data.exceptions.iter_rows(named=True)
    ]
    return (
        '<section id="exceptions"><h2>Exceptions</h2>'
        + counts
        + shown_note(len(rows), data.exceptions_total, "exceptions")
        + data_table(
            "table-exceptions", [("Kind", False), ("Account", False), ("Detail", False)], rows
        )
        + "</section>"
    )


def _run(data: ReportData) -> str:
    parts = ['<section id="run"><h2>Run, inputs and control totals</h2>']
    if data.has_validation:
        parts.append(
            '<p><a id="validation-link" href="validation/index.html">Validation results '
            "(data contracts)</a></p>"
        )
    else:
        parts.append('<p class="note">No validation page in this folder.</p>')
    m: dict[str, Any] = data.manifest or {}
    params = m.get("params") or {}
    facts = [
        ("Run id", m.get("run_id", "")),
        ("Business date", data.headline.business_date),
        ("Started (UTC)", m.get("started_at", "")),
        ("Finished (UTC)", m.get("finished_at", "")),
        ("Software version", m.get("software_version", "")),
        ("Parameters", f"{params.get('version', '')} sha256 {params.get('sha256', '')}"),
    ]
    parts.append(
        data_table(
            "table-run", [("Field", False), ("Value", False)], [(k, str(v)) for k, v in facts]
        )
    )
    inputs = [
        (
            str(i.get("name", "")),
            count(int(i.get("rows", 0) or 0)),
            count(int(i.get("bytes", 0) or 0)),
            str(i.get("outcome", i.get("validation_outcome", ""))),
            str(i.get("sha256", ""))[:16],
        )
        for i in (m.get("inputs") or [])
        if isinstance(i, dict)
    ]
    parts.append("<h3>Inputs</h3>")
    parts.append(
        data_table(
            "table-inputs",
            [
                ("File", False),
                ("Rows", True),
                ("Bytes", True),
                ("Outcome", False),
                ("sha256 (prefix)", False),
            ],
            inputs,
        )
    )
    totals = m.get("control_totals") or {}
    flat: list[tuple[str, str]] = []
    for key, value in totals.items():
        if isinstance(value, dict):
            flat += [(f"{key}.{k}", _total(k, v)) for k, v in value.items()]
        else:
            flat.append((str(key), _total(str(key), value)))
    parts.append("<h3>Control totals (manifest, sums of unrounded values)</h3>")
    parts.append(data_table("table-control-totals", [("Total", False), ("Value", True)], flat))
    for note in data.notes:
        parts.append(f'<p class="note">{esc(note)}</p>')
    parts.append("</section>")
    return "".join(parts)


def _total(key: str, value: object) -> str:
    if isinstance(value, float) and not key.startswith(("ficc_sum", "cme_sum")):
        return money(value)
    if isinstance(value, int) and "call_amount" in key:
        return whole_dollars(value)
    if isinstance(value, int):
        return count(value)
    return str(value)


def render_html(data: ReportData) -> str:
    """The whole page as one string."""
    h = data.headline
    m = data.manifest or {}
    title = f"xmargin — {h.business_date}"
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f'<body data-business-date="{esc(h.business_date)}">'
        f"<header><h1>Cross-margining and 15c3-3 reserve — {esc(h.business_date)}</h1>"
        f"<p>run {esc(m.get('run_id', 'unknown'))} · {count(h.accounts)} accounts · "
        f"parameters {esc((m.get('params') or {}).get('version', 'unknown'))}</p></header>"
        "<main>"
        + _headline(h)
        + _plots(data)
        + _calls(data)
        + _reserve(data)
        + _top_accounts(data)
        + _exceptions(data)
        + _run(data)
        + "</main></body></html>\n"
    )


def render_report(folder: Path) -> Path:
    """Write `folder/report.html` from the folder's published tables and manifest (SPEC §7.7)."""
    data = load_report_data(folder)
    dest = folder / "report.html"
    # Replace in one step: a re-render never leaves a half-written page behind.
    write_text_atomic(dest, render_html(data))
    return dest


__all__ = ["MAX_TABLE_ROWS", "render_html", "render_report"]
