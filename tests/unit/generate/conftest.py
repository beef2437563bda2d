"""Fixtures for the generator tests: one small generated set shared by the read-only tests."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from pipeline.generate import generate_inputs, generator

D = dt.date(2026, 11, 20)
N_ACCOUNTS = 1_200
SEED = 11
NS = "{http://www.fixprotocol.org/FIXML-5-0-SP2}"


@pytest.fixture(scope="session")
def business_date() -> dt.date:
    return D


@pytest.fixture(scope="session")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """1,200 accounts in chunks of 500, so the chunk seams (ids, RptIDs) are exercised too."""
    root = tmp_path_factory.mktemp("generated")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(generator, "CHUNK_ACCOUNTS", 500)
        return generate_inputs(root, D, N_ACCOUNTS, SEED, lambda stage, rows: None)


@pytest.fixture(scope="session")
def text(small_set: dict[str, Path]) -> Callable[[str], pl.DataFrame]:
    """A generated CSV read exactly as written: every column a string, nothing inferred."""

    def read(name: str) -> pl.DataFrame:
        return pl.read_csv(small_set[name], infer_schema=False)

    return read


@pytest.fixture(scope="session")
def reports(small_set: dict[str, Path]) -> pl.DataFrame:
    """The FIXML PosRpts parsed with the standard library, one row per report."""
    rows = []
    root = ET.parse(small_set["cme_positions"]).getroot()
    for rpt in root.iter(f"{NS}PosRpt"):
        parties = {p.get("R"): p.get("ID") for p in rpt.findall(f"{NS}Pty")}
        instrument = rpt.find(f"{NS}Instrmt")
        assert instrument is not None
        fin = [q for q in rpt.findall(f"{NS}Qty") if q.get("Typ") == "FIN"]
        sod = [q for q in rpt.findall(f"{NS}Qty") if q.get("Typ") == "SOD"]
        amt = rpt.find(f"{NS}Amt")
        rows.append(
            {
                "rpt_id": rpt.get("RptID"),
                "biz_dt": rpt.get("BizDt"),
                "account_id": parties.get("24"),
                "n_account_parties": sum(1 for p in rpt.findall(f"{NS}Pty") if p.get("R") == "24"),
                "clearing_firm_id": parties.get("4"),
                "contract_id": instrument.get("ID"),
                "product_symbol": instrument.get("Sym"),
                "maturity_month": instrument.get("MMY"),
                "n_fin": len(fin),
                "fin_long": fin[0].get("Long") if fin else None,
                "fin_short": fin[0].get("Short") if fin else None,
                "sod_long": sod[0].get("Long") if sod else None,
                "sod_short": sod[0].get("Short") if sod else None,
                "fmtm": amt.get("Amt") if amt is not None else None,
                "set_px": rpt.get("SetPx"),
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None)
