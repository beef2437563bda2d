"""The `xmargin` command line (SPEC §8): thin wrappers over `pipeline.run` and friends."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from pipeline import __version__
from pipeline.context import DATA_ROOT_ENV, default_data_root
from pipeline.errors import XmarginError

app = typer.Typer(
    name="xmargin",
    help="Nightly FICC-CME cross-margining and SEC Rule 15c3-3 reserve batch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class _State:
    quiet = False
    json_out = False


def _parse_date(text: str, option: str = "--date") -> dt.date:
    # date.fromisoformat also takes YYYYMMDD; SPEC §1 dates are YYYY-MM-DD only.
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO date YYYY-MM-DD", param_hint=option
        ) from None


def _root(data_root: Path | None) -> Path:
    return (data_root or default_data_root()).resolve()


def _progress(event: str, info: dict[str, Any]) -> None:
    if _State.quiet:
        return
    stage = info.get("stage", "")
    if event == "start":
        extra = f" ({info['shards']} shard(s))" if "shards" in info else ""
        err.print(f"[bold cyan]▶[/] {stage}{extra} …")
    else:
        details = " ".join(
            f"{k}={v}" for k, v in info.items() if k not in {"stage", "seconds", "output_dir"}
        )
        err.print(f"[green]✓[/] {stage} in {info.get('seconds', 0):.2f}s {details}".rstrip())


def _fail(exc: XmarginError) -> None:
    err.print(f"[red]xmargin: error:[/] {exc}")
    raise typer.Exit(exc.exit_code)


def _emit(payload: dict[str, Any]) -> None:
    if _State.json_out:
        sys.stdout.write(json.dumps(payload, default=str, sort_keys=True) + "\n")


DateOpt = Annotated[str, typer.Option("--date", help="Business date YYYY-MM-DD.")]
RootOpt = Annotated[
    Path | None,
    typer.Option("--data-root", help=f"Data root (default ${DATA_ROOT_ENV} or ./data)."),
]


@app.callback()
def _main(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout for scripts.")
    ] = False,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Structured logs on stderr: text or json.")
    ] = "text",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO.")] = False,
) -> None:
    """Nightly FICC-CME cross-margining and SEC Rule 15c3-3 reserve batch."""
    _State.quiet = quiet
    _State.json_out = json_out
    from pipeline.logs import configure_logging

    configure_logging(log_format, logging.INFO if verbose else logging.WARNING)


@app.command()
def version() -> None:
    """Print the software version."""
    typer.echo(__version__)


@app.command()
def generate(
    date: DateOpt,
    accounts: Annotated[int, typer.Option("--accounts", min=1, help="Number of accounts.")] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (deterministic).")] = 7,
    data_root: RootOpt = None,
) -> None:
    """Write a realistic, internally consistent input set for D into inbox/YYYYMMDD/."""
    from pipeline.generate import generate_inputs

    day = _parse_date(date)
    root = _root(data_root)

    def progress(stage: str, rows: int) -> None:
        if not _State.quiet:
            err.print(f"[green]✓[/] {stage}: {rows:,} rows")

    try:
        paths = generate_inputs(root, day, n_accounts=accounts, seed=seed, progress=progress)
    except XmarginError as exc:
        _fail(exc)
    if not _State.quiet:
        err.print(f"inputs for {day.isoformat()} written to {next(iter(paths.values())).parent}")
    _emit({"business_date": day.isoformat(), "files": {k: str(v) for k, v in paths.items()}})


@app.command()
def run(
    date: DateOpt,
    data_root: RootOpt = None,
    params: Annotated[
        Path | None, typer.Option("--params", help="Use this parameter file as given.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Run a non-business date.")] = False,
    shards: Annotated[int, typer.Option("--shards", min=1, help="Account shards.")] = 1,
    keep_work: Annotated[bool, typer.Option("--keep-work", help="Keep the work folder.")] = False,
) -> None:
    """Validate, compute and publish business date D."""
    from pipeline.run import run_date

    day = _parse_date(date)
    result = run_date(day, _root(data_root), params, force, shards, _progress, keep_work)
    _emit(result.to_json())
    if result.ok:
        if not _State.quiet:
            s = result.summary
            err.print(
                f"[bold green]{day.isoformat()} published[/] → {result.output_dir}\n"
                f"  accounts {s.get('accounts')}, calls {s.get('calls')} "
                f"(${s.get('sum_call_amount') or 0:,}), reserve {s.get('reserve_requirement')}"
            )
        return
    err.print(f"[red]xmargin: error:[/] {result.message}")
    if result.quarantine_dir:
        err.print(f"  quarantined: {result.quarantine_dir}")
    raise typer.Exit(result.exit_code)


@app.command()
def backfill(
    start: Annotated[str, typer.Option("--start", help="First date YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last date YYYY-MM-DD.")],
    data_root: RootOpt = None,
    params: Annotated[Path | None, typer.Option("--params")] = None,
    shards: Annotated[int, typer.Option("--shards", min=1)] = 1,
) -> None:
    """Run every business date from --start to --end, each independent; report each outcome."""
    from pipeline.run import RunResult
    from pipeline.run import backfill as run_backfill

    first, last = _parse_date(start, "--start"), _parse_date(end, "--end")

    def report(result: RunResult) -> None:
        if not _State.quiet:
            mark = "[green]✓[/]" if result.ok else f"[red]✗ exit {result.exit_code}[/]"
            err.print(f"{mark} {result.business_date.isoformat()}: {result.message}")

    try:
        results = run_backfill(first, last, _root(data_root), params, shards, None, report)
    except XmarginError as exc:
        _fail(exc)
    failed = [r for r in results if not r.ok]
    _emit({"dates": [r.to_json() for r in results], "failed": len(failed)})
    if not _State.quiet:
        err.print(f"backfill: {len(results) - len(failed)} succeeded, {len(failed)} failed")
    if failed:
        raise typer.Exit(max(r.exit_code for r in failed))


@app.command()
def validate(
    date: DateOpt,
    data_root: RootOpt = None,
    params: Annotated[Path | None, typer.Option("--params")] = None,
    force: Annotated[bool, typer.Option("--force")] = False,
) -> None:
    """Run the data contracts for D only (nothing is computed or published)."""
    from pipeline.run import finish_validation, start_run, validate_stage

    day = _parse_date(date)
    try:
        ctx = start_run(day, _root(data_root), params, force)
        validate_stage(ctx)
        outcome = finish_validation(ctx)
    except XmarginError as exc:
        _emit({"business_date": day.isoformat(), "exit_code": exc.exit_code, "message": str(exc)})
        _fail(exc)
    _emit({"business_date": day.isoformat(), "exit_code": 0, "files": outcome.to_manifest()})
    if not _State.quiet:
        for f in outcome.files:
            err.print(f"[green]✓[/] {f.name}: {f.rows:,} rows, {f.outcome}")
        err.print(f"validation results: {ctx.validation_dir}")


@app.command()
def report(date: DateOpt, data_root: RootOpt = None) -> None:
    """Re-render report.html for D from its published outputs."""
    from pipeline.reports import render_report

    day = _parse_date(date)
    out = _root(data_root) / "outputs" / f"business_date={day.isoformat()}"
    if not (out / "_SUCCESS").is_file():
        err.print(f"[red]xmargin: error:[/] no published outputs for {day.isoformat()} in {out}")
        raise typer.Exit(3)
    path = render_report(out.resolve())
    _emit({"business_date": day.isoformat(), "report": str(path)})
    if not _State.quiet:
        err.print(f"report: {path}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `xmargin` console script; returns the SPEC §8 exit code."""
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except XmarginError as exc:
        err.print(f"[red]xmargin: error:[/] {exc}")
        return exc.exit_code
    except Exception as exc:  # a defect must not masquerade as exit 1 (validation rejected)
        logging.getLogger("xmargin").exception("internal error")
        err.print(f"[red]xmargin: internal error:[/] {type(exc).__name__}: {exc}")
        return 4
    return 0
