"""A run of one business date: its identity and its folders, shared by the CLI and Airflow tasks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline import scratch
from pipeline.config import Params, load_params
from pipeline.errors import InternalError, ParameterError

DATA_ROOT_ENV = "XMARGIN_DATA_ROOT"
CONTEXT_FILE = scratch.CONTEXT
# The run's own copy of its parameter file: every task loads this, never the original.
PARAMS_COPY = "params.yaml"


def default_data_root() -> Path:
    """`$XMARGIN_DATA_ROOT`, else `./data` (SPEC §8)."""
    return Path(os.environ.get(DATA_ROOT_ENV, "data")).resolve()


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique run id: UTC start time plus random suffix."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class RunContext:
    """What a stage needs to find its inputs and outputs; each task rebuilds it from strings.

    A run is frozen at its start: its parameters are the copy in its work folder, checked by
    sha256 on every load, so every task of one run computes with the same file (issue 11).
    """

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
        params: Params,
        run_id: str | None = None,
        driver: str = scratch.DRIVER_CLI,
    ) -> RunContext:
        """A new run of D, frozen at its start: the parameter file's bytes are copied into the
        work folder and `context.json` describes the run, for every later task (SPEC §2.10, §8).

        `params` is the file selected once for the run (`pipeline.run.preflight`); its bytes are
        read again here and must still hash to `params.sha256`, so the copy is exactly what was
        parsed. `driver` (`cli` or `airflow`) tells `pipeline.scratch` how to tell whether the
        run is alive; this process holds the folder from before anything is written in it.
        """
        from pipeline.ingest.staging import write_bytes_atomic, write_text_atomic

        started = dt.datetime.now(dt.UTC)
        ctx = cls(
            business_date=business_date,
            data_root=data_root.resolve(),
            run_id=run_id or new_run_id(started),
            params=params,
            started_at=started,
        )
        try:
            raw = params.source.read_bytes()
        except OSError as exc:
            raise ParameterError(
                f"parameter file {params.source}: cannot be read ({exc.strerror})"
            ) from exc
        found = hashlib.sha256(raw).hexdigest()
        if found != params.sha256:
            raise ParameterError(
                f"parameter file {params.source} changed while the run was starting: selected "
                f"with sha256 {params.sha256}, found {found}; run again"
            )
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        scratch.hold(ctx.work_dir)
        scratch.revive(ctx.work_dir)
        write_bytes_atomic(ctx.params_copy, raw)
        described = {**ctx.describe(), "driver": driver}
        write_text_atomic(ctx.work_dir / CONTEXT_FILE, json.dumps(described, indent=2))
        return ctx

    @classmethod
    def load(cls, business_date: dt.date, data_root: Path, run_id: str) -> RunContext:
        """The run created earlier (possibly by another process or worker), from its work
        folder alone: `context.json` and the frozen parameter copy, whose sha256 must match.

        The parameter file the run was selected from is never read again: edited or removed
        since, it changes nothing of this run.
        """
        root = data_root.resolve()
        work = root / "work" / f"{business_date:%Y%m%d}" / run_id
        described = work / CONTEXT_FILE
        try:
            doc = json.loads(described.read_text())
        except (OSError, ValueError) as exc:
            raise InternalError(
                f"run {run_id} of {business_date.isoformat()}: cannot read {described} ({exc});"
                " expected the context start_run wrote (work folder removed?)"
            ) from exc
        if doc.get("business_date") != business_date.isoformat() or doc.get("run_id") != run_id:
            raise InternalError(
                f"{described}: describes run {doc.get('run_id')} of {doc.get('business_date')},"
                f" expected run {run_id} of {business_date.isoformat()}"
            )
        # This process uses the folder now: no tidy of another run may remove it meanwhile.
        scratch.hold(work)
        scratch.revive(work)
        copy = work / PARAMS_COPY
        try:
            params = load_params(copy) if copy.is_file() else None
        except ParameterError as exc:
            raise InternalError(f"run {run_id}: frozen parameter copy {copy}: {exc}") from exc
        if params is None:
            raise InternalError(f"run {run_id}: frozen parameter copy {copy} is missing")
        if params.sha256 != doc.get("params_sha256"):
            raise InternalError(
                f"run {run_id}: frozen parameter copy {copy} has sha256 {params.sha256}, "
                f"{CONTEXT_FILE} recorded {doc.get('params_sha256')}: changed since the run "
                "started"
            )
        return cls(
            business_date=business_date,
            data_root=root,
            run_id=run_id,
            # The manifest names the file the run was selected from, not the copy.
            params=replace(params, source=Path(doc["params_source"])),
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
    def params_copy(self) -> Path:
        """The run's frozen copy of its parameter file (SPEC §2.10): what every task loads."""
        return self.work_dir / PARAMS_COPY

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
