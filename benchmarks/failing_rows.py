"""Validation of a file that fails a rule on every row, against the same file passing.

`python benchmarks/failing_rows.py [--accounts 200000] [--repeat 2]`

1. generates the input set for D (`xmargin generate`, seed 11) unless `--work` already holds it,
   the inbox `run_benchmark.py` uses;
2. builds a second data root beside it whose FICC file is yesterday's resent under today's name:
   every row's `business_date` is D's previous day, every other byte the same (other inputs are
   hard links to the generated ones);
3. runs `xmargin validate` on the clean and on the failing data root, alternately, `--repeat`
   times each, in a child process (wall time of the FICC stage line, the whole command's wall
   time, CPU seconds and peak RSS);
4. prints the figures and the ratio failing / clean of the FICC stage, as JSON.

A rejected file should cost about what a passing one does: rejecting is reading, checking and
keeping the first 20 failing rows, not work per failing row. Figures are measured, never
asserted; compare ratios from one run only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from _child import (  # the benchmarks folder, first on sys.path
    StealMeter,
    add_inbox_arguments,
    generated_inbox,
    machine,
    stage_seconds,
    xmargin_measured,
)

FICC = "ficc_positions"


def _resend_yesterdays_ficc(source: Path, dest: Path, day: dt.date) -> int:
    """Copy the FICC file with every data row's `business_date` set to the day before `day`.

    Returns the number of rows rewritten; a row not starting with D stops the benchmark (the
    generator's file has `business_date` first on every row).
    """
    today = day.isoformat().encode() + b","
    before = (day - dt.timedelta(days=1)).isoformat().encode() + b","
    rows = 0
    with source.open("rb") as src, dest.open("wb") as out:
        out.write(src.readline())  # the header
        for line in src:
            if not line.startswith(today):
                raise SystemExit(f"{source}: a row without business_date {day}: {line[:60]!r}")
            out.write(before + line[len(today) :])
            rows += 1
    return rows


def _failing_root(clean: Path, day: dt.date) -> tuple[Path, int]:
    """A data root beside `clean`'s (`<work>/failing`) whose inbox is `clean` with the FICC
    file resent from yesterday; returns it and the FICC rows rewritten."""
    failing = clean.parents[1] / "failing"
    if failing.exists():
        shutil.rmtree(failing)
    inbox = failing / "inbox" / clean.name
    inbox.mkdir(parents=True)
    rows = 0
    for path in sorted(clean.iterdir()):
        if path.name.startswith(FICC + "_"):
            rows = _resend_yesterdays_ficc(path, inbox / path.name, day)
        else:
            os.link(path, inbox / path.name)
    return failing, rows


def _validate(root: Path, day: dt.date) -> dict[str, Any]:
    steal = StealMeter()
    done, wall, rss, cpu = xmargin_measured(
        "validate", "--date", day.isoformat(), "--data-root", str(root)
    )
    stages = stage_seconds(done.stderr)
    if f"validate {FICC}" not in stages:
        raise SystemExit(f"xmargin validate on {root} gave no FICC stage line:\n{done.stderr}")
    return {
        "exit": done.returncode,
        "ficc_stage_s": stages[f"validate {FICC}"],
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_gib": round(rss, 2),
        "steal_s": None if (s := steal.seconds()) is None else round(s, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_inbox_arguments(parser)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    root = args.work.resolve()
    day = dt.date.fromisoformat(args.date)
    figures: dict[str, Any] = {"accounts": args.accounts, "date": args.date}
    clean, generate_s = generated_inbox(args)
    if generate_s is not None:
        figures["generate_s"] = round(generate_s, 1)
    failing, rows = _failing_root(clean, day)
    figures["ficc_rows"] = rows

    runs: dict[str, list[dict[str, Any]]] = {"clean": [], "failing": []}
    for i in range(args.repeat):
        for kind, data_root in (("clean", root), ("failing", failing)):
            print(f"[{i + 1}/{args.repeat}] xmargin validate, {kind} FICC file", file=sys.stderr)
            runs[kind].append(_validate(data_root, day))
    if any(r["exit"] != 0 for r in runs["clean"]) or any(r["exit"] != 1 for r in runs["failing"]):
        raise SystemExit(f"unexpected exit codes: {json.dumps(runs)}")
    best = {kind: min(r["ficc_stage_s"] for r in rs) for kind, rs in runs.items()}
    figures.update(
        runs=runs,
        ficc_stage_best_s=best,
        ficc_failing_vs_clean=round(best["failing"] / best["clean"], 2),
        machine=machine(),
    )
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
