"""The `xmargin` command line (SPEC §8): thin wrappers over `pipeline.run` and friends.

Streams: stdout carries only the `--json` summary (one JSON object per command), stderr carries
everything for people — a live spinner per stage on a terminal, plain lines when piped, nothing
with `--quiet` but errors. With `--log-format json` stderr is JSON lines only (progress and
errors become log events), so a log collector never has to parse prose.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from pipeline import __version__
from pipeline.context import DATA_ROOT_ENV, default_data_root
from pipeline.errors import XmarginError
from pipeline.logs import configure_logging, log_event

app = typer.Typer(
    name="xmargin",
    help="Nightly FICC-CME cross-margining and SEC Rule 15c3-3 reserve batch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("xmargin.cli")

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MISSING_OUTPUTS_EXIT = 3


class LogFormat(StrEnum):
    """Formats of `--log-format`."""

    text = "text"
    json = "json"


class Ui:
    """How one invocation talks to people (stderr) and scripts (stdout `--json`)."""

    def __init__(self) -> None:
        self.quiet = False
        self.json_out = False
        self.log_json = False
        self.emitted = False

    def reset(self, quiet: bool, json_out: bool, log_json: bool) -> None:
        self.quiet, self.json_out, self.log_json, self.emitted = quiet, json_out, log_json, False

    @property
    def console(self) -> Console:
        # Built per use so it always writes to the current sys.stderr (tests swap it);
        # soft_wrap keeps a long message on one line instead of wrapping at 80 columns.
        return Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

    @property
    def tty(self) -> bool:
        """Whether stderr is a terminal; asked of the stream itself, not of rich, because
        FORCE_COLOR in a CI environment must not turn its log into spinner frames."""
        isatty = getattr(sys.stderr, "isatty", None)
        return bool(isatty and isatty())

    @property
    def live(self) -> bool:
        """Spinners only for a person at a terminal; never in logs, pipes or with --quiet."""
        return not (self.quiet or self.log_json) and self.tty

    def line(self, mark: str, text: str, style: str = "green", **fields: Any) -> None:
        """One progress/result line, or an INFO event in JSON-log mode; silent with --quiet."""
        if self.quiet:
            return
        if self.log_json:
            log_event(log, fields.pop("event", "progress"), message=text, **fields)
            return
        self._write(mark, style, text)

    def _write(self, mark: str, style: str, text: str) -> None:
        """`mark text` on stderr: the mark styled on a terminal, plain text otherwise."""
        if self.tty:
            self.console.print(Text.assemble((mark, style), " ", text))
        else:
            sys.stderr.write(f"{mark} {text}\n")
            sys.stderr.flush()

    def error(
        self, message: str, exit_code: int, defect: bool = True, **fields: Any
    ) -> None:
        """The failure as one line `xmargin: error: …` (details indented below), always shown.

        Exit 4 is labelled "internal error" when it is a `defect` of ours, not when it is the
        machine's state (a full disk says so itself).
        """
        first, _, rest = str(message).strip().partition("\n")
        if self.log_json:
            log_event(log, "error", logging.ERROR, message, exit_code=exit_code, **fields)
        else:
            body = first + "".join(f"\n  {ln.strip()}" for ln in rest.splitlines() if ln.strip())
            # Exit 4 is a defect, not the input's fault; say so once (run.py may already have).
            internal = defect and exit_code == 4 and not first.startswith("internal error")
            label = "internal error" if internal else "error"
            self._write(f"xmargin: {label}:", "bold red", body)
        self.emit({"status": "failed", "exit_code": exit_code, "message": message, **fields})

    def emit(self, payload: dict[str, Any]) -> None:
        """The `--json` summary: one object on stdout, at most once per invocation."""
        if self.json_out and not self.emitted:
            self.emitted = True
            sys.stdout.write(json.dumps(payload, default=str, sort_keys=True) + "\n")
            sys.stdout.flush()


ui = Ui()


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


class StageProgress:
    """The `ProgressFn` of `pipeline.run`: a spinner with elapsed time per stage, then a line."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        stage = str(info.get("stage", ""))
        if event == "start":
            extra = f" ({info['shards']} shard(s))" if "shards" in info else ""
            if ui.live:
                self._stop()
                self._progress = Progress(
                    SpinnerColumn(),
                    TextColumn("{task.description}"),
                    TimeElapsedColumn(),
                    console=ui.console,
                    transient=True,
                )
                self._progress.start()
                self._task = self._progress.add_task(f"{stage}{extra} …", total=None)
            else:
                ui.line("▶", f"{stage}{extra} …", "cyan", event="stage_start", stage=stage)
            return
        self._stop()
        counts = {k: v for k, v in info.items() if k not in {"stage", "seconds", "output_dir"}}
        details = " ".join(f"{k}={_count(v)}" for k, v in counts.items())
        seconds = float(info.get("seconds", 0.0))
        failed = info.get("outcome") == "failed"
        ui.line(
            "✗" if failed else "✓",
            f"{stage} in {seconds:.2f}s {details}".rstrip(),
            "red" if failed else "green",
            event="stage_done",
            stage=stage,
            seconds=seconds,
            **counts,
        )


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


def _fail(exc: XmarginError, **fields: Any) -> NoReturn:
    ui.error(str(exc), exc.exit_code, exc.defect, **fields)
    raise typer.Exit(exc.exit_code)


def _money(value: Any) -> str:
    return f"${float(value):,.2f}" if isinstance(value, int | float) else "n/a"


DateOpt = Annotated[str, typer.Option("--date", help="Business date YYYY-MM-DD.")]
RootOpt = Annotated[
    Path | None,
    typer.Option("--data-root", help=f"Data root (default ${DATA_ROOT_ENV} or ./data)."),
]


@app.callback()
def _main(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress output; errors only.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout for scripts.")
    ] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option("--log-format", help="stderr as text for people or JSON lines for logs."),
    ] = LogFormat.text,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO.")] = False,
) -> None:
    """Nightly FICC-CME cross-margining and SEC Rule 15c3-3 reserve batch."""
    log_json = log_format is LogFormat.json
    ui.reset(quiet=quiet, json_out=json_out, log_json=log_json)
    # JSON logs exist for collectors, which want the stage events: INFO unless quiet.
    level = logging.INFO if verbose or (log_json and not quiet) else logging.WARNING
    configure_logging(log_format.value, level)


@app.command()
def version() -> None:
    """Print the software version."""
    if ui.json_out:
        ui.emit({"version": __version__})
    else:
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
        ui.line("✓", f"{stage}: {rows:,} rows", event="generated", stage=stage, rows=rows)

    try:
        paths = generate_inputs(root, day, n_accounts=accounts, seed=seed, progress=progress)
    except XmarginError as exc:
        _fail(exc, business_date=day.isoformat())
    folder = next(iter(paths.values())).parent
    ui.line("✓", f"inputs for {day.isoformat()} written to {folder}", event="generate_done")
    ui.emit(
        {
            "status": "success",
            "exit_code": 0,
            "business_date": day.isoformat(),
            "files": {k: str(v) for k, v in paths.items()},
        }
    )


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
    with StageProgress() as progress:
        result = run_date(day, _root(data_root), params, force, shards, progress, keep_work)
    payload = result.to_json()
    if not result.ok:
        extra = {k: payload[k] for k in ("business_date", "run_id", "quarantine_dir")}
        message = result.message
        if result.quarantine_dir:
            message += f"\nquarantined: {result.quarantine_dir}"
        ui.error(message, result.exit_code, result.defect, **extra)
        raise typer.Exit(result.exit_code)
    report = result.output_dir / "report.html" if result.output_dir else None
    payload["report"] = str(report) if report and report.is_file() else None
    s = result.summary
    reserve = s.get("reserve_requirement") or {}
    reserve_text = ", ".join(f"{book} {_money(v)}" for book, v in reserve.items()) or "n/a"
    ui.line(
        "✓",
        f"{day.isoformat()} published → {result.output_dir}: {_count(s.get('accounts'))} "
        f"accounts, {_count(s.get('calls'))} calls (${s.get('sum_call_amount') or 0:,}), "
        f"reserve {reserve_text}",
        event="published",
        business_date=day.isoformat(),
        output_dir=str(result.output_dir),
    )
    if payload["report"]:
        ui.line("✓", f"report: {payload['report']}", event="report", path=payload["report"])
    ui.emit(payload)


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
        day = result.business_date.isoformat()
        if result.ok:
            ui.line("✓", f"{day}: {result.message}", event="date_done", business_date=day)
        else:
            ui.line(
                "✗",
                f"{day}: exit {result.exit_code}: {result.message}",
                "red",
                event="date_failed",
                business_date=day,
                exit_code=result.exit_code,
            )

    try:
        with StageProgress() as progress:
            results = run_backfill(first, last, _root(data_root), params, shards, progress, report)
    except XmarginError as exc:
        _fail(exc)
    failed = [r for r in results if not r.ok]
    ui.line(
        "✓" if not failed else "✗",
        f"backfill: {len(results) - len(failed)} succeeded, {len(failed)} failed",
        "green" if not failed else "red",
        event="backfill_done",
        succeeded=len(results) - len(failed),
        failed=len(failed),
    )
    code = max((r.exit_code for r in failed), default=0)
    ui.emit(
        {
            "status": "success" if not failed else "failed",
            "exit_code": code,
            "dates": [r.to_json() for r in results],
            "failed": len(failed),
        }
    )
    if failed:
        raise typer.Exit(code)


@app.command()
def history(
    start: Annotated[str, typer.Option("--start", help="First date D1, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last date D2, YYYY-MM-DD.")],
    data_root: RootOpt = None,
    params: Annotated[
        Path | None, typer.Option("--params", help="Parameters as given, not those of D2.")
    ] = None,
) -> None:
    """Compliance history of the published dates from --start to --end into compliance/D1_D2/."""
    from pipeline.history import run_history

    first, last = _parse_date(start, "--start"), _parse_date(end, "--end")
    window = {"start": first.isoformat(), "end": last.isoformat()}
    try:
        with StageProgress() as progress:
            result = run_history(first, last, _root(data_root), params, progress)
    except XmarginError as exc:
        _fail(exc, **window)
    missing = f" (not published: {', '.join(result.missing_dates)})" if result.missing_dates else ""
    findings = sum(result.exceptions.values())
    ui.line(
        "✓",
        f"history {first.isoformat()} … {last.isoformat()} → {result.output_dir}: "
        f"{result.published_dates} of {result.window_dates} business dates published{missing}, "
        f"daily computation {result.daily_computation}, {findings} exception(s)",
        event="history_done",
        output_dir=str(result.output_dir),
        **window,
    )
    page = result.output_dir / "compliance.html"
    ui.line("✓", f"page: {page}", event="compliance_page", path=str(page))
    ui.emit({**result.to_json(), "page": str(page)})


@app.command()
def validate(
    date: DateOpt,
    data_root: RootOpt = None,
    params: Annotated[Path | None, typer.Option("--params")] = None,
    force: Annotated[bool, typer.Option("--force")] = False,
) -> None:
    """Run the data contracts for D only (nothing is computed or published)."""
    from pipeline import scratch
    from pipeline.run import start_run, validate_inputs

    day = _parse_date(date)
    ctx = None
    try:
        ctx = start_run(day, _root(data_root), params, force)
        with StageProgress() as progress:
            outcome = validate_inputs(ctx, progress)
    except XmarginError as exc:
        quarantine = getattr(exc, "quarantine_dir", None)
        _fail(
            exc,
            business_date=day.isoformat(),
            quarantine_dir=str(quarantine) if quarantine else None,
        )
    finally:
        # Its results stay for the person to read; the next runs of D tidy them (scratch).
        if ctx is not None:
            scratch.mark_ended(ctx.work_dir, "validated")
            scratch.release(ctx.work_dir)
    ui.line("✓", f"validation results: {ctx.validation_dir}", event="validation_done")
    ui.emit(
        {
            "status": "success",
            "business_date": day.isoformat(),
            "exit_code": 0,
            "validation_dir": str(ctx.validation_dir),
            "files": outcome.to_manifest(),
        }
    )


@app.command()
def report(date: DateOpt, data_root: RootOpt = None) -> None:
    """Re-render report.html for D from its published outputs."""
    from pipeline.reports import render_report

    day = _parse_date(date)
    out = _root(data_root) / "outputs" / f"business_date={day.isoformat()}"
    if not (out / "_SUCCESS").is_file():
        ui.error(
            f"no published outputs for {day.isoformat()} in {out}: expected a folder with "
            f"_SUCCESS (run `xmargin run --date {day.isoformat()}` first)",
            MISSING_OUTPUTS_EXIT,
            business_date=day.isoformat(),
        )
        raise typer.Exit(MISSING_OUTPUTS_EXIT)
    try:
        render_report(out.resolve())
    except XmarginError as exc:
        _fail(exc, business_date=day.isoformat())
    # Name the page by the stable `business_date=D` link, not the run folder it points at today.
    path = out / "report.html"
    ui.line("✓", f"report: {path}", event="report", path=str(path))
    ui.emit(
        {"status": "success", "exit_code": 0, "business_date": day.isoformat(), "report": str(path)}
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `xmargin` console script; returns the SPEC §8 exit code."""
    ui.reset(quiet=False, json_out=False, log_json=False)
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        code = code if isinstance(code, int) else (0 if code is None else 2)
        if code:
            # Click already printed the usage error; scripts still get their one JSON object.
            ui.emit({"status": "failed", "exit_code": code, "message": "bad invocation"})
        return code
    except XmarginError as exc:
        ui.error(str(exc), exc.exit_code, exc.defect)
        return exc.exit_code
    except Exception as exc:  # a defect must not masquerade as exit 1 (validation rejected)
        log.exception("internal error")
        ui.error(f"{type(exc).__name__}: {exc}", 4)
        return 4
    return 0
