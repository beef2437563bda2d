"""What validation must spend besides parsing, at the cost of the components the rules keep.

Usage: python benchmarks/validation_floor.py INBOX   (prints JSON; run_benchmark.py calls it)

Issue 13 keeps Great Expectations on every row and the sha256 of every input (SPEC §3, §7).
This measures, in this one process:

- `sha256_cpu_s`: hashing every input file's bytes with hashlib (1 MiB reads), nothing else;
- `gx_rule_cpu_s`: one GX expectation of each kind the FICC contract uses, on a frame of the
  FICC file's row count, through `gx_runtime.run_suite` as validation calls it, the CPU seconds
  of the fastest of three:
  a pass column in `[True]` (Arrow booleans), not-null and value lengths (Arrow strings), a range
  (NumPy int64); every row passes, so no failing-row lookup is counted;
- `gx_ficc_rules_cpu_s`: those costs times the FICC contract's column rules of each kind (header
  and row-count rules counted at nothing), i.e. GX's own cost of checking that one file's rules,
  before any pass column is computed or anything staged.

All three are lower bounds for `xmargin validate`: other files' rules, the pass columns and the
staged copies come on top.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

_READ = 1 << 20
# The expectation kinds measured; any other column rule is counted at the cheapest (not-null).
_KINDS = {
    "ExpectColumnValuesToBeInSet": "in_set",
    "ExpectColumnValuesToNotBeNull": "not_null",
    "ExpectColumnValueLengthsToBeBetween": "lengths",
    "ExpectColumnValuesToBeBetween": "between",
}


def sha256_cpu(inbox: Path) -> tuple[float, int]:
    """CPU seconds of hashing every file in `inbox`, and the bytes hashed."""
    started, hashed = time.process_time(), 0
    for path in sorted(inbox.iterdir()):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(_READ):
                digest.update(chunk)
                hashed += len(chunk)
    return time.process_time() - started, hashed


def _data_rows(path: Path) -> int:
    lines, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(_READ):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n") - 1  # the header is not a row


def ficc_column_rules(inbox: Path) -> Counter[str]:
    """The FICC contract's column rules by measured kind (references compiled, not skipped)."""
    import polars as pl

    from pipeline.contracts.compiler import CompileEnv, compile_contract
    from pipeline.contracts.odcs import load_contract

    path = next(inbox.glob("ficc_positions_*.csv"))
    with path.open("rb") as fh:
        header = fh.readline().decode("utf-8-sig").rstrip("\r\n").split(",")
    compiled = compile_contract(
        load_contract("ficc_positions"),
        CompileEnv(
            dt.date(2000, 1, 3),
            {name: pl.String() for name in header},
            lambda table, column: pl.Series(column, [], dtype=pl.String),
        ),
    )
    kinds: Counter[str] = Counter()
    for rule in compiled.rules:
        if rule.gx_columns and rule.subject is None:
            kinds[_KINDS.get(type(rule.expectation).__name__, "not_null")] += 1
    return kinds


def gx_rule_cpu(rows: int) -> dict[str, float]:
    """CPU seconds of one GX expectation per kind on `rows` passing rows (fastest of three)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.contracts import gx_runtime

    gx, gxe = gx_runtime.gx(), gx_runtime.expectations()
    index = pd.RangeIndex(2, rows + 2)
    ids = pc.binary_join_element_wise(
        "AC", pc.cast(pa.array(np.arange(rows) % 200_000), pa.string()), ""
    )
    frames = {
        "in_set": pd.DataFrame(
            {"c": pd.arrays.ArrowExtensionArray(pa.chunked_array([pa.array(np.ones(rows, bool))]))},
            index=index,
        ),
        "not_null": pd.DataFrame({"c": pd.arrays.ArrowExtensionArray(ids)}, index=index),
        "between": pd.DataFrame({"c": np.arange(rows, dtype=np.int64)}, index=index),
    }
    frames["lengths"] = frames["not_null"]
    make = {
        "in_set": lambda: gxe.ExpectColumnValuesToBeInSet(column="c", value_set=[True]),
        "not_null": lambda: gxe.ExpectColumnValuesToNotBeNull(column="c"),
        "lengths": lambda: gxe.ExpectColumnValueLengthsToBeBetween(
            column="c", min_value=1, max_value=16
        ),
        "between": lambda: gxe.ExpectColumnValuesToBeBetween(
            column="c", min_value=0, max_value=10**12
        ),
    }
    gx_runtime.run_suite(gx.ExpectationSuite(name="warm", expectations=[make["not_null"]()]),
                         frames["not_null"].head(10), "validation_floor")  # fmt: skip
    seconds = {}
    for kind, frame in frames.items():
        best = float("inf")
        for attempt in range(3):
            suite = gx.ExpectationSuite(name=f"{kind}{attempt}", expectations=[make[kind]()])
            started = time.process_time()
            result = gx_runtime.run_suite(suite, frame, "validation_floor")
            best = min(best, time.process_time() - started)
            if not result.success:
                raise RuntimeError(f"validation_floor: the {kind} frame should pass")
        seconds[kind] = best
    return seconds


def figures(inbox: Path) -> dict[str, Any]:
    sha_cpu, hashed = sha256_cpu(inbox)
    rows = _data_rows(next(inbox.glob("ficc_positions_*.csv")))
    kinds = ficc_column_rules(inbox)
    per_rule = gx_rule_cpu(rows)
    return {
        "sha256_cpu_s": round(sha_cpu, 2),
        "sha256_bytes": hashed,
        "ficc_rows": rows,
        "ficc_column_rules": dict(sorted(kinds.items())),
        "gx_rule_cpu_s": {kind: round(s, 3) for kind, s in per_rule.items()},
        "gx_ficc_rules_cpu_s": round(sum(n * per_rule[kind] for kind, n in kinds.items()), 2),
    }


if __name__ == "__main__":
    print(json.dumps(figures(Path(sys.argv[1]))))
