"""Validate the inputs of a run against their contracts; stage what passes (SPEC §3)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from pipeline.context import RunContext
from pipeline.contracts import gx_runtime
from pipeline.contracts.compiler import CompiledContract, CompileEnv, Rule, compile_contract
from pipeline.contracts.odcs import load_contract
from pipeline.contracts.outcome import (
    MAX_EXAMPLES,
    Check,
    FileOutcome,
    ValidationOutcome,
    outcome_of,
)
from pipeline.errors import InputFormatError, InternalError
from pipeline.inputs import INPUT_NAMES, INPUTS_BY_NAME, InputSpec, input_paths

log = logging.getLogger("xmargin.contracts")

# Lists longer than this in the stored GX JSON (value sets of 200k accounts) are cut short.
_JSON_LIST_CAP = 50


def _raw_dir(ctx: RunContext) -> Path:
    return ctx.work_dir / "raw"


def read_raw(ctx: RunContext, spec: InputSpec, path: Path) -> pl.DataFrame:
    """The input as read by `pipeline.ingest`: all-string CSV, or the raw FIXML columns."""
    from pipeline.ingest.csv_reader import read_csv_strings
    from pipeline.ingest.fixml import read_cme_positions

    if spec.kind == "fixml":
        dest = _raw_dir(ctx) / f"{spec.name}.parquet"
        read_cme_positions(path, dest)
        return pl.read_parquet(dest)
    frame = pl.from_arrow(read_csv_strings(path).table)
    assert isinstance(frame, pl.DataFrame)
    return frame


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
        staged = self.ctx.staged_dir / f"{table}.parquet"
        if staged.is_file():
            return pl.read_parquet(staged, columns=[column])[column].unique()
        # Not staged: rejected, or validated elsewhere (one Airflow task per file). The raw key
        # column is still the best reference; if even that is unreadable the master's own
        # rejection stops the run.
        spec = INPUTS_BY_NAME[table]
        path = input_paths(self.ctx.data_root, self.ctx.business_date)[table]
        try:
            raw = read_raw(self.ctx, spec, path)
        except InputFormatError:
            return None
        if column not in raw.columns:
            return None
        return raw[column].drop_nulls().unique()


def _line_index(raw: pl.DataFrame, spec: InputSpec) -> pd.Index:
    # GX reports failing rows by index label: make the label the file's line number.
    if spec.kind == "fixml":
        return pd.Index(raw["line"].to_numpy(), name="line")
    return pd.RangeIndex(2, raw.height + 2, name="line")


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
        # A named index comes back as {"line": n} per row, an unnamed one as n.
        lines = [
            int(i["line"] if isinstance(i, dict) else i)
            for i in res.get("partial_unexpected_index_list") or []
        ]
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
        missing = list(res.get("partial_missing_list") or [])
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


def run_contract(
    compiled: CompiledContract, raw: pl.DataFrame, spec: InputSpec
) -> tuple[list[Check], list[dict[str, Any]]]:
    """Run the compiled suite with GX's pandas engine on Arrow-backed frames (SPEC §3).

    Header rules see the raw column names only, row counts the row index only, and each
    column's rules that column with its typed and pass columns (`CompiledContract.groups`).
    """
    frame = compiled.gx_frame(raw).to_pandas(use_pyarrow_extension_array=True)
    frame.index = _line_index(raw, spec)
    raw_columns = [c for c in raw.columns if c != "line"]
    results = []
    subjects: dict[str, pl.DataFrame] = {}
    for number, (columns, rules) in enumerate(compiled.groups()):
        subject_fn = rules[0].subject
        if subject_fn is not None:
            subject = subject_fn(raw)
            subjects[rules[0].rule] = subject
            part = subject.to_pandas(use_pyarrow_extension_array=True)
        elif columns:
            part = frame[list(columns)]
        elif rules[0].header_level:
            part = frame[raw_columns].iloc[:0]
        else:
            part = frame[[]]
        suite = compiled.suite(rules, f"#{number}")
        results.append(gx_runtime.run_suite(suite, part, f"{compiled.contract.name}-{number}"))
    by_rule = {r.expectation_config.meta["rule"]: r for res in results for r in res.results}
    checks = [
        _check(rule, by_rule[rule.rule], raw, spec)
        if rule.subject is None
        else _subject_check(rule, by_rule[rule.rule], subjects[rule.rule])
        for rule in compiled.rules
    ]
    return checks, [res.to_json_dict() for res in results]


def validate_file(ctx: RunContext, name: str, references: _References) -> FileOutcome:
    """Apply the contract of one input; stage it if no error-severity rule fails (SPEC §3)."""
    from pipeline.ingest.staging import sha256_file, write_parquet_atomic, write_text_atomic

    started = time.perf_counter()
    spec = INPUTS_BY_NAME[name]
    path = input_paths(ctx.data_root, ctx.business_date)[name]
    contract = load_contract(name, ctx.params)
    gx_json: list[dict[str, Any]] = []
    skipped: list[str] = []
    try:
        raw = read_raw(ctx, spec, path)
    except InputFormatError as exc:
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
        columns = {c: raw.schema[c] for c in raw.columns if c != "line"}
        compiled = compile_contract(contract, CompileEnv(ctx.business_date, columns, references))
        checks, gx_json = run_contract(compiled, raw, spec)
        skipped = list(compiled.skipped)
        rows = raw.height
        staged = ctx.staged_dir / f"{name}.parquet"
        if outcome_of(checks) != "failed":
            write_parquet_atomic(compiled.staged_frame(raw), staged)
        else:
            # A retried task must not leave the typed copy of an earlier, passing attempt.
            staged.unlink(missing_ok=True)
    outcome = FileOutcome(
        name=name,
        path=path,
        sha256=sha256_file(path),
        bytes=path.stat().st_size,
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


def validate_files(ctx: RunContext, names: Iterable[str] | None = None) -> ValidationOutcome:
    """Validate the named inputs (all by default), masters first (SPEC §3, ARCHITECTURE)."""
    wanted = set(INPUT_NAMES if names is None else names)
    unknown = wanted - set(INPUT_NAMES)
    if unknown:
        raise InternalError(f"validate_files: unknown input(s) {sorted(unknown)}")
    references = _References(ctx)
    files = [validate_file(ctx, n, references) for n in INPUT_NAMES if n in wanted]
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
