"""A run of one business date: its identity and its folders, shared by the CLI and Airflow tasks."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Params, select_params

DATA_ROOT_ENV = "XMARGIN_DATA_ROOT"


def default_data_root() -> Path:
    """`$XMARGIN_DATA_ROOT`, else `./data` (SPEC §8)."""
    return Path(os.environ.get(DATA_ROOT_ENV, "data")).resolve()


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique run id: UTC start time plus random suffix."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class RunContext:
    """What a stage needs to find its inputs and outputs; each task rebuilds it from strings."""

    business_date: dt.date
    data_root: Path
    run_id: str
    params: Params
    started_at: dt.datetime

    @classmethod
    def create(
        cls,
        business_date: dt.date,
        data_root: Path,
        params_file: Path | None = None,
        run_id: str | None = None,
    ) -> RunContext:
        """A new run of D; its description is written to the work folder for later tasks."""
        started = dt.datetime.now(dt.UTC)
        params = select_params(business_date, data_root, params_file)
        ctx = cls(
            business_date=business_date,
            data_root=data_root.resolve(),
            run_id=run_id or new_run_id(started),
            params=params,
            started_at=started,
        )
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        (ctx.work_dir / "context.json").write_text(json.dumps(ctx.describe(), indent=2))
        return ctx

    @classmethod
    def load(cls, business_date: dt.date, data_root: Path, run_id: str) -> RunContext:
        """The run created earlier (possibly by another process or worker)."""
        work = data_root.resolve() / "work" / f"{business_date:%Y%m%d}" / run_id
        doc = json.loads((work / "context.json").read_text())
        params = select_params(business_date, data_root, Path(doc["params_source"]))
        return cls(
            business_date=business_date,
            data_root=data_root.resolve(),
            run_id=run_id,
            params=params,
            started_at=dt.datetime.fromisoformat(doc["started_at"]),
        )

    def describe(self) -> dict[str, str]:
        return {
            "business_date": self.business_date.isoformat(),
            "data_root": str(self.data_root),
            "run_id": self.run_id,
            "params_source": str(self.params.source),
            "params_version": self.params.version,
            "params_sha256": self.params.sha256,
            "started_at": self.started_at.isoformat(),
        }

    @property
    def ymd(self) -> str:
        return f"{self.business_date:%Y%m%d}"

    @property
    def inbox_dir(self) -> Path:
        return self.data_root / "inbox" / self.ymd

    @property
    def work_dir(self) -> Path:
        """Scratch space of this run: staged inputs, shards, validation results."""
        return self.data_root / "work" / self.ymd / self.run_id

    @property
    def staged_dir(self) -> Path:
        return self.work_dir / "staged"

    @property
    def validation_dir(self) -> Path:
        return self.work_dir / "validation"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_root / "quarantine" / self.ymd / self.run_id

    @property
    def outputs_root(self) -> Path:
        return self.data_root / "outputs"

    @property
    def output_dir(self) -> Path:
        """`outputs/business_date=YYYY-MM-DD/` (SPEC §7)."""
        return self.outputs_root / f"business_date={self.business_date.isoformat()}"
