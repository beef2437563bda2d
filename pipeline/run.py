"""The stages of one business date, shared by the CLI and the Airflow tasks (SPEC §8)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from pipeline import outputs, scratch
from pipeline.calendar import business_days, is_business_day
from pipeline.config import Params, select_params
from pipeline.context import RunContext, new_run_id
from pipeline.errors import InternalError, InvocationError, NonBusinessDateError, XmarginError
from pipeline.ingest.staging import copy_folder, disk_full_error, folder_bytes, is_disk_full
from pipeline.inputs import INPUTS, check_data_root, require_inputs, staged_path
from pipeline.progress import ProgressFn
from pipeline.progress import stage as _stage

if TYPE_CHECKING:
    from pipeline.contracts import ValidationOutcome

log = logging.getLogger("xmargin.run")


@dataclass
class RunResult:
    """How one date's run ended: the SPEC §8 exit code and a summary for people and scripts."""

    business_date: dt.date
    exit_code: int
    message: str
    run_id: str | None = None
    output_dir: Path | None = None
    quarantine_dir: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    # Exit 4 for a defect of ours ("internal error") or for the machine's state (a full disk).
    defect: bool = True

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "business_date": self.business_date.isoformat(),
            "exit_code": self.exit_code,
            "status": "success" if self.ok else "failed",
            "message": self.message,
            "run_id": self.run_id,
            "output_dir": str(self.output_dir) if self.output_dir else None,
            "quarantine_dir": str(self.quarantine_dir) if self.quarantine_dir else None,
            "summary": self.summary,
        }


def _write(table: outputs.Table, frame: pl.DataFrame, dest: Path) -> Path:
    """Write one work table at `dest`, refusing columns other than the registry's."""
    from pipeline.ingest.staging import write_parquet_atomic

    if tuple(frame.columns) != table.schema.names:
        raise InternalError(
            f"{table.name}: found columns {frame.columns}, expected {list(table.schema.names)}"
            " (pipeline.outputs)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(frame, dest)
    return dest


def _save(ctx: RunContext, table: outputs.Table, frame: pl.DataFrame) -> Path:
    return _write(table, frame, table.work_path(ctx.work_dir))


def _load(ctx: RunContext, table: outputs.Table) -> pl.DataFrame:
    return pl.read_parquet(table.work_path(ctx.work_dir))


def check_business_date(
    business_date: dt.date, force: bool = False, how_to_force: str = "use --force"
) -> None:
    """Refuse a non-business date unless forced (SPEC §1, exit 2); `how_to_force` says how."""
    if not force and not is_business_day(business_date):
        raise NonBusinessDateError(
            f"{business_date.isoformat()} is not a SIFMA U.S. bond market business day; "
            f"nothing to run ({how_to_force} to run it anyway)"
        )


def preflight(
    business_date: dt.date, data_root: Path, params_file: Path | None, force: bool
) -> Params:
    """Refusals that need no computation, in SPEC §8 precedence: date, data root, parameters,
    missing files (exit 3), then present entries that are no usable file (exit 1).

    Returns the parameter file in force (SPEC §2.10): selected here, once per run.
    """
    check_business_date(business_date, force)
    check_data_root(data_root)
    if params_file is not None and not params_file.is_file():
        raise InvocationError(f"--params {params_file}: no such file")
    params = select_params(business_date, data_root, params_file)
    require_inputs(data_root, business_date)
    return params


def start_run(
    business_date: dt.date,
    data_root: Path,
    params_file: Path | None = None,
    force: bool = False,
    run_id: str | None = None,
    driver: str = scratch.DRIVER_CLI,
) -> RunContext:
    """Check the date, the parameters and the presence of every input, then open a run frozen
    on the parameter file selected (SPEC §8; ARCHITECTURE "A run is frozen at its start")."""
    params = preflight(business_date, data_root, params_file, force)
    return RunContext.create(business_date, data_root, params, run_id=run_id, driver=driver)


def validate_stage(ctx: RunContext, names: list[str] | None = None) -> ValidationOutcome:
    """Validate the given inputs (all by default) against their contracts (SPEC §3)."""
    from pipeline.contracts import validate_files

    return validate_files(ctx, names)


def finish_validation(ctx: RunContext) -> ValidationOutcome:
    """Merge per-file results; quarantine and raise ValidationRejected on any error (SPEC §3)."""
    from pipeline.contracts import finish_validation as _finish

    return _finish(ctx)


def validate_inputs(ctx: RunContext, progress: ProgressFn | None = None) -> ValidationOutcome:
    """Validate every input one at a time, masters first, then merge the results (SPEC §3).

    File by file, each a timed stage `validate <name>` with its rows and outcome, so a long night
    shows where it is; the merged outcome is the same as validating all at once.
    """
    from pipeline.contracts import iter_validate

    # One iterator for all files, so the FIXML file is read while the CSVs before it are
    # validated; its stage line then counts only what was left of its read.
    with contextlib.closing(iter_validate(ctx)) as checked_files:
        for spec in INPUTS:
            with _stage(progress, f"validate {spec.name}") as detail:
                checked = next(checked_files)
                assert checked.name == spec.name, (checked.name, spec.name)
                detail.update(rows=checked.rows, outcome=checked.outcome)
    return finish_validation(ctx)


def margin_shard(ctx: RunContext, shard: int, n_shards: int) -> Path:
    """Per-account requirements of one account shard, unrounded (SPEC §4-§5)."""
    from pipeline.margin import MarginInputs, compute_shard

    inputs = MarginInputs.from_staged(ctx.staged_dir)
    results = compute_shard(inputs, ctx.params, ctx.business_date, shard, n_shards)
    dv01 = outputs.DV01_PARTIALS
    _write(dv01, results.dv01_partials, dv01.shard_path(ctx.work_dir, shard, n_shards))
    margin = outputs.ACCOUNT_MARGIN
    return _write(margin, results.account_margin, margin.shard_path(ctx.work_dir, shard, n_shards))


def reduce_margin(ctx: RunContext, n_shards: int) -> Path:
    """Join the shards, then calls, exceptions and the DV01 profile (SPEC §4, §5.4)."""
    from pipeline.margin import MarginInputs, dv01_by_tenor, finalize_margin

    account_margin, partials = (
        _shard_parts(ctx, table, n_shards)
        for table in (outputs.ACCOUNT_MARGIN, outputs.DV01_PARTIALS)
    )
    inputs = MarginInputs.from_staged(ctx.staged_dir)
    results = finalize_margin(
        pl.concat(account_margin, how="vertical"), inputs, ctx.params, ctx.business_date
    )
    _save(ctx, outputs.MARGIN_BY_ACCOUNT, results.margin_by_account)
    _save(ctx, outputs.MARGIN_CALLS, results.margin_calls)
    _save(ctx, outputs.EXCEPTIONS_MARGIN, results.exceptions)
    dv01 = dv01_by_tenor(partials, ctx.params, ctx.business_date)
    return _save(ctx, outputs.DV01_BY_TENOR, dv01).parent


def _shard_parts(ctx: RunContext, table: outputs.Table, n_shards: int) -> list[pl.DataFrame]:
    """Every shard's part of a per-shard table; all must be there (a shard may have failed)."""
    paths = [table.shard_path(ctx.work_dir, k, n_shards) for k in range(n_shards)]
    absent = [p.name for p in paths if not p.is_file()]
    if absent:
        raise InternalError(f"margin shards missing for run {ctx.run_id}: {', '.join(absent)}")
    return [pl.read_parquet(p) for p in paths]


def reserve_stage(ctx: RunContext) -> Path:
    """Exhibit A for CUSTOMER and PAB and the 4d segregation schedule (SPEC §6)."""
    from pipeline.reserve import compute_reserve, compute_segregation

    margin = _load(ctx, outputs.MARGIN_BY_ACCOUNT)
    balances, items, bank = (
        pl.read_parquet(staged_path(ctx.staged_dir, name))
        for name in ("balances", "reserve_items", "reserve_bank")
    )
    reserve = compute_reserve(margin, balances, items, bank, ctx.params, ctx.business_date)
    detail, summary = compute_segregation(margin, bank, ctx.business_date)
    _save(ctx, outputs.RESERVE_COMPUTATION, reserve)
    _save(ctx, outputs.XM_SEGREGATION, detail)
    return _save(ctx, outputs.XM_SEGREGATION_SUMMARY, summary).parent


def _exceptions(ctx: RunContext, validation: ValidationOutcome) -> pl.DataFrame:
    """What operations must look at (SPEC §7.6): margin exceptions plus validation warnings."""
    margin_exc = _load(ctx, outputs.EXCEPTIONS_MARGIN)
    warnings = validation.warnings_frame()
    frames = [margin_exc.select("business_date", "kind", "account_id", "detail")]
    if warnings.height:
        frames.append(warnings.select(frames[0].columns).cast(frames[0].schema))
    return pl.concat(frames, how="vertical").sort(["kind", "account_id", "detail"], nulls_last=True)


def control_totals(ctx: RunContext, tables: dict[str, pl.DataFrame]) -> dict[str, Any]:
    """Figures that reconcile the run with its inputs (SPEC §7.5), from unrounded values."""
    ficc = pl.scan_parquet(staged_path(ctx.staged_dir, "ficc_positions"))
    netted = ficc.group_by("account_id", "cusip").agg(pl.col("par_amount").sum().alias("net"))
    par = netted.select(
        pl.col("net").sum().alias("net_par"), pl.col("net").abs().sum().alias("gross_par")
    ).collect()
    cme = (
        pl.scan_parquet(staged_path(ctx.staged_dir, "cme_positions"))
        .select((pl.col("long_qty") - pl.col("short_qty")).sum().alias("net_qty"))
        .collect()
    )
    margin = tables["margin_by_account"]
    calls = tables["margin_calls"]
    reserve = tables["reserve_computation"].filter(pl.col("line") == "reserve_requirement")
    summary = tables["xm_segregation_summary"]
    return {
        "ficc_sum_net_par": int(par["net_par"][0] or 0),
        "ficc_sum_abs_net_par": int(par["gross_par"][0] or 0),
        "cme_sum_net_qty": int(cme["net_qty"][0] or 0),
        "accounts": margin.height,
        "sum_maintenance_requirement": float(margin["maintenance_requirement"].sum()),
        "sum_initial_requirement": float(margin["initial_requirement"].sum()),
        "calls_count": calls.height,
        "sum_call_amount": int(calls["call_amount"].sum()),
        "reserve_requirement": {
            str(book): float(amount)
            for book, amount in reserve.select("book", "amount").iter_rows()
        },
        "xm_4d_residual_interest": float(summary["residual_interest"][0]),
    }


def _publish(ctx: RunContext, validation: ValidationOutcome) -> Path:
    from pipeline.publish import publish
    from pipeline.reports import render_report

    # Every published table is in the work folder but `exceptions`, which publish assembles.
    tables = {
        t.name: _exceptions(ctx, validation) if t is outputs.EXCEPTIONS else _load(ctx, t)
        for t in outputs.PUBLISHED
    }
    totals = control_totals(ctx, tables)

    def finish_folder(staging: Path) -> None:
        # Validation results travel with the outputs they vouch for (SPEC §3).
        if ctx.validation_dir.is_dir():
            copy_folder(ctx.validation_dir, staging / "validation")
        render_report(staging)

    # At least what the set takes: the validation copy plus tables as big as their work files.
    needed = folder_bytes(ctx.validation_dir) + sum(
        path.stat().st_size
        for path in (t.work_path(ctx.work_dir) for t in outputs.PUBLISHED)
        if path.is_file()
    )
    return publish(
        ctx,
        tables,
        validation.to_manifest(),
        totals,
        render_report=finish_folder,
        space_needed=needed,
    )


def publish_stage(ctx: RunContext) -> Path:
    """Publish the date's outputs atomically under the date lock (SPEC §7, §8)."""
    from pipeline.publish import DateLock

    with DateLock(ctx.data_root, ctx.business_date, ctx.run_id):
        return _publish(ctx, finish_validation(ctx))


def run_date(
    business_date: dt.date,
    data_root: Path,
    params_file: Path | None = None,
    force: bool = False,
    n_shards: int = 1,
    progress: ProgressFn | None = None,
    keep_work: bool = False,
) -> RunResult:
    """Validate, compute and publish one business date end to end, under its lock (SPEC §8).

    The run's work folder is removed when it publishes (kept with `keep_work`); a run that fails
    leaves it for diagnosis, and the next run of D keeps only the newest few (`pipeline.scratch`).
    """
    ctx: RunContext | None = None
    try:
        params = preflight(business_date, data_root, params_file, force)
        from pipeline.publish import DateLock

        run_id = new_run_id()
        with DateLock(data_root.resolve(), business_date, run_id):
            with _stage(progress, "inputs"):
                # Inputs again under the lock (they may have moved meanwhile); parameters not:
                # the run is frozen on the file preflight selected.
                require_inputs(data_root, business_date)
                ctx = RunContext.create(business_date, data_root, params, run_id=run_id)
                # Under the date lock: who else uses D's work folders holds them (scratch).
                scratch.tidy(ctx.data_root, business_date, own=run_id)
            with _stage(progress, "validate") as d:
                validation = validate_inputs(ctx, progress)
                d["rows"] = sum(f.rows for f in validation.files)
            with _stage(progress, "margin", shards=n_shards) as d:
                for shard in range(n_shards):
                    margin_shard(ctx, shard, n_shards)
                reduce_margin(ctx, n_shards)
                d["accounts"] = (
                    pl.scan_parquet(outputs.MARGIN_BY_ACCOUNT.work_path(ctx.work_dir))
                    .select(pl.len())
                    .collect()
                    .item()
                )
            with _stage(progress, "reserve"):
                reserve_stage(ctx)
            with _stage(progress, "publish") as d:
                output_dir = _publish(ctx, validation)
                d["output_dir"] = str(output_dir)
        summary = summarize(output_dir)
        if keep_work:
            scratch.mark_ended(ctx.work_dir, "kept")
        else:
            shutil.rmtree(ctx.work_dir, ignore_errors=True)
        return RunResult(
            business_date,
            0,
            f"published {output_dir}",
            run_id=ctx.run_id,
            output_dir=output_dir,
            summary=summary,
        )
    except XmarginError as exc:
        failed = exc
    except Exception as exc:
        if is_disk_full(exc):
            failed = disk_full_error(exc, ctx.work_dir if ctx else data_root)
        else:  # an unforeseen defect must still end with exit 4 and a message
            log.exception("internal error while running %s", business_date)
            failed = InternalError(f"internal error: {type(exc).__name__}: {exc}")
    finally:
        if ctx is not None:
            scratch.release(ctx.work_dir)
    if ctx is not None:
        scratch.mark_ended(ctx.work_dir, "failed")
    return RunResult(
        business_date,
        failed.exit_code,
        str(failed),
        run_id=ctx.run_id if ctx else None,
        quarantine_dir=getattr(failed, "quarantine_dir", None),
        defect=failed.defect,
    )


def summarize(output_dir: Path) -> dict[str, Any]:
    """Headline figures of a published date, for `--json` and the closing line of the CLI."""
    import json

    manifest = json.loads((output_dir / "manifest.json").read_text())
    totals = manifest.get("control_totals", {})
    return {
        "accounts": totals.get("accounts"),
        "calls": totals.get("calls_count"),
        "sum_call_amount": totals.get("sum_call_amount"),
        "sum_maintenance_requirement": totals.get("sum_maintenance_requirement"),
        "sum_initial_requirement": totals.get("sum_initial_requirement"),
        "reserve_requirement": totals.get("reserve_requirement"),
    }


def backfill(
    start: dt.date,
    end: dt.date,
    data_root: Path,
    params_file: Path | None = None,
    n_shards: int = 1,
    progress: ProgressFn | None = None,
    on_result: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Run every business date in [start, end] in order, each independent (SPEC §8)."""
    if end < start:
        raise InvocationError(f"backfill: --end {end} is before --start {start}")
    results = []
    for day in business_days(start, end):
        result = run_date(day, data_root, params_file, n_shards=n_shards, progress=progress)
        results.append(result)
        if on_result:
            on_result(result)
    return results
