"""report.html (SPEC §7.7): headline figures tie to the Parquet, the page is self-contained."""

from __future__ import annotations

import datetime as dt
import re
import time
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from pipeline.errors import MissingInputError
from pipeline.publish import write_table
from pipeline.reports import render_report
from tests.unit.reports.sample_folder import write_sample_folder

GOLDEN = Path(__file__).parents[2] / "golden"
PLOT_IDS = (
    "plot-requirement-vs-equity",
    "plot-r-applied",
    "plot-dv01",
    "plot-xm-savings",
    "plot-reserve-waterfall-customer",
    "plot-reserve-waterfall-pab",
)


class _Page(HTMLParser):
    """Collects element ids with their data-value, every attribute value and the table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.attrs: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.attrs += a.values()
        if "id" in a:
            self.ids[a["id"]] = tag
            if "data-value" in a:
                self.values[a["id"]] = a["data-value"]
        if tag == "table":
            self._table = a.get("id", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in {"td", "th"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _column(folder: Path, table: str, column: str, where: str | None = None) -> list[object]:
    """A published column read with pyarrow (not the Polars path the report uses)."""
    t = pq.read_table(folder / f"{table}.parquet")
    values = t.column(column).to_pylist()
    if where is None:
        return values
    return [v for v, keep in zip(values, t.column(where).to_pylist(), strict=True) if keep]


def _dsum(values: list[object]) -> Decimal:
    return sum((Decimal(str(v)) for v in values), Decimal("0"))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_sample_folder(tmp_path_factory.mktemp("sample") / "out", n_accounts=4000)
    render_report(folder)
    return folder


def test_headline_figures_tie_to_the_parquet_outputs(sample: Path) -> None:
    v = _parse(sample / "report.html").values
    assert Decimal(v["fig-total-maintenance"]) == _dsum(
        _column(sample, "margin_by_account", "maintenance_requirement")
    )
    assert Decimal(v["fig-total-initial"]) == _dsum(
        _column(sample, "margin_by_account", "initial_requirement")
    )
    xm = "xm_active"
    standalone = _dsum(_column(sample, "margin_by_account", "f_sa", xm)) + _dsum(
        _column(sample, "margin_by_account", "c_sa", xm)
    )
    with_xm = _dsum(_column(sample, "margin_by_account", "ficc_xm_im", xm)) + _dsum(
        _column(sample, "margin_by_account", "cme_xm_im", xm)
    )
    assert standalone > with_xm > 0
    assert Decimal(v["fig-xm-savings"]) == standalone - with_xm
    assert Decimal(v["fig-xm-savings-pct"]) == (standalone - with_xm) / standalone
    calls = _column(sample, "margin_calls", "call_amount")
    assert len(calls) > 0
    assert int(v["fig-calls-count"]) == len(calls)
    assert int(v["fig-calls-sum"]) == sum(int(str(c)) for c in calls)


def test_reserve_and_4d_figures_tie_to_their_lines(sample: Path) -> None:
    v = _parse(sample / "report.html").values
    t = pq.read_table(sample / "reserve_computation.parquet").to_pylist()
    amounts = {(r["book"], r["line"]): r["amount"] for r in t}
    for book in ("CUSTOMER", "PAB"):
        key = book.lower()
        assert Decimal(v[f"fig-reserve-requirement-{key}"]) == amounts[book, "reserve_requirement"]
        assert Decimal(v[f"fig-deposit-required-{key}"]) == amounts[book, "deposit_required"]
        assert Decimal(v[f"fig-excess-on-deposit-{key}"]) == amounts[book, "excess_on_deposit"]
        assert Decimal(v[f"fig-on-deposit-{key}"]) == amounts[book, "on_deposit"]
    summary = pq.read_table(sample / "xm_segregation_summary.parquet").to_pylist()[0]
    assert Decimal(v["fig-residual-interest"]) == summary["residual_interest"]
    assert Decimal(v["fig-seg-required"]) == summary["seg_required"]
    assert Decimal(v["fig-funds-held"]) == summary["funds_held"]
    assert v["fig-shortfall"] == str(summary["is_shortfall"]).lower()


def test_tables_show_the_largest_items_first_with_formatted_money(sample: Path) -> None:
    page = _parse(sample / "report.html")
    top = page.tables["table-top-accounts"]
    margin = pq.read_table(sample / "margin_by_account.parquet").to_pylist()
    biggest = max(margin, key=lambda r: r["initial_requirement"])
    assert top[1][0] == biggest["account_id"]
    assert len(top) == 1 + 20
    assert top[1][12] == f"${biggest['initial_requirement']:,.2f}"
    calls = page.tables["table-calls"]
    amounts = [int(row[3].replace("$", "").replace(",", "")) for row in calls[1:]]
    assert amounts == sorted(amounts, reverse=True)
    assert re.fullmatch(r"\$\d{1,3}(,\d{3})*", calls[1][3])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T09:00:00-0[45]:00", calls[1][7])
    customer = page.tables["table-reserve-customer"]
    assert [row[0] for row in customer[1:4]] == ["item_1", "item_2", "item_3"]
    assert len(customer) == 1 + 22


def test_page_is_self_contained_and_has_every_plot(sample: Path) -> None:
    text = (sample / "report.html").read_text(encoding="utf-8")
    page = _parse(sample / "report.html")
    for plot in PLOT_IDS:
        assert page.ids.get(plot) == "svg", plot
    for forbidden in ("http://", "https://", "<script", "src=", "url(", "@import", "<link"):
        assert forbidden not in text, forbidden
    assert all(not a.startswith("//") for a in page.attrs)
    assert page.ids.get("validation-link") == "a"
    # The scatter is sampled: 4,000 accounts, at most 3,000 points.
    scatter = text.split('id="plot-requirement-vs-equity"')[1].split("</svg>")[0]
    assert scatter.count("<circle") == 3000


def test_text_from_the_outputs_is_escaped(sample: Path) -> None:
    text = (sample / "report.html").read_text(encoding="utf-8")
    assert "unknown extra column &lt;note&gt; &amp; &#x27;x&#x27;" in text
    assert "<note>" not in text


def test_rendering_twice_gives_the_same_bytes(sample: Path, tmp_path: Path) -> None:
    first = (sample / "report.html").read_bytes()
    render_report(sample)
    assert (sample / "report.html").read_bytes() == first


def test_missing_table_is_a_missing_input_naming_it(tmp_path: Path) -> None:
    folder = write_sample_folder(tmp_path / "out", n_accounts=50)
    (folder / "margin_calls.parquet").unlink()
    with pytest.raises(MissingInputError, match=r"margin_calls\.parquet") as info:
        render_report(folder)
    assert info.value.exit_code == 3
    assert not (folder / "report.html").exists()


def test_absent_dv01_and_validation_still_render_with_a_note(tmp_path: Path) -> None:
    folder = write_sample_folder(tmp_path / "out", n_accounts=50)
    (folder / "dv01_by_tenor.parquet").unlink()
    (folder / "validation" / "index.html").unlink()
    page = _parse(render_report(folder))
    assert page.ids.get("plot-dv01") == "svg"
    assert "validation-link" not in page.ids
    text = (folder / "report.html").read_text()
    assert "dv01_by_tenor.parquet is absent" in text


def _golden_folder(case: str, dest: Path) -> Path:
    """The hand-worked expected outputs of a golden case, written as published Parquet."""
    dest.mkdir(parents=True)
    expected = GOLDEN / case / "expected"
    for csv in sorted(expected.glob("*.csv")):
        frame = pl.read_csv(csv, try_parse_dates=True, infer_schema_length=0)
        if frame.height:
            frame = frame.with_columns(
                pl.col("business_date").str.to_date(),
                *[
                    pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%S%z")
                    for c in frame.columns
                    if c == "due_by"
                ],
            )
        write_table(_typed(frame, csv.stem), csv.stem, dest)
    return dest


def _typed(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    from pipeline.outputs import TABLES_BY_NAME, Kind

    casts = {
        Kind.MONEY: pl.Float64,
        Kind.FLOAT: pl.Float64,
        Kind.INT: pl.Int64,
        Kind.BOOL: pl.Boolean,
        Kind.DATE: pl.Date,
        Kind.STRING: pl.Utf8,
    }
    out = []
    for name, kind in TABLES_BY_NAME[table].schema.columns:
        col = frame[name] if name in frame.columns else pl.Series(name, [], pl.Utf8)
        if kind is Kind.BOOL and col.dtype == pl.Utf8:
            col = col == "true"
        elif kind in casts and col.dtype != casts[kind]:
            col = col.cast(casts[kind])
        out.append(col)
    return pl.DataFrame(out)


def test_golden_case_xm_savings_by_hand(tmp_path: Path) -> None:
    # tests/golden/01_xm_basis_cap: XM1 standalone 70,000 + 266,000 with XM 14,000 + 53,200;
    # HX1 standalone 70,000 + 133,000 with XM 26,403.51 + 50,166.67.
    folder = _golden_folder("01_xm_basis_cap", tmp_path / "g1")
    v = _parse(render_report(folder)).values
    assert Decimal(v["fig-xm-savings"]) == Decimal("395229.82")
    assert Decimal(v["fig-xm-savings-pct"]) == Decimal("395229.82") / Decimal("539000.00")
    assert Decimal(v["fig-total-maintenance"]) == Decimal("483770.18")
    assert v["fig-calls-count"] == "1"
    assert v["fig-calls-sum"] == "80100"
    assert Decimal(v["fig-residual-interest"]) == Decimal("3000.00")
    assert v["fig-shortfall"] == "false"
    text = (folder / "report.html").read_text()
    assert "$80,100" in text
    assert "$395,229.82" in text


@pytest.mark.slow
def test_200k_accounts_render_fast_and_small(tmp_path: Path) -> None:
    folder = write_sample_folder(tmp_path / "big", n_accounts=200_000, seed=3)
    started = time.perf_counter()
    path = render_report(folder)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"render took {elapsed:.1f}s"
    assert path.stat().st_size < 2_000_000
    v = _parse(path).values
    assert int(v["fig-calls-count"]) == len(_column(folder, "margin_calls", "call_id"))


def test_business_date_is_iso_in_the_title(sample: Path) -> None:
    text = (sample / "report.html").read_text()
    assert f"<title>xmargin — {dt.date(2026, 11, 20).isoformat()}</title>" in text


def test_a_run_without_accounts_renders_placeholders(tmp_path: Path) -> None:
    folder = write_sample_folder(tmp_path / "empty", n_accounts=0)
    page = _parse(render_report(folder))
    assert Decimal(page.values["fig-total-maintenance"]) == 0
    assert page.values["fig-calls-count"] == "0"
    # No XM positions: the percentage is undefined, not 0 %.
    assert page.values["fig-xm-savings-pct"] == ""
    for plot in PLOT_IDS:
        assert page.ids.get(plot) == "svg", plot
    text = (folder / "report.html").read_text()
    assert "no accounts" in text
    assert "—" in text
