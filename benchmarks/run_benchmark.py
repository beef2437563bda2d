"""End-to-end benchmark of one large night, with a floor and a naive baseline from the same run.

Usage: python benchmarks/run_benchmark.py --accounts 200000 [--work DIR] [--keep]

1. generates the input set (`xmargin generate`), timed on its own;
2. runs `xmargin run --keep-work` in a child process: wall time per stage and peak RSS;
3. the floor: DuckDB scanning the same staged Parquet columns with one group-by per input;
4. the baseline: a straightforward pandas netting + per-account VaR on a sample, scaled up;
and prints the ratios against the targets of issue 3 (run <= 120 s, RSS <= 8 GiB, margin <= 4x
the floor). Numbers are measured, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGE_LINE = re.compile(r"✓ (\w+) in ([0-9.]+)s")


def _child_peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / (1024 * 1024)


def _xmargin(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pipeline", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)


def floor_duckdb(staged: Path) -> float:
    """One DuckDB group-by per staged input over the columns the engine reads: the I/O floor."""
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
    started = time.perf_counter()
    for name, sql in queries.items():
        con.execute(sql, [str(staged / f"{name}.parquet")]).fetchall()
    return time.perf_counter() - started


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


def _split(t: float, s: float, tenors: object) -> object:
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
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--date", default="2026-11-20")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "_work")
    parser.add_argument("--baseline-sample", type=int, default=5_000)
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    args = parser.parse_args()

    root = args.work.resolve()
    ymd = args.date.replace("-", "")
    figures: dict[str, object] = {"accounts": args.accounts, "date": args.date}

    if not (root / "inbox" / ymd).is_dir():
        started = time.perf_counter()
        gen = _xmargin(
            "--quiet",
            "generate",
            "--date",
            args.date,
            "--accounts",
            str(args.accounts),
            "--seed",
            str(args.seed),
            "--data-root",
            str(root),
        )
        if gen.returncode:
            print(gen.stderr, file=sys.stderr)
            return gen.returncode
        figures["generate_s"] = round(time.perf_counter() - started, 1)
    inbox = root / "inbox" / ymd
    figures["input_bytes"] = sum(p.stat().st_size for p in inbox.iterdir())

    started = time.perf_counter()
    run = _xmargin(
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
    if run.returncode:
        print(run.stderr, file=sys.stderr)
        return run.returncode
    result = json.loads(run.stdout.strip().splitlines()[-1])
    stages = {m.group(1): float(m.group(2)) for m in STAGE_LINE.finditer(run.stderr)}
    figures.update(
        run_wall_s=round(wall, 1), stages_s=stages, peak_rss_gib=round(_child_peak_rss_gib(), 2)
    )

    work = root / "work" / ymd / str(result["run_id"])
    staged = work / "staged"
    figures["floor_duckdb_s"] = round(floor_duckdb(staged), 2)
    base_s, sampled, total = pandas_baseline(staged, args.baseline_sample)
    figures["pandas_sample_accounts"] = sampled
    figures["pandas_scaled_s"] = round(base_s * total / max(sampled, 1), 1)

    margin_s = stages.get("margin", float("nan"))
    figures["ratios"] = {
        "margin_vs_floor": round(margin_s / figures["floor_duckdb_s"], 2),  # type: ignore[operator]
        "pandas_vs_margin": round(figures["pandas_scaled_s"] / margin_s, 1),  # type: ignore[operator]
        "run_vs_target_120s": round(wall / 120, 2),
        "rss_vs_target_8gib": round(figures["peak_rss_gib"] / 8, 2),  # type: ignore[operator]
    }
    figures["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    print(json.dumps(figures, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
