"""`xmargin generate`: a realistic, internally consistent input set for D (SPEC §2, §8).

The nine files are written into a hidden temporary folder beside `inbox/YYYYMMDD/` and renamed
into place in one step, so a crash never leaves a half set where a run would find it. Every
random draw comes from a stream keyed by (seed, D, purpose, chunk), so the same seed gives the
same bytes whatever the machine, and accounts are built a fixed-size chunk at a time so memory
stays bounded at any `--accounts`.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.calendar import next_business_day
from pipeline.config import select_params
from pipeline.errors import InvocationError, ParameterError
from pipeline.generate import book
from pipeline.generate import curve as cv
from pipeline.generate.products import ALL_CODES
from pipeline.generate.scenarios import DEFAULT_TENORS, N_SCENARIOS, var_scenarios
from pipeline.generate.universe import futures_contracts, treasury_universe
from pipeline.generate.writers import CsvAppender, FixmlWriter, fixed
from pipeline.inputs import INPUTS, inbox_dir, input_paths
from pipeline.reserve.exhibit_a import ITEMS

Progress = Callable[[str, int], None]
CHUNK_ACCOUNTS = 10_000

# Stream numbers of the random generators: one purpose each, so adding draws to one file's
# generator never changes the bytes of another file.
_CURVE, _SECURITIES, _CONTRACTS, _SCENARIOS, _POOLS, _RESERVE, _CHUNKS = range(7)

_SECURITY_COLUMNS = (
    "cusip",
    "security_type",
    "coupon_rate",
    "issue_date",
    "maturity_date",
    "clean_price",
    "accrued_interest",
    "dv01_per_100",
)
_CONTRACT_COLUMNS = (
    "contract_id",
    "product_code",
    "maturity_month",
    "settlement_price",
    "dv01_per_contract",
    "risk_tenor_years",
)
# The Exhibit A items other books supply, by side (SPEC §2.8).
_CREDIT_ITEMS = np.array([i.number for i in ITEMS if i.supplied and i.side == "credit"])
_DEBIT_ITEMS = np.array([i.number for i in ITEMS if i.supplied and i.side == "debit"])


def _rng(seed: int, business_date: dt.date, stream: int, part: int = 0) -> np.random.Generator:
    entropy = [seed % (1 << 64), business_date.toordinal(), stream, part]
    return np.random.default_rng(np.random.SeedSequence(entropy))


@dataclass(frozen=True)
class _InForce:
    """What the parameters in force on D decide about the inputs (SPEC §2.4, §2.7, §2.10)."""

    tenors: tuple[float, ...]
    n_scenarios: int
    products: tuple[str, ...]


def _in_force(data_root: Path, business_date: dt.date) -> _InForce:
    """Key-rate tenors, scenario count and CME products of the parameters in force on D."""
    try:
        params = select_params(business_date, data_root)
    except ParameterError:
        # No parameter file in force on D (e.g. a date before the shipped default): the run will
        # refuse on its own; the inputs still follow the SPEC §2.7 default columns.
        return _InForce(DEFAULT_TENORS, N_SCENARIOS, ALL_CODES)
    return _InForce(
        params.key_rate_tenors,
        max(N_SCENARIOS, params.ficc.min_scenarios),
        params.cme.product_codes,
    )


def _settlement_dates(business_date: dt.date) -> tuple[dt.date, ...]:
    """D and the next business days: the settlement dates of pending FICC trades (≥ D)."""
    days = [business_date]
    while len(days) < book.SETTLEMENT_DAYS:
        days.append(next_business_day(days[-1]))
    return tuple(days)


def generate_inputs(
    data_root: Path,
    business_date: dt.date,
    n_accounts: int,
    seed: int,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Write the nine SPEC §2 input files of D into `inbox/YYYYMMDD/`; returns them by name.

    Refuses (InvocationError, exit 2) to replace an existing non-empty inbox for D unless its
    files are byte-identical to the set generated now (a rerun with the same seed succeeds).
    """
    if n_accounts < 1:
        raise InvocationError(f"--accounts: expected at least 1 account, found {n_accounts}")
    target = inbox_dir(data_root, business_date)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{business_date:%Y%m%d}.tmp-", dir=target.parent))
    try:
        _write_set(tmp, data_root, business_date, n_accounts, seed, progress or _quiet)
        _install(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return input_paths(data_root, business_date)


def _quiet(stage: str, rows: int) -> None:
    return None


def _install(tmp: Path, target: Path) -> None:
    """Move the finished set into place in one rename (or accept an identical existing set)."""
    if target.exists() and any(target.iterdir()):
        names = sorted(p.name for p in tmp.iterdir())
        existing = sorted(p.name for p in target.iterdir())
        same = names == existing and all(
            filecmp.cmp(tmp / name, target / name, shallow=False) for name in names
        )
        if same:
            return
        raise InvocationError(
            f"{target}: already holds an input set that differs from the one generated "
            f"(found {len(existing)} file(s)); expected an empty or absent folder. Inputs are "
            "never overwritten: remove it or use another --data-root"
        )
    # mkdtemp makes the folder private; an inbox is read by the run's other users and tasks.
    tmp.chmod(0o755)
    if target.exists():
        target.rmdir()
    try:
        os.rename(tmp, target)
    except OSError as exc:
        raise InvocationError(
            f"{target}: cannot move the generated set into place ({exc})"
        ) from exc


def _write_set(
    folder: Path,
    data_root: Path,
    business_date: dt.date,
    n_accounts: int,
    seed: int,
    progress: Progress,
) -> None:
    """All nine files of D into `folder` (SPEC §2), masters first, then accounts chunk by chunk."""
    names = {spec.name: folder / spec.filename(business_date) for spec in INPUTS}

    def write_whole(name: str, columns: tuple[str, ...], frame: pl.DataFrame) -> None:
        """A file written from one frame."""
        with CsvAppender(names[name], columns) as out:
            out.write(frame)
        progress(name, frame.height)

    curve = cv.curve_for(_rng(seed, business_date, _CURVE))
    securities = treasury_universe(business_date, curve, _rng(seed, business_date, _SECURITIES))
    write_whole(
        "treasury_securities",
        _SECURITY_COLUMNS,
        securities.select(_SECURITY_COLUMNS).with_columns(
            coupon_rate=fixed("coupon_rate", 3),
            clean_price=fixed("clean_price", 6),
            accrued_interest=fixed("accrued_interest", 6),
            dv01_per_100=fixed("dv01_per_100", 6),
        ),
    )
    in_force = _in_force(data_root, business_date)
    contracts = futures_contracts(
        business_date, curve, _rng(seed, business_date, _CONTRACTS), in_force.products
    )
    write_whole(
        "cme_contracts",
        _CONTRACT_COLUMNS,
        contracts.select(_CONTRACT_COLUMNS).with_columns(
            settlement_price=fixed("settlement_price", 6),
            dv01_per_contract=fixed("dv01_per_contract", 2),
            risk_tenor_years=fixed("risk_tenor_years", 4),
        ),
    )
    scenarios = var_scenarios(
        _rng(seed, business_date, _SCENARIOS), in_force.tenors, in_force.n_scenarios
    )
    dy_columns = [c for c in scenarios.columns if c != "scenario_id"]
    write_whole(
        "ficc_var_scenarios",
        tuple(scenarios.columns),
        scenarios.with_columns(fixed(c, 4).alias(c) for c in dy_columns),
    )

    universe = book.build_universe(
        business_date,
        n_accounts,
        securities,
        contracts,
        _settlement_dates(business_date),
        _rng(seed, business_date, _POOLS),
    )
    totals: dict[str, float] = {}
    with (
        CsvAppender(names["accounts"], book.ACCOUNT_COLUMNS) as accounts,
        CsvAppender(names["ficc_positions"], book.FICC_COLUMNS) as ficc,
        CsvAppender(names["balances"], book.BALANCE_COLUMNS) as balances,
        FixmlWriter(names["cme_positions"]) as cme,
    ):
        for part, first in enumerate(range(0, n_accounts, CHUNK_ACCOUNTS)):
            size = min(CHUNK_ACCOUNTS, n_accounts - first)
            rng = _rng(seed, business_date, _CHUNKS, part)
            chunk = book.build_chunk(universe, first, size, cme.rows + 1, rng)
            accounts.write(chunk.accounts.select(book.ACCOUNT_COLUMNS))
            ficc.write(chunk.ficc_positions.select(book.FICC_COLUMNS))
            balances.write(chunk.balances.select(book.BALANCE_COLUMNS))
            cme.write(chunk.cme_reports)
            for key, value in chunk.reserve_totals.items():
                totals[key] = totals.get(key, 0.0) + value
    progress("accounts", accounts.rows)
    progress("ficc_positions", ficc.rows)
    progress("cme_positions", cme.rows)
    progress("balances", balances.rows)

    items, bank = _reserve(totals, n_accounts, _rng(seed, business_date, _RESERVE))
    write_whole("reserve_items", ("book", "item", "amount"), items)
    write_whole("reserve_bank", ("book", "on_deposit"), bank)


def _reserve(
    totals: dict[str, float], n_accounts: int, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Items from other books (SPEC §2.8) and deposits (§2.9) sized on the generated balances."""
    books, items, amounts = [], [], []
    deposits: dict[str, float] = {}
    for book_name, n_credit, n_debit in (("CUSTOMER", 4, 3), ("PAB", 1, 1)):
        credit = np.sort(rng.choice(_CREDIT_ITEMS, n_credit, replace=False))
        debit = np.sort(rng.choice(_DEBIT_ITEMS, n_debit, replace=False))
        chosen = np.concatenate([credit, debit])
        amount = np.round(n_accounts * rng.uniform(20.0, 800.0, len(chosen)), 2)
        books += [book_name] * len(chosen)
        items += chosen.tolist()
        amounts += amount.tolist()
        credits = totals.get(f"{book_name}_credits", 0.0) + amount[:n_credit].sum()
        debits = totals.get(f"{book_name}_debits", 0.0) + amount[n_credit:].sum()
        # Firms keep a cushion in the reserve bank account; now and then it falls short.
        need = max(0.0, credits - 0.98 * debits)
        deposits[book_name] = need * float(rng.uniform(0.95, 1.3))
    seg = totals.get("XM_seg", 0.0)
    deposits["XM_4D"] = seg * float(rng.uniform(1.0, 1.08)) if seg > 0 else 0.0
    item_frame = pl.DataFrame(
        {"book": books, "item": items, "amount": amounts},
        schema={"book": pl.Utf8, "item": pl.Int64, "amount": pl.Float64},
    ).with_columns(amount=fixed("amount", 2))
    bank = pl.DataFrame(
        {"book": list(deposits), "on_deposit": list(deposits.values())}
    ).with_columns(on_deposit=fixed("on_deposit", 2))
    return item_frame, bank
