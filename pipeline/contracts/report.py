"""Validation results for people: the HTML page, the merged JSON and the quarantine (SPEC §3)."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any

from pipeline.context import RunContext
from pipeline.contracts.outcome import Check, FileOutcome, ValidationOutcome
from pipeline.contracts.validate import load_outcome
from pipeline.errors import ValidationRejected
from pipeline.ingest.staging import write_text_atomic

_MESSAGE_LINES = 20

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#1b1f24}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0 1em}
td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top;font-size:.9em}
th{background:#f6f8fa}.passed{color:#1a7f37}.warning{color:#9a6700}.failed{color:#cf222e}
.badge{font-weight:bold;text-transform:uppercase}code{font-size:.85em}
details{margin:.2em 0}summary{cursor:pointer}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _examples_table(check: Check) -> str:
    if not check.examples:
        return ""
    if all("values" in ex for ex in check.examples):
        columns: list[str] = []
        for ex in check.examples:
            columns += [c for c in ex["values"] if c not in columns]
        head = "".join(f"<th>{_e(c)}</th>" for c in ["line", *columns])
        body = "".join(
            "<tr>"
            + f"<td>{_e(ex.get('line'))}</td>"
            + "".join(f"<td>{_e(ex['values'].get(c))}</td>" for c in columns)
            + "</tr>"
            for ex in check.examples
        )
    else:
        keys: list[str] = []
        for ex in check.examples:
            keys += [k for k in ex if k not in keys]
        head = "".join(f"<th>{_e(k)}</th>" for k in keys)
        body = "".join(
            "<tr>" + "".join(f"<td>{_e(ex.get(k))}</td>" for k in keys) + "</tr>"
            for ex in check.examples
        )
    return (
        f"<details open><summary>{len(check.examples)} example(s)</summary>"
        f"<table><tr>{head}</tr>{body}</table></details>"
    )


def _file_section(f: FileOutcome) -> str:
    rows = []
    for c in sorted(f.checks, key=lambda c: (c.success, c.severity != "error")):
        status = "passed" if c.success else ("failed" if c.severity == "error" else "warning")
        rows.append(
            "<tr>"
            f"<td><code>{_e(c.rule)}</code></td><td>{_e(c.column)}</td>"
            f"<td>{_e(c.severity)}</td><td class='{status}'>{status}</td>"
            f"<td>{c.failing_count:,}</td><td>{_e(c.description)}</td>"
            f"<td>{_e(c.detail)}{_examples_table(c)}</td>"
            "</tr>"
        )
    skipped = "".join(f"<li>{_e(s)}</li>" for s in f.skipped)
    return (
        f"<h2 id='{_e(f.name)}'>{_e(f.path.name)} "
        f"<span class='badge {f.outcome}'>{f.outcome}</span></h2>"
        f"<p>{f.rows:,} rows · {f.bytes:,} bytes · contract {_e(f.name)} v{_e(f.contract_version)}"
        f" · sha256 <code>{_e(f.sha256)}</code> · {f.seconds:.2f}s</p>"
        + (f"<p>Not checked:</p><ul>{skipped}</ul>" if skipped else "")
        + "<table><tr><th>rule</th><th>column</th><th>severity</th><th>status</th>"
        "<th>failing</th><th>expected</th><th>detail and examples</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def render_html(outcome: ValidationOutcome, title: str = "Input validation") -> str:
    """One self-contained page: per file, per rule, status, failing count and examples."""
    summary = "".join(
        f"<tr><td><a href='#{_e(f.name)}'>{_e(f.path.name)}</a></td>"
        f"<td class='{f.outcome}'>{f.outcome}</td><td>{f.rows:,}</td>"
        f"<td>{len(f.errors)}</td><td>{len(f.warnings)}</td></tr>"
        for f in outcome.files
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{_e(title)} {outcome.business_date}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)} for {outcome.business_date} "
        f"<span class='badge {outcome.outcome}'>{outcome.outcome}</span></h1>"
        f"<p>Run <code>{_e(outcome.run_id)}</code>. Rules come from the ODCS contracts in "
        "<code>data_contracts/</code>, run as Great Expectations suites (SPEC §3).</p>"
        "<table><tr><th>file</th><th>outcome</th><th>rows</th><th>errors</th>"
        f"<th>warnings</th></tr>{summary}</table>"
        + "".join(_file_section(f) for f in outcome.files)
        + "</body></html>"
    )


def rejection_message(outcome: ValidationOutcome, quarantine: Path) -> str:
    """Names file, rule, column and failing count of every error (SPEC §3)."""
    lines = []
    for f in outcome.rejected:
        for c in f.errors:
            example = c.example_text()
            lines.append(
                f"  {f.path.name}: rule {c.rule}, column {c.column or '-'}: "
                f"{c.failing_count:,} failing (expected {c.description})"
                + (f"; {c.detail}" if c.detail else "")
                + (f"; e.g. {example}" if example else "")
            )
    shown = lines[:_MESSAGE_LINES]
    if len(lines) > len(shown):
        shown.append(f"  ... {len(lines) - len(shown)} more in {quarantine / 'report.html'}")
    files = ", ".join(f.path.name for f in outcome.rejected)
    return (
        f"input rejected for {outcome.business_date}: {files} "
        f"(quarantined in {quarantine})\n" + "\n".join(shown)
    )


def finish_validation(ctx: RunContext) -> ValidationOutcome:
    """Merge per-file results; on any error quarantine and raise ValidationRejected (SPEC §3)."""
    outcome = load_outcome(ctx)
    doc = json.dumps(outcome.to_json(), indent=1, default=str)
    page = render_html(outcome)
    write_text_atomic(ctx.validation_dir / "validation_results.json", doc)
    write_text_atomic(ctx.validation_dir / "index.html", page)
    if not outcome.rejected:
        return outcome
    quarantine = ctx.quarantine_dir
    quarantine.mkdir(parents=True, exist_ok=True)
    for f in outcome.rejected:
        shutil.copy2(f.path, quarantine / f.path.name)
    write_text_atomic(quarantine / "report.json", doc)
    write_text_atomic(quarantine / "report.html", render_html(outcome, "Rejected input"))
    raise ValidationRejected(rejection_message(outcome, quarantine), quarantine_dir=quarantine)
