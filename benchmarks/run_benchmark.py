"""End-to-end benchmark of one large night, with floors and a naive baseline from the same run.

Usage: python benchmarks/run_benchmark.py --accounts 200000 [--work DIR] [--keep] [--floor-only]

1. generates the input set (`xmargin generate`), timed on its own;
2. the input-parse floor, on the same inbox files (issue 13): every CSV read by pyarrow with all
   columns as strings, plus the FIXML parsed by lxml in two processes, each over half the file
   cut at a `<PosRpt`, reports freed as read; measured before and after the run, the lower kept;
3. runs `xmargin run --keep-work` in a child process: wall time per stage (each input's
   validation is a stage of its own) and the child's peak RSS;
4. the margin floor: DuckDB scanning the same staged Parquet columns with one group-by per input;
5. the baseline: a straightforward pandas netting + per-account VaR on a sample, scaled up;
6. what validation keeps besides parsing, measured alone (`validation_floor.py`): hashing every
   input, and GX checking the FICC file's column rules at its own per-rule cost; with the parse
   floor, the margin's DuckDB floor and importing GX, the bound no schedule on these cores beats;
and prints the ratios against the targets of issue 13 (run <= 2.0x and validate <= 1.5x the
input-parse floor, margin <= 1.2x its DuckDB floor, peak RSS <= 4 GiB). Numbers are measured,
never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _child import (  # the benchmarks folder, first on sys.path
    REPO,
    StealMeter,
    add_inbox_arguments,
    generated_inbox,
    machine,
    python_cpu,
    stage_seconds,
    xmargin_measured,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

FIXML_NS = b"http://www.fixprotocol.org/FIXML-5-0-SP2"
_POSRPT = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?PosRpt[\s/>]")
_FEED = 1 << 16
# Issue 13 targets, at 200,000 accounts.
TARGETS = {"run_vs_floor": 2.0, "validate_vs_floor": 1.5, "margin_vs_duckdb": 1.2, "rss_gib": 4.0}


# ---------------------------------------------------------------------------------------------
# The input-parse floor (issue 13): what reading the night's bytes costs, nothing checked.


def _csv_floor_one(path: Path) -> tuple[float, float]:
    """pyarrow reads the CSV with every column a string (the header's names, nothing guessed).

    Wall and CPU seconds (all of this process's threads: pyarrow reads on both cores).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with path.open("rb") as fh:
        names = fh.readline().decode("utf-8-sig").rstrip("\r\n").split(",")
    started, cpu = time.perf_counter(), time.process_time()
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    del table
    return seconds, cpu


def _fixml_floor_part(job: tuple[str, int, int, bytes, bytes]) -> tuple[int, float]:
    """lxml over bytes [start, stop) of the FIXML file, wrapped in the envelope; reports freed.

    Returns the reports counted and the CPU seconds this worker spent on them.
    """
    from lxml import etree

    cpu = time.process_time()
    path, start, stop, head, tail = job
    tag = "{" + FIXML_NS.decode() + "}PosRpt"
    parser = etree.XMLPullParser(
        events=("end",), tag=tag, resolve_entities=False, no_network=True, huge_tree=True
    )
    count = 0

    def drain() -> None:
        nonlocal count
        for _, elem in parser.read_events():
            count += 1
            elem.clear()
            while elem.getprevious() is not None:
                del elem.getparent()[0]

    parser.feed(head)
    with open(path, "rb") as fh:
        fh.seek(start)
        left = stop - start
        while left > 0 and (chunk := fh.read(min(_FEED, left))):
            left -= len(chunk)
            parser.feed(chunk)
            drain()
    parser.feed(tail)
    parser.close()
    drain()
    return count, time.process_time() - cpu


def _fixml_halves(path: Path) -> list[tuple[str, int, int, bytes, bytes]]:
    """Two byte ranges cut at the `<PosRpt` nearest after the middle, each a whole document."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head_bytes = fh.read(1 << 20)
        first = _POSRPT.search(head_bytes)
        assert first is not None, f"{path}: no <PosRpt in the first MiB"
        head = head_bytes[: first.start()]
        fh.seek(size // 2)
        window = fh.read(1 << 20)
        cut = _POSRPT.search(window)
        assert cut is not None, f"{path}: no <PosRpt after the middle"
    middle = size // 2 + cut.start()
    return [
        (str(path), 0, middle, b"", b"</Batch></FIXML>"),
        (str(path), middle, size, head, b""),
    ]


def _fixml_floor(path: Path, pool: Any) -> tuple[float, int, float]:
    """Wall seconds, reports and CPU seconds (both workers) of the two-process parse."""
    jobs = _fixml_halves(path)
    started = time.perf_counter()
    parts = pool.map(_fixml_floor_part, jobs)
    return time.perf_counter() - started, sum(n for n, _ in parts), sum(c for _, c in parts)


def input_parse_floor(inbox: Path) -> dict[str, Any]:
    """The input-parse floor of issue 13 on the inbox files: CSVs by pyarrow, FIXML by lxml."""
    steal = StealMeter()
    csv = {p.name: _csv_floor_one(p) for p in sorted(inbox.glob("*.csv"))}
    csv_s = {name: s for name, (s, _) in csv.items()}
    # Workers started before the clock runs: the floor is parsing, not interpreter start-up.
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(abs, [0, 0])
        fixml = {p.name: _fixml_floor(p, pool) for p in sorted(inbox.glob("*.xml"))}
    fixml_s = {name: s for name, (s, _, _) in fixml.items()}
    cpu_s = sum(c for _, c in csv.values()) + sum(c for _, _, c in fixml.values())
    steal_s = steal.seconds()
    return {
        "csv_s": round(sum(csv_s.values()), 2),
        "fixml_s": round(sum(fixml_s.values()), 2),
        "floor_s": round(sum(csv_s.values()) + sum(fixml_s.values()), 2),
        "per_file_s": {k: round(v, 3) for k, v in {**csv_s, **fixml_s}.items()},
        "fixml_reports": sum(n for _, n, _ in fixml.values()),
        "cpu_s": round(cpu_s, 2),
        # CPU the host took from this guest while the floor was measured (pool start included).
        "steal_s": None if steal_s is None else round(steal_s, 1),
    }


# Hooks for more input figures measured on the same files in the same run (e.g. the FIXML
# reader's own figures, owned by its module): each gets the inbox folder and the floor measured
# above, and returns figures to print under "inputs".
InputFigures = Callable[[Path, dict[str, Any]], dict[str, Any]]


def fixml_floor_of(path: Path) -> float:
    """The two-process lxml floor of one more FIXML file, measured as `input_parse_floor` does."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(abs, [0, 0])
        return _fixml_floor(path, pool)[0]


def fixml_reader_figures(inbox: Path, floor: dict[str, Any]) -> dict[str, Any]:
    """The FIXML reader against its floor, generator's and real-shaped file (fixml_figures)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fixml_figures

    return fixml_figures.reader_figures(inbox, floor, fixml_floor_of)


INPUT_FIGURES: dict[str, InputFigures] = {"fixml_reader": fixml_reader_figures}


def floor_duckdb(staged: Path) -> tuple[float, float]:
    """One DuckDB group-by per staged input over the columns the engine reads: the I/O floor.

    Wall and CPU seconds (DuckDB's threads are this process's).
    """
    import duckdb

    queries = {
        "ficc_positions": "select account_id, cusip, sum(par_amount) from read_parquet(?) "
        "group by all",
        "cme_positions": "select account_id, contract_id, sum(long_qty - short_qty) "
        "from read_parquet(?) group by all",
        "accounts": "select account_class, count(*) from read_parquet(?) group by all",
        "balances": "select debit_unsecured, sum(cash_balance) from read_parquet(?) group by all",
        "treasury_securities": "select security_type, sum(dv01_per_100) from read_parquet(?) "
        "group by all",
        "cme_contracts": "select product_code, sum(dv01_per_contract) from read_parquet(?) "
        "group by all",
        "ficc_var_scenarios": "select count(*), sum(dy_10) from read_parquet(?)",
    }
    con = duckdb.connect()
    con.execute("set threads to 2")
    started, cpu = time.perf_counter(), time.process_time()
    for name, sql in queries.items():
        con.execute(sql, [str(staged / f"{name}.parquet")]).fetchall()
    return time.perf_counter() - started, time.process_time() - cpu


def validation_floor(inbox: Path) -> dict[str, Any]:
    """Hashing and GX's per-rule cost measured alone, in a child (`validation_floor.py`)."""
    child = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("validation_floor.py")), str(inbox)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if child.returncode:
        raise RuntimeError(f"validation_floor.py exited {child.returncode}: {child.stderr}")
    figures: dict[str, Any] = json.loads(child.stdout)
    return figures


def core_bound(figures: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    """What no schedule on this machine's cores can beat, as ratios to the input-parse floor.

    A run cannot take less wall time than its CPU seconds over the cores. `run_cpu` is this
    run's; `kept_costs` the CPU of what the issue's rules keep in any run: parsing every input
    at the floor's own cost, the margin at its DuckDB floor's, and importing Great Expectations,
    before any rule is checked or anything staged or published.
    """
    cores = os.cpu_count() or 1
    kept = floor["cpu_s"] + figures["floor_duckdb_cpu_s"] + figures["gx_import_cpu_s"]
    # Also kept, and measured alone (validation_floor.py): hashing every input's bytes, and GX
    # checking the FICC file's column rules at its own per-rule cost. Validation's share leaves
    # the margin out.
    checks = figures["validation_floor"]
    checked = kept + checks["sha256_cpu_s"] + checks["gx_ficc_rules_cpu_s"]
    validation = checked - figures["floor_duckdb_cpu_s"]
    return {
        "cores": cores,
        "run_cpu_vs_floor": round(figures["run_cpu_s"] / cores / floor["floor_s"], 2),
        "kept_costs_cpu_s": round(kept, 2),
        "kept_costs_vs_floor": round(kept / cores / floor["floor_s"], 2),
        "kept_with_ficc_rules_and_hashes_cpu_s": round(checked, 2),
        "kept_with_ficc_rules_and_hashes_vs_floor": round(checked / cores / floor["floor_s"], 2),
        "validation_kept_vs_floor": round(validation / cores / floor["floor_s"], 2),
    }


def pandas_baseline(staged: Path, sample_accounts: int) -> tuple[float, int, int]:
    """What people would write: pandas merges, groupby-apply per account, a full sort for VaR."""
    import numpy as np
    import pandas as pd

    accounts = pd.read_parquet(staged / "accounts.parquet", columns=["account_id"])
    total = len(accounts)
    chosen = set(accounts["account_id"].iloc[:: max(1, total // sample_accounts)])
    ficc = pd.read_parquet(staged / "ficc_positions.parquet")
    started = time.perf_counter()
    ficc = ficc[ficc["account_id"].isin(chosen)]
    sec = pd.read_parquet(staged / "treasury_securities.parquet")
    scen = pd.read_parquet(staged / "ficc_var_scenarios.parquet")
    dy = scen.drop(columns=["scenario_id"]).to_numpy()
    tenors = np.array([0.25, 0.5, 1, 2, 3, 5, 7, 10, 20, 30])
    net = ficc.groupby(["account_id", "cusip"], as_index=False)["par_amount"].sum()
    net = net[net["par_amount"] != 0].merge(sec, on="cusip")
    day = ficc["business_date"].iloc[0]
    net["t"] = (pd.to_datetime(net["maturity_date"]) - pd.Timestamp(day)).dt.days / 365.25
    net["s"] = net["par_amount"] / 100 * net["dv01_per_100"]

    def var(group: pd.DataFrame) -> float:
        vec = np.zeros(len(tenors))
        for t, s in zip(group["t"], group["s"], strict=True):
            vec += _split(t, s, tenors)
        losses = np.sort(dy @ vec)
        m = int(np.ceil(0.99 * len(losses)))
        return max(0.0, float(losses[m - 1]))

    net.groupby("account_id").apply(var, include_groups=False)
    return time.perf_counter() - started, len(chosen), total


def _split(t: float, s: float, tenors: npt.ArrayLike) -> npt.NDArray[np.float64]:
    import numpy as np

    grid = np.asarray(tenors)
    out = np.zeros(len(grid))
    if t <= grid[0]:
        out[0] = s
    elif t >= grid[-1]:
        out[-1] = s
    else:
        i = int(np.searchsorted(grid, t, side="right") - 1)
        w = (grid[i + 1] - t) / (grid[i + 1] - grid[i])
        out[i], out[i + 1] = w * s, (1 - w) * s
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_inbox_arguments(parser)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--baseline-sample", type=int, default=5_000)
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument(
        "--floor-only",
        action="store_true",
        help="measure the input-parse floor and the input figures only, no run",
    )
    args = parser.parse_args()

    root = args.work.resolve()
    figures: dict[str, object] = {"accounts": args.accounts, "date": args.date}
    inbox, generate_s = generated_inbox(args)
    ymd = inbox.name
    if generate_s is not None:
        figures["generate_s"] = round(generate_s, 1)
    figures["input_bytes"] = sum(p.stat().st_size for p in inbox.iterdir())

    floor_before = input_parse_floor(inbox)
    if args.floor_only:
        figures["input_parse_floor"] = floor_before
        figures["inputs"] = {name: fn(inbox, floor_before) for name, fn in INPUT_FIGURES.items()}
        print(json.dumps(figures, indent=2))
        return 0

    steal = StealMeter()
    started = time.perf_counter()
    run, _, peak_rss, run_cpu = xmargin_measured(
        "--json",
        "run",
        "--date",
        args.date,
        "--data-root",
        str(root),
        "--shards",
        str(args.shards),
        "--keep-work",
    )
    wall = time.perf_counter() - started
    run_steal = steal.seconds()
    if run.returncode:
        print(run.stderr, file=sys.stderr)
        return run.returncode
    result = json.loads(run.stdout.strip().splitlines()[-1])
    stages = stage_seconds(run.stderr)
    per_file = {
        k.removeprefix("validate "): v for k, v in stages.items() if k.startswith("validate ")
    }
    validate_s = sum(per_file.values())
    figures.update(
        run_wall_s=round(wall, 1),
        validate_s=round(validate_s, 2),
        validate_per_file_s=per_file,
        stages_s={k: v for k, v in stages.items() if not k.startswith("validate ")},
        peak_rss_gib=round(peak_rss, 2),
        run_cpu_s=round(run_cpu, 1),
    )
    if run_steal is not None:
        # CPU the host took from this guest during the run, and its share of the cores' time.
        figures["run_steal_s"] = round(run_steal, 1)
        figures["run_steal_share"] = round(run_steal / ((os.cpu_count() or 1) * wall), 3)
    floor_after = input_parse_floor(inbox)
    floor = min(floor_before, floor_after, key=lambda f: f["floor_s"])
    figures["input_parse_floor"] = {
        **floor,
        "floor_s_before_run": floor_before["floor_s"],
        "floor_s_after_run": floor_after["floor_s"],
    }
    figures["inputs"] = {name: fn(inbox, floor) for name, fn in INPUT_FIGURES.items()}

    work = root / "work" / ymd / str(result["run_id"])
    staged = work / "staged"
    duckdb_s, duckdb_cpu = floor_duckdb(staged)
    figures["floor_duckdb_s"] = round(duckdb_s, 2)
    figures["floor_duckdb_cpu_s"] = round(duckdb_cpu, 2)
    figures["gx_import_cpu_s"] = round(python_cpu("import great_expectations"), 2)
    figures["validation_floor"] = validation_floor(inbox)
    base_s, sampled, total = pandas_baseline(staged, args.baseline_sample)
    figures["pandas_sample_accounts"] = sampled
    figures["pandas_scaled_s"] = round(base_s * total / max(sampled, 1), 1)

    margin_s = stages.get("margin", float("nan"))
    floor_s = floor["floor_s"]
    ratios = {
        "run_vs_floor": round(wall / floor_s, 2),
        "validate_vs_floor": round(validate_s / floor_s, 2),
        "margin_vs_duckdb": round(margin_s / figures["floor_duckdb_s"], 2),  # type: ignore[operator]
        "rss_gib": round(peak_rss, 2),
    }
    figures["ratios"] = {
        **ratios,
        "validate_per_file_vs_its_floor": {
            # A tiny file's floor rounds to 0: no ratio for it.
            name: round(seconds / floor["per_file_s"][file], 2)
            if floor["per_file_s"][file]
            else None
            for name, seconds in per_file.items()
            for file in floor["per_file_s"]
            if file.rsplit(".", 1)[0] == f"{name}_{ymd}"
        },
        "pandas_vs_margin": round(figures["pandas_scaled_s"] / margin_s, 1),  # type: ignore[operator]
    }
    figures["targets_issue_13"] = {
        k: {"target": TARGETS[k], "measured": v, "met": v <= TARGETS[k]} for k, v in ratios.items()
    }
    figures["two_core_bound"] = core_bound(figures, floor)
    figures["machine"] = machine()
    print(json.dumps(figures, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
