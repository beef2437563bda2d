"""Validate the inputs of a run against their contracts; stage what passes (SPEC §3)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa

from pipeline.context import RunContext
from pipeline.contracts import gx_runtime
from pipeline.contracts.compiler import CompiledContract, CompileEnv, Rule, compile_contract
from pipeline.contracts.fixml_rules import other_message_checks
from pipeline.contracts.odcs import load_contract
from pipeline.contracts.outcome import (
    MAX_EXAMPLES,
    Check,
    FileOutcome,
    ValidationOutcome,
    outcome_of,
)
from pipeline.errors import InputFormatError, InternalError
from pipeline.inputs import INPUT_NAMES, INPUTS_BY_NAME, InputSpec, input_paths, staged_path

log = logging.getLogger("xmargin.contracts")

# Lists longer than this in the stored GX JSON (value sets of 200k accounts) are cut short.
_JSON_LIST_CAP = 50
# A FIXML file up to this size is read ahead while the CSVs before it are validated. Its rows
# are held meanwhile, about 0.9x the file's bytes (632 MB for the 692 MB file of 200,000
# accounts), beside the largest CSV; a larger file is read in its turn, so memory stays that of
# one file at a time.
READ_AHEAD_MAX_BYTES = 1 << 30


@dataclass(frozen=True)
class RawInput:
    """An input as read by `pipeline.ingest`, and the sha256 and size of the bytes it parsed.

    `frame` is the all-string CSV or the raw FIXML columns; `arrow`, for FIXML only, the
    reader's columns handed to GX without a copy (a CSV's string columns go to GX from `frame`,
    one at a time, so they are not held twice); `ignored` the FIXML message elements other
    than reports, by name (SPEC §2.3).
    """

    frame: pl.DataFrame
    arrow: pa.Table | None
    sha256: str
    size: int
    ignored: dict[str, int] = field(default_factory=dict)


def read_raw(ctx: RunContext, spec: InputSpec, path: Path) -> RawInput:
    """Read one input (SPEC §2); the hash is of the bytes read, from the same open file."""
    from pipeline.ingest.csv_reader import read_csv_strings
    from pipeline.ingest.fixml import read_cme_positions

    ignored: dict[str, int] = {}
    if spec.kind == "fixml":
        fixml = read_cme_positions(path)
        assert fixml.table is not None
        sha256, size, ignored = fixml.sha256, fixml.size, fixml.ignored
        names, columns = fixml.table.column_names, fixml.table.columns
        del fixml  # each column's parts go as soon as it is one chunk
        table = _one_chunk(names, columns)
        # Polars takes the reader's string_view columns without a copy.
        frame = pl.from_arrow(table)
    else:
        read = read_csv_strings(path)
        sha256, size = read.sha256, read.size
        # Polars copies the reader's blocks into one chunk per column; the blocks then go, and
        # GX takes each string column from the frame in its turn (`_pandas_column`), so the
        # strings are held about once, not three times (reader, one-chunk copy, frame).
        frame = pl.from_arrow(read.table)
        del read
        table = None
    assert isinstance(frame, pl.DataFrame)
    return RawInput(frame, table, sha256, size, ignored)


def _one_chunk(names: list[str], columns: list[pa.ChunkedArray]) -> pa.Table:
    """Each column as one Arrow array instead of one per reader block or row group.

    GX's failing-row lookups `take` rows from the column, and Arrow concatenates a chunked
    column on every `take`: 0.2-0.8 s per lookup on 10M rows, once per rule. Column by column,
    in place in `columns` (the caller holds no other reference), so only one column is ever
    held twice.
    """
    for i, column in enumerate(columns):
        if column.num_chunks > 1:
            if pa.types.is_string(column.type) and column.nbytes >= 1 << 31:
                # 32-bit offsets cannot address the whole column as one array.
                column = column.cast(pa.large_string())
            columns[i] = pa.chunked_array([column.combine_chunks()])
    return pa.table(columns, names=names)


class _References:
    """Distinct key values of other inputs for cross-file rules, staged copy first (SPEC §3)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.cache: dict[tuple[str, str], pl.Series | None] = {}

    def __call__(self, table: str, column: str) -> pl.Series | None:
        key = (table, column)
        if key not in self.cache:
            self.cache[key] = self._load(table, column)
        return self.cache[key]

    def _load(self, table: str, column: str) -> pl.Series | None:
        staged = staged_path(self.ctx.staged_dir, table)
        if staged.is_file():
            return pl.read_parquet(staged, columns=[column])[column].unique()
        # Not staged: rejected, or validated elsewhere (one Airflow task per file). The raw key
        # column is still the best reference; if even that is unreadable the master's own
        # rejection stops the run.
        spec = INPUTS_BY_NAME[table]
        path = input_paths(self.ctx.data_root, self.ctx.business_date)[table]
        try:
            raw = read_raw(self.ctx, spec, path).frame
        except InputFormatError:
            return None
        if column not in raw.columns:
            return None
        return raw[column].drop_nulls().unique()


def _line_index(raw: pl.DataFrame, spec: InputSpec) -> pd.Index:
    """The file's line numbers as the frame's index: GX reports failing rows by index label.

    The index has no name on purpose. For a named index GX 1.x builds each failing row's label
    with a `DataFrame.at` lookup per row, before it keeps the first 20 (30-50 us a row: a 1M-row
    file failing a rule on every row took 42 s to validate, a 10M-row one minutes per rule); for
    an unnamed one it lists the index's labels in one step.
    """
    if spec.kind == "fixml":
        return pd.Index(raw["line"].to_numpy())
    return pd.RangeIndex(2, raw.height + 2)


def _example_rows(raw: pl.DataFrame, spec: InputSpec, lines: list[int]) -> list[dict[str, Any]]:
    lines = lines[:MAX_EXAMPLES]
    if not lines:
        return []
    if spec.kind == "fixml":
        rows = raw.filter(pl.col("line").is_in(lines)).sort("line")
    else:
        rows = raw[[line - 2 for line in lines]].with_columns(
            pl.Series("line", lines, dtype=pl.Int64)
        )
    out = []
    for row in rows.to_dicts():
        line = row.pop("line")
        out.append({"line": line, "values": row})
    return out


def _check(rule: Rule, result: Any, raw: pl.DataFrame, spec: InputSpec) -> Check:
    res = result.result or {}
    kind = result.expectation_config.type
    info = result.exception_info or {}
    if info.get("raised_exception"):
        raise InternalError(
            f"{spec.name}: rule {rule.rule}: Great Expectations could not "
            f"evaluate {kind}: {info.get('exception_message')}"
        )
    base = {
        "rule": rule.rule,
        "column": rule.column,
        "severity": rule.severity,
        "description": rule.description,
        "success": bool(result.success),
        "expectation": kind,
    }
    if result.success:
        return Check(**base)
    if "unexpected_count" in res:
        # The labels of the unnamed line index (`_line_index`): the failing rows' line numbers.
        lines = [int(i) for i in res.get("partial_unexpected_index_list") or []]
        return Check(
            **base,
            failing_count=int(res["unexpected_count"]),
            examples=_example_rows(raw, spec, lines),
        )
    if kind == "expect_column_to_exist":
        header = [c for c in raw.columns if c != "line"]
        return Check(**base, failing_count=1, detail=f"column missing; header has {header}")
    if kind == "expect_table_row_count_to_be_between":
        return Check(
            **base, failing_count=1, detail=f"found {res.get('observed_value')} data row(s)"
        )
    if kind == "expect_table_columns_to_match_set":
        extra = (res.get("details") or {}).get("mismatched", {}).get("unexpected", [])
        return Check(
            **base,
            failing_count=len(extra),
            examples=[{"column": c} for c in extra[:MAX_EXAMPLES]],
            detail=f"unknown column(s) {extra}",
        )
    if "missing_count" in res:
        # GX lists them in set order, which changes from process to process: contract order.
        order = list(result.expectation_config.kwargs.get("value_set") or [])
        missing = sorted(
            res.get("partial_missing_list") or [],
            key=lambda v: order.index(v) if v in order else len(order),
        )
        return Check(
            **base,
            failing_count=int(res["missing_count"]),
            examples=[{"value": v} for v in missing[:MAX_EXAMPLES]],
            detail=f"missing value(s), e.g. {missing[:5]}",
        )
    return Check(**base, failing_count=1, detail=json.dumps(res, default=str)[:500])


def _subject_check(rule: Rule, result: Any, subject: pl.DataFrame) -> Check:
    """A rule checked on a frame derived from several files: examples are its key values."""
    res = result.result or {}
    rows = [int(i) for i in res.get("partial_unexpected_index_list") or []][:MAX_EXAMPLES]
    keys = [c for c in subject.columns if c != result.expectation_config.kwargs["column"]]
    return Check(
        rule=rule.rule,
        column=rule.column,
        severity=rule.severity,
        description=rule.description,
        success=bool(result.success),
        failing_count=int(res.get("unexpected_count") or 0),
        examples=subject[rows].select(keys).to_dicts() if rows else [],
        expectation=result.expectation_config.type,
    )


def _trim(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _trim(v) for k, v in obj.items()}
    if isinstance(obj, list):
        if len(obj) > _JSON_LIST_CAP:
            return [_trim(v) for v in obj[:_JSON_LIST_CAP]] + [
                f"... {len(obj) - _JSON_LIST_CAP} more not stored"
            ]
        return [_trim(v) for v in obj]
    return obj


def _pandas_column(series: pl.Series, arrow: pa.Table | None) -> Any:
    """One column for GX's pandas engine: no Python objects, no copy where none is needed.

    A raw string column stays the reader's Arrow array. Numbers become NumPy, since GX's range
    metric is vectorised only for NumPy int and float dtypes (on Arrow-backed ones it calls a
    Python function per row); an integer column with nulls becomes float64 with NaN, exact for
    every bound of the contracts (all far below 2**53) and null to GX as before. Booleans (the
    pass columns) and dates are Arrow-backed: `isin` on them is Arrow's hash lookup, on NumPy
    booleans a sort.
    """
    name = series.name
    if arrow is not None and name in arrow.column_names:
        column = arrow.column(name)
        if pa.types.is_string_view(column.type):
            # The FIXML reader's columns: plain Arrow strings for pandas, one column at a time.
            column = column.cast(pa.string())
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            return pd.arrays.ArrowExtensionArray(column)
    if series.dtype.is_numeric():
        return series.to_numpy()
    return pd.arrays.ArrowExtensionArray(series.to_arrow(compat_level=pl.CompatLevel.oldest()))


def _pandas_frame(
    frame: pl.DataFrame, columns: Iterable[str], arrow: pa.Table | None, index: pd.Index
) -> pd.DataFrame:
    return pd.DataFrame(
        {name: _pandas_column(frame[name], arrow) for name in columns}, index=index, copy=False
    )


def run_contract(
    compiled: CompiledContract,
    raw: pl.DataFrame,
    spec: InputSpec,
    frame: pl.DataFrame | None = None,
    arrow: pa.Table | None = None,
) -> tuple[list[Check], list[dict[str, Any]]]:
    """Run the compiled suite with GX's pandas engine, each rule on every row (SPEC §3).

    Header rules see the raw column names only, row counts the row index only, and each
    column's rules that column with its typed and pass columns (`CompiledContract.groups`).
    `frame` is `compiled.gx_frame(raw)` if already built; `arrow` the reader's columns.
    """
    if frame is None:
        frame = compiled.gx_frame(raw)
    index = _line_index(raw, spec)
    raw_columns = [c for c in raw.columns if c != "line"]
    results = []
    subjects: dict[str, pl.DataFrame] = {}
    for number, (columns, rules) in enumerate(compiled.groups()):
        subject_fn = rules[0].subject
        if subject_fn is not None:
            subject = subject_fn(raw)
            subjects[rules[0].rule] = subject
            part = _pandas_frame(subject, subject.columns, None, pd.RangeIndex(subject.height))
        elif columns:
            part = _pandas_frame(frame, columns, arrow, index)
        elif rules[0].header_level:
            part = pd.DataFrame(columns=raw_columns)
        else:
            part = pd.DataFrame(index=index)
        suite = compiled.suite(rules, f"#{number}")
        # One data asset per input: GX persists each new asset's config as YAML (~10 ms each).
        results.append(gx_runtime.run_suite(suite, part, compiled.contract.name))
    by_rule = {r.expectation_config.meta["rule"]: r for res in results for r in res.results}
    checks = [
        _check(rule, by_rule[rule.rule], raw, spec)
        if rule.subject is None
        else _subject_check(rule, by_rule[rule.rule], subjects[rule.rule])
        for rule in compiled.rules
    ]
    return checks, [res.to_json_dict() for res in results]


class _ReadAhead:
    """The FIXML input read in a background thread while the files before it are validated.

    Its parse runs in worker processes and its parent thread mostly hashes (GIL released), so
    the CSV validations in the main thread overlap it on the second core. Only the bytes are
    read ahead: the contract, which needs the masters' staged keys, runs in the file's turn.
    `take` returns what `read_raw` would have returned or raises what it would have raised.
    """

    def __init__(self, ctx: RunContext, names: list[str]) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="xmargin-read-ahead")
        self.pending: dict[str, Future[RawInput]] = {}
        paths = input_paths(ctx.data_root, ctx.business_date)
        for name in names:
            spec, path = INPUTS_BY_NAME[name], paths[name]
            if spec.kind != "fixml":
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue  # read in its turn, which reports it
            if size <= READ_AHEAD_MAX_BYTES:
                log.info("reading %s ahead (%d bytes)", path.name, size)
                self.pending[name] = self.pool.submit(read_raw, ctx, spec, path)

    def take(self, ctx: RunContext, spec: InputSpec, path: Path) -> RawInput:
        future = self.pending.pop(spec.name, None)
        return read_raw(ctx, spec, path) if future is None else future.result()

    def close(self) -> None:
        """Wait for a read still running (its workers end with it), dropping its rows."""
        for future in self.pending.values():
            future.cancel()
        self.pool.shutdown(wait=True)
        self.pending.clear()


def validate_file(
    ctx: RunContext, name: str, references: _References, ahead: _ReadAhead | None = None
) -> FileOutcome:
    """Apply the contract of one input; stage it if no error-severity rule fails (SPEC §3)."""
    from pipeline.ingest.staging import (
        commit_temp,
        sha256_file,
        write_parquet_atomic,
        write_parquet_temp,
        write_text_atomic,
    )

    started = time.perf_counter()
    spec = INPUTS_BY_NAME[name]
    path = input_paths(ctx.data_root, ctx.business_date)[name]
    contract = load_contract(name, ctx.params)
    gx_json: list[dict[str, Any]] = []
    skipped: list[str] = []
    try:
        read = read_raw(ctx, spec, path) if ahead is None else ahead.take(ctx, spec, path)
    except InputFormatError as exc:
        sha256 = exc.sha256 or sha256_file(path)
        size = exc.size if exc.size is not None else path.stat().st_size
        # Unreadable bytes or structure: a failed rule of its own, quarantined like any other.
        checks = [
            Check(
                rule=exc.rule,
                column=None,
                severity="error",
                description="file readable as " + ("FIXML" if spec.kind == "fixml" else "CSV"),
                success=False,
                failing_count=exc.failing_count,
                examples=[dict(e) for e in exc.examples][:MAX_EXAMPLES],
                detail=exc.detail,
                expectation=None,
            )
        ]
        rows = 0
    else:
        raw, sha256, size = read.frame, read.sha256, read.size
        rows = raw.height
        columns = {c: raw.schema[c] for c in raw.columns if c != "line"}
        compiled = compile_contract(contract, CompileEnv(ctx.business_date, columns, references))
        frame = compiled.gx_frame(raw)
        staged = staged_path(ctx.staged_dir, name)
        # The typed copy is written while GX checks the rules (GX holds the GIL, the Parquet
        # writer does not) and kept only if no error-severity rule fails. A file missing a
        # staged column fails its `present` rule, so there is nothing to write for it.
        with ThreadPoolExecutor(1, thread_name_prefix="xmargin-stage") as pool:
            written = (
                pool.submit(write_parquet_temp, compiled.staged_frame(frame), staged)
                if compiled.stageable(raw)
                else None
            )
            try:
                checks, gx_json = run_contract(compiled, raw, spec, frame, read.arrow)
                if spec.kind == "fixml":
                    checks += other_message_checks(contract, read.ignored)
            finally:
                tmp = written.result() if written is not None else None
        try:
            if outcome_of(checks) == "failed":
                # A retried task must not leave the typed copy of an earlier, passing attempt.
                staged.unlink(missing_ok=True)
            elif tmp is None:
                write_parquet_atomic(compiled.staged_frame(frame), staged)
            else:
                commit_temp(tmp, staged)
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        skipped = list(compiled.skipped)
    outcome = FileOutcome(
        name=name,
        path=path,
        sha256=sha256,
        bytes=size,
        contract_version=contract.version,
        rows=rows,
        outcome=outcome_of(checks),
        checks=checks,
        skipped=skipped,
        seconds=round(time.perf_counter() - started, 3),
    )
    write_text_atomic(
        ctx.validation_dir / f"{name}.json",
        json.dumps(
            {"summary": outcome.to_json(), "great_expectations": _trim(gx_json)},
            indent=1,
            default=str,
        ),
    )
    log.info(
        "validated %s: %s rows, %s in %.2fs", path.name, rows, outcome.outcome, outcome.seconds
    )
    return outcome


def iter_validate(
    ctx: RunContext, names: Iterable[str] | None = None
) -> Generator[FileOutcome, None, None]:
    """Validate the named inputs (all by default) one by one, masters first, yielding each
    file's outcome as it is decided (SPEC §3, ARCHITECTURE).

    The FIXML file is read ahead meanwhile (`_ReadAhead`) when there is something to overlap
    (one Airflow task is one file). Close the iterator (`contextlib.closing`) if you stop early:
    that waits for the read still running.
    """
    wanted = set(INPUT_NAMES if names is None else names)
    unknown = wanted - set(INPUT_NAMES)
    if unknown:
        raise InternalError(f"validation: unknown input(s) {sorted(unknown)}")
    references = _References(ctx)
    order = [n for n in INPUT_NAMES if n in wanted]
    ahead = _ReadAhead(ctx, order[1:]) if len(order) > 1 else None
    try:
        for name in order:
            yield validate_file(ctx, name, references, ahead)
    finally:
        if ahead is not None:
            ahead.close()


def validate_files(ctx: RunContext, names: Iterable[str] | None = None) -> ValidationOutcome:
    """Validate the named inputs (all by default), masters first (SPEC §3, ARCHITECTURE)."""
    files = list(iter_validate(ctx, names))
    return ValidationOutcome(ctx.business_date, ctx.run_id, files)


def load_outcome(ctx: RunContext) -> ValidationOutcome:
    """Merge the per-file results written by `validate_files` (possibly by other processes)."""
    files = []
    absent = []
    for name in INPUT_NAMES:
        path = ctx.validation_dir / f"{name}.json"
        if not path.is_file():
            absent.append(name)
            continue
        files.append(FileOutcome.from_json(json.loads(path.read_text())["summary"]))
    if absent:
        raise InternalError(
            f"run {ctx.run_id}: no validation result for {', '.join(absent)} in "
            f"{ctx.validation_dir}; validate_files must run for every input first"
        )
    return ValidationOutcome(ctx.business_date, ctx.run_id, files)
