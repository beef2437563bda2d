"""render_report inside the publisher's staging folder and after a real run (SPEC §7.7, §8)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import load_params
from pipeline.context import RunContext
from pipeline.publish import publish
from pipeline.reports import render_report
from tests.unit.reports.sample_folder import sample_tables

GOLDEN = Path(__file__).parents[2] / "golden"
D = dt.date(2026, 11, 20)


class _Values(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id") and a.get("data-value") is not None:
            self.values[str(a["id"])] = str(a["data-value"])


def _values(path: Path) -> dict[str, str]:
    parser = _Values()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.values


def test_report_is_rendered_in_staging_before_success(tmp_path: Path) -> None:
    ctx = RunContext(
        business_date=D,
        data_root=tmp_path,
        run_id="run-1",
        params=load_params(GOLDEN / "01_xm_basis_cap" / "params.yaml"),
        started_at=dt.datetime(2026, 11, 21, 1, 0, tzinfo=dt.UTC),
    )
    seen: list[bool] = []

    def finish(staging: Path) -> None:
        render_report(staging)
        seen.append((staging / "_SUCCESS").exists())

    tables = sample_tables(300, seed=11)
    totals = {"accounts": 300, "sum_call_amount": 1, "reserve_requirement": {"CUSTOMER": 2.5}}
    out = publish(ctx, tables, [], totals, render_report=finish)
    assert seen == [False]
    report = out / "report.html"
    v = _values(report)
    margin = tables["margin_by_account"]
    # The publisher rounds each value half-even to the cent; the page sums those cents.
    cents = sum(
        (
            Decimal(repr(x)).quantize(Decimal("0.01"), rounding="ROUND_HALF_EVEN")
            for x in margin["maintenance_requirement"].to_list()
        ),
        Decimal(0),
    )
    assert Decimal(v["fig-total-maintenance"]) == cents
    text = report.read_text()
    assert "run-1" in text
    assert "$2.50" in text  # the manifest's control total, as money


def test_a_real_run_publishes_a_report_tied_to_the_golden_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = GOLDEN / "01_xm_basis_cap"
    shutil.copytree(case / "inbox", tmp_path / "inbox")
    args = ["--json", "run", "--date", D.isoformat(), "--data-root", str(tmp_path)]
    code = main([*args, "--params", str(case / "params.yaml")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    payload = json.loads(captured.out)
    report = Path(payload["report"])
    assert report.is_file()
    v = _values(report)
    with open(case / "expected" / "margin_by_account.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert Decimal(v["fig-total-maintenance"]) == sum(
        (Decimal(r["maintenance_requirement"]) for r in rows), Decimal(0)
    )
    assert Decimal(v["fig-xm-savings"]) == sum(
        (
            Decimal(r["f_sa"])
            + Decimal(r["c_sa"])
            - Decimal(r["ficc_xm_im"])
            - Decimal(r["cme_xm_im"])
            for r in rows
            if r["xm_active"] == "true"
        ),
        Decimal(0),
    )
    assert v["fig-calls-sum"] == "80100"
