"""Validation outcomes per file and per run, as kept in JSON and the manifest (SPEC §3, §7.5)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

Outcome = Literal["passed", "warning", "failed"]
MAX_EXAMPLES = 20


@dataclass(frozen=True)
class Check:
    """The result of one contract rule on one file: status, failing count and example rows."""

    rule: str
    column: str | None
    severity: str
    description: str
    success: bool
    failing_count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    detail: str = ""
    expectation: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Check:
        return cls(**doc)

    def example_text(self) -> str:
        """The first example as `line N: col='v', ...` for one-line messages."""
        if not self.examples:
            return ""
        first = self.examples[0]
        values = first.get("values", {})
        shown = {self.column: values[self.column]} if self.column in values else values
        pairs = ", ".join(f"{k}={v!r}" for k, v in list(shown.items())[:4])
        where = f"line {first['line']}: " if "line" in first else ""
        return f"{where}{pairs}"


@dataclass(frozen=True)
class FileOutcome:
    """How one input fared against its contract (SPEC §3)."""

    name: str
    path: Path
    rows: int
    sha256: str
    bytes: int
    contract_version: str
    outcome: Outcome
    checks: list[Check] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[Check]:
        """Every rule that did not pass, errors first."""
        failed = [c for c in self.checks if not c.success]
        return sorted(failed, key=lambda c: c.severity != "error")

    @property
    def errors(self) -> list[Check]:
        return [c for c in self.failures if c.severity == "error"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.failures if c.severity == "warning"]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.path.name,
            "path": str(self.path),
            "rows": self.rows,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "contract_version": self.contract_version,
            "outcome": self.outcome,
            "seconds": self.seconds,
            "failures": [c.to_json() for c in self.failures],
            "checks": [c.to_json() for c in self.checks],
            "skipped": self.skipped,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FileOutcome:
        return cls(
            name=doc["name"],
            path=Path(doc["path"]),
            rows=int(doc["rows"]),
            sha256=doc["sha256"],
            bytes=int(doc["bytes"]),
            contract_version=doc["contract_version"],
            outcome=doc["outcome"],
            checks=[Check.from_json(c) for c in doc["checks"]],
            skipped=list(doc.get("skipped", [])),
            seconds=float(doc.get("seconds", 0.0)),
        )


def outcome_of(checks: list[Check]) -> Outcome:
    """failed on any error-severity failure, warning on warnings only, else passed (SPEC §3)."""
    failed = [c for c in checks if not c.success]
    if any(c.severity == "error" for c in failed):
        return "failed"
    return "warning" if failed else "passed"


@dataclass(frozen=True)
class ValidationOutcome:
    """The validation of every input of one run (SPEC §3)."""

    business_date: dt.date
    run_id: str
    files: list[FileOutcome]

    @property
    def rejected(self) -> list[FileOutcome]:
        return [f for f in self.files if f.outcome == "failed"]

    @property
    def outcome(self) -> Outcome:
        if self.rejected:
            return "failed"
        return "warning" if any(f.outcome == "warning" for f in self.files) else "passed"

    def to_json(self) -> dict[str, Any]:
        return {
            "business_date": self.business_date.isoformat(),
            "run_id": self.run_id,
            "outcome": self.outcome,
            "files": [f.to_json() for f in self.files],
        }

    def to_manifest(self) -> list[dict[str, Any]]:
        """Per-input entries of the manifest (SPEC §7.5)."""
        return [
            {
                "name": f.path.name,
                "input": f.name,
                "sha256": f.sha256,
                "bytes": f.bytes,
                "rows": f.rows,
                "contract_version": f.contract_version,
                "outcome": f.outcome,
            }
            for f in self.files
        ]

    def warnings_frame(self) -> pl.DataFrame:
        """Validation warnings as exceptions rows (SPEC §7.6), kind VALIDATION_WARNING."""
        details = [
            f"{f.path.name}: rule {c.rule}, column {c.column or '-'}: {c.failing_count} "
            f"failing ({c.description}){'; ' + c.detail if c.detail else ''}"
            for f in self.files
            for c in f.warnings
        ]
        return pl.DataFrame(
            {
                "business_date": [self.business_date] * len(details),
                "kind": ["VALIDATION_WARNING"] * len(details),
                "account_id": [None] * len(details),
                "detail": details,
            },
            schema={
                "business_date": pl.Date,
                "kind": pl.String,
                "account_id": pl.String,
                "detail": pl.String,
            },
        )
