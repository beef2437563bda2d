"""The §10 tables from hand-built published folders, values worked by hand (SPEC §10.1-§10.9).

November 2026 on the SIFMA calendar: Wed 11 (Veterans Day) and Thu 26 (Thanksgiving) are
closed, Fri 27 is an early close (a business day); 14-15, 21-22 are weekends.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import polars as pl
from history_builders import Account, publish_day, requirement

from pipeline.history import run_history

NOV = {d: dt.date(2026, 11, d) for d in range(1, 31)}


def _pack(root: Path, start: dt.date, end: dt.date, **kw: object) -> dict[str, pl.DataFrame]:
    result = run_history(start, end, root, **kw)  # type: ignore[arg-type]
    folder = result.output_dir
    return {p.stem: pl.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def _rows(frame: pl.DataFrame, *columns: str) -> list[tuple[object, ...]]:
    return list(frame.select(columns).iter_rows())


def test_call_chains_cross_d1_skip_holidays_break_on_unpublished_and_ignore_saturday(
    tmp_path: Path,
) -> None:
    """Window 2026-11-16 .. 2026-11-23 (business: 16 17 18 19 20 23; 19 is not published).

    Published: 09 10 12 13 16 17 18 20 23, and a forced run of Saturday 21.
    - D is called on 09 10 12 13 16 17 18: Veterans Day (11) is no business day, so it does not
      break the chain, which reaches back before D1 to 09: 16 -> 5 days (3-5), 17 -> 6 (6+),
      18 -> 7 (6+); first_call_date 09.
    - A is called on 10 12 13 16 17, not on 09 nor 18: 16 -> 4 since 10, 17 -> 5 since 10.
    - B is called on 17 18, then 20 (19 unpublished ends the chain), Saturday 21 (ignored) and 23:
      17 -> 1, 18 -> 2, 20 -> 1 since 20, 23 -> 2 since 20 (3 if Saturday counted).
    - C is called only in the Saturday folder: no row.
    call_summary, one row per published window date (16 17 18 20 23):
      16: A 104 + D 7 = 2 calls $111, buckets 3-5: 2
      17: A 105, B 50, D 7 = 3 calls $162; 1: B; 3-5: A; 6+: D
      18: B 51 + D 7 = 2 calls $58; 2: B; 6+: D
      20: B 52 = 1 call $52; 1: B          23: B 53 = 1 call; 2: B
    history_exceptions: CALL_AGED for every row with >= 3 days (A 16, A 17, D 16, D 17, D 18),
    MISSING_DATE 19, NON_BUSINESS_DATE 21.
    """
    calls: dict[int, dict[str, int]] = {
        9: {"D": 7},
        10: {"A": 100, "D": 7},
        12: {"A": 102, "D": 7},
        13: {"A": 103, "D": 7},
        16: {"A": 104, "D": 7},
        17: {"A": 105, "B": 50, "D": 7},
        18: {"B": 51, "D": 7},
        20: {"B": 52},
        21: {"B": 99, "C": 99},
        23: {"B": 53},
    }
    for day, called in calls.items():
        publish_day(tmp_path, NOV[day], calls=called)
    pack = _pack(tmp_path, NOV[16], NOV[23])

    history = pack["call_history"]
    assert _rows(
        history, "business_date", "account_id", "consecutive_days", "first_call_date", "age_bucket"
    ) == [
        (NOV[16], "A", 4, NOV[10], "3-5"),
        (NOV[16], "D", 5, NOV[9], "3-5"),
        (NOV[17], "A", 5, NOV[10], "3-5"),
        (NOV[17], "B", 1, NOV[17], "1"),
        (NOV[17], "D", 6, NOV[9], "6+"),
        (NOV[18], "B", 2, NOV[17], "2"),
        (NOV[18], "D", 7, NOV[9], "6+"),
        (NOV[20], "B", 1, NOV[20], "1"),
        (NOV[23], "B", 2, NOV[20], "2"),
    ]
    assert history["call_id"].to_list()[:2] == ["20261116-A", "20261116-D"]
    assert history["call_amount"].to_list()[0] == Decimal("104.00")
    assert history.schema["call_amount"] == pl.Decimal(20, 2)

    summary = pack["call_summary"]
    assert _rows(
        summary, "business_date", "calls", "calls_1", "calls_2", "calls_3_5", "calls_6_plus"
    ) == [
        (NOV[16], 2, 0, 0, 2, 0),
        (NOV[17], 3, 1, 0, 1, 1),
        (NOV[18], 2, 0, 1, 0, 1),
        (NOV[20], 1, 1, 0, 0, 0),
        (NOV[23], 1, 0, 1, 0, 0),
    ]
    assert summary["call_amount"].to_list() == [
        Decimal("111.00"),
        Decimal("162.00"),
        Decimal("58.00"),
        Decimal("52.00"),
        Decimal("53.00"),
    ]

    exceptions = pack["history_exceptions"]
    assert _rows(exceptions, "kind", "business_date", "book", "account_id") == [
        ("CALL_AGED", NOV[16], None, "A"),
        ("CALL_AGED", NOV[16], None, "D"),
        ("CALL_AGED", NOV[17], None, "A"),
        ("CALL_AGED", NOV[17], None, "D"),
        ("CALL_AGED", NOV[18], None, "D"),
        ("MISSING_DATE", NOV[19], None, None),
        ("NON_BUSINESS_DATE", NOV[21], None, None),
    ]
    assert "since 2026-11-09" in exceptions["detail"][1]


def test_document_exceptions_chain_and_outstanding_from_five_days(tmp_path: Path) -> None:
    """Account X lacks documents on 12 13 16 17 18 (Veterans Day 11 is closed), Y on 17 only.

    Window 16 .. 20 (19 not published): X 16 -> 3 since 12, 17 -> 4, 18 -> 5 (outstanding),
    20 -> 1 since 20 (the unpublished 19 ends the chain). Y 17 -> 1. CALL_BELOW_MINIMUM rows of
    the exceptions table are no document exceptions. DOCUMENTS_OUTSTANDING: X on 18 only.
    """
    docs = {12: ["X"], 13: ["X"], 16: ["X"], 17: ["X", "Y"], 18: ["X"], 20: ["X"]}
    for day, accounts in docs.items():
        publish_day(tmp_path, NOV[day], documents=accounts)
    pack = _pack(tmp_path, NOV[16], NOV[20])
    assert _rows(
        pack["document_exceptions"], "business_date", "account_id", "consecutive_days", "first_date"
    ) == [
        (NOV[16], "X", 3, NOV[12]),
        (NOV[17], "X", 4, NOV[12]),
        (NOV[17], "Y", 1, NOV[17]),
        (NOV[18], "X", 5, NOV[12]),
        (NOV[20], "X", 1, NOV[20]),
    ]
    outstanding = pack["history_exceptions"].filter(pl.col("kind") == "DOCUMENTS_OUTSTANDING")
    assert _rows(outstanding, "business_date", "account_id") == [(NOV[18], "X")]


def test_reserve_history_and_deposit_compliance_with_shortfall_and_next_date_missing(
    tmp_path: Path,
) -> None:
    """CUSTOMER (requirement, on deposit) per published date; PAB (5.00, 5.00) every day.

    16: (1000.00, 800.00)  17: (1200.00, 1000.00)  18: (1500.00, 1199.99)  19: not published
    20: (900.00, 100.00)   23 (after D2 = 20, read only for its deposit): (10.00, 900.00)
    deposit_compliance (requirement of D against on deposit at the next business date's close):
      16 -> 17: 1000.00 - 1000.00 = 0        OK        (exactly covered)
      17 -> 18: 1200.00 - 1199.99 = 0.01     SHORTFALL
      18 -> 19: not published                NEXT_DATE_MISSING, on_deposit_next and shortfall null
      20 -> 23: 900.00 - 900.00 = 0          OK        (the next date lies after D2)
    PAB: 5.00 against 5.00, OK, except 18 -> 19 NEXT_DATE_MISSING.
    """
    figures = {16: (1000, 800), 17: (1200, 1000), 18: (1500, 1199.99), 20: (900, 100)}
    figures[23] = (10, 900)
    for day, customer in figures.items():
        publish_day(tmp_path, NOV[day], reserve=requirement(customer, (5, 5)))
    pack = _pack(tmp_path, NOV[16], NOV[20])

    reserve = pack["reserve_history"]
    assert _rows(reserve, "business_date", "book") == [
        (NOV[d], book) for d in (16, 17, 18, 20) for book in ("CUSTOMER", "PAB")
    ]
    assert reserve["on_deposit"].to_list()[4] == Decimal("1199.99")
    assert reserve.schema["reserve_requirement"] == pl.Decimal(20, 2)

    deposits = pack["deposit_compliance"]
    customer = deposits.filter(pl.col("book") == "CUSTOMER")
    assert _rows(
        customer,
        "business_date",
        "reserve_requirement",
        "next_business_date",
        "on_deposit_next",
        "shortfall",
        "status",
    ) == [
        (NOV[16], Decimal("1000.00"), NOV[17], Decimal("1000.00"), Decimal("0.00"), "OK"),
        (NOV[17], Decimal("1200.00"), NOV[18], Decimal("1199.99"), Decimal("0.01"), "SHORTFALL"),
        (NOV[18], Decimal("1500.00"), NOV[19], None, None, "NEXT_DATE_MISSING"),
        (NOV[20], Decimal("900.00"), NOV[23], Decimal("900.00"), Decimal("0.00"), "OK"),
    ]
    pab = deposits.filter(pl.col("book") == "PAB")
    assert pab["status"].to_list() == ["OK", "OK", "NEXT_DATE_MISSING", "OK"]

    exceptions = pack["history_exceptions"]
    assert _rows(exceptions, "kind", "business_date", "book") == [
        ("DEPOSIT_SHORTFALL", NOV[17], "CUSTOMER"),
        ("MISSING_DATE", NOV[19], None),
    ]
    assert "1200.00" in exceptions["detail"][0] and "0.01" in exceptions["detail"][0]


def test_next_business_date_after_d2_unpublished_is_missing(tmp_path: Path) -> None:
    """D2 = Wed 25: the next business date is Fri 27 (Thanksgiving 26 closed), not published."""
    publish_day(tmp_path, NOV[25], reserve=requirement((10, 10)))
    publish_day(tmp_path, NOV[26], reserve=requirement((0, 99)))  # forced run of a holiday
    deposits = _pack(tmp_path, NOV[25], NOV[25])["deposit_compliance"]
    assert _rows(deposits, "next_business_date", "status") == [
        (NOV[27], "NEXT_DATE_MISSING"),
        (NOV[27], "NEXT_DATE_MISSING"),
    ]


def test_xm_savings_history_exact_sums_and_percentage(tmp_path: Path) -> None:
    """16: XM1 (f_sa 1000.00, c_sa 500.00, ficc_xm_im 600.00, cme_xm_im 300.00), XM2 (0.10, 0.20,
    0.05, 0.05), N1 not XM-active (f_sa 999.00 is not counted; maintenance 100.00, initial
    110.00, called 7).
    standalone = 1500.00 + 0.30 = 1500.30, applied = 900.00 + 0.10 = 900.10, savings 600.20,
    savings_pct = 100 * 600.20 / 1500.30 = 6002000/150030 (the float64 nearest that fraction);
    maintenance 100.00, initial 110.00, call_amount 7.00 (sums over all rows).
    17: only N1, so standalone 0: savings_pct null.
    """
    xm1 = Account(
        "XM1",
        True,
        money={"f_sa": 1000, "c_sa": 500, "ficc_xm_im": 600, "cme_xm_im": 300},
    )
    xm2 = Account(
        "XM2", True, money={"f_sa": 0.1, "c_sa": 0.2, "ficc_xm_im": 0.05, "cme_xm_im": 0.05}
    )
    n1 = Account(
        "N1",
        money={"f_sa": 999, "maintenance_requirement": 100, "initial_requirement": 110},
        call_amount=7,
    )
    publish_day(tmp_path, NOV[16], accounts=[xm1, xm2, n1], calls={"N1": 7})
    publish_day(tmp_path, NOV[17], accounts=[n1])
    xm = _pack(tmp_path, NOV[16], NOV[17])["xm_savings_history"]
    first, second = xm.row(0, named=True), xm.row(1, named=True)
    assert (first["accounts"], first["xm_active_accounts"]) == (3, 2)
    assert first["standalone"] == Decimal("1500.30")
    assert first["applied"] == Decimal("900.10")
    assert first["savings"] == Decimal("600.20")
    assert first["savings_pct"] == float(Fraction(6002000, 150030))
    assert first["maintenance_requirement"] == Decimal("100.00")
    assert first["initial_requirement"] == Decimal("110.00")
    assert first["call_amount"] == Decimal("7.00")
    assert (second["accounts"], second["xm_active_accounts"]) == (1, 0)
    assert second["standalone"] == Decimal("0.00") and second["savings_pct"] is None
    assert xm.schema["savings_pct"] == pl.Float64


def test_segregation_history_and_seg_shortfall(tmp_path: Path) -> None:
    """16: seg_required 100.00, funds held 99.99 -> residual -0.01, a shortfall; 17: 50 / 80."""
    publish_day(tmp_path, NOV[16], seg=(100.0, 99.99))
    publish_day(tmp_path, NOV[17], seg=(50.0, 80.0))
    pack = _pack(tmp_path, NOV[16], NOV[17])
    assert _rows(
        pack["segregation_history"], "business_date", "residual_interest", "is_shortfall"
    ) == [
        (NOV[16], Decimal("-0.01"), True),
        (NOV[17], Decimal("30.00"), False),
    ]
    assert _rows(pack["history_exceptions"], "kind", "business_date") == [
        ("SEG_SHORTFALL", NOV[16])
    ]


def test_run_lineage_comes_from_each_manifest(tmp_path: Path) -> None:
    """One row per published window date: its run id, parameters, finish time (UTC) and the
    sha256 of its manifest.json bytes; a date only read for its deposit (23) is not a row."""
    import hashlib
    import json

    links = {d: publish_day(tmp_path, NOV[d], run_id=f"night-{d}") for d in (19, 20, 23)}
    pack = _pack(tmp_path, NOV[19], NOV[20])
    lineage = pack["run_lineage"]
    assert lineage["business_date"].to_list() == [NOV[19], NOV[20]]
    for row in lineage.iter_rows(named=True):
        day = row["business_date"].day
        raw = (links[day] / "manifest.json").read_bytes()
        manifest = json.loads(raw)
        assert row["run_id"] == f"night-{day}"
        assert row["manifest_sha256"] == hashlib.sha256(raw).hexdigest()
        assert row["params_version"] == manifest["params"]["version"]
        assert row["params_sha256"] == manifest["params"]["sha256"]
        assert row["finished_at"] == dt.datetime.fromisoformat(manifest["finished_at"])
    assert lineage.schema["finished_at"] == pl.Datetime("us", "UTC")


def test_history_exceptions_sorted_by_kind_date_book_account_nulls_first(tmp_path: Path) -> None:
    """Several kinds at once, in SPEC §10.9 order: kind alphabetically, then date, book and
    account with nulls first. 16: PAB and CUSTOMER both short next day, seg shortfall;
    19 not published; accounts Z and A aged on 18 (called 16 17 18)."""
    short = requirement((10, 0), (10, 0))
    publish_day(tmp_path, NOV[16], reserve=short, seg=(1, 0), calls={"Z": 1, "A": 1})
    publish_day(tmp_path, NOV[17], calls={"Z": 1, "A": 1})
    publish_day(tmp_path, NOV[18], calls={"Z": 1, "A": 1})
    publish_day(tmp_path, NOV[20])
    exceptions = _pack(tmp_path, NOV[16], NOV[20])["history_exceptions"]
    assert _rows(exceptions, "kind", "business_date", "book", "account_id") == [
        ("CALL_AGED", NOV[18], None, "A"),
        ("CALL_AGED", NOV[18], None, "Z"),
        ("DEPOSIT_SHORTFALL", NOV[16], "CUSTOMER", None),
        ("DEPOSIT_SHORTFALL", NOV[16], "PAB", None),
        ("MISSING_DATE", NOV[19], None, None),
        ("SEG_SHORTFALL", NOV[16], None, None),
    ]
