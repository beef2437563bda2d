"""One exception hierarchy for xmargin; each error carries the exit code of SPEC §8."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path


class XmarginError(Exception):
    """Base of every error the pipeline raises on purpose."""

    exit_code = 4
    # Whether exit 4 means a defect of ours ("internal error") rather than the machine's state.
    defect = True


class InvocationError(XmarginError):
    """Bad invocation: unknown date, bad option, unreadable parameter file (SPEC §8, exit 2)."""

    exit_code = 2


class NonBusinessDateError(InvocationError):
    """A run for a date on which the SIFMA U.S. bond market is closed (SPEC §1, exit 2)."""


class ParameterError(InvocationError):
    """A malformed or out-of-range parameter file (SPEC §2.10, exit 2)."""


class DataRootError(InvocationError):
    """The data root is absent or not a folder (SPEC §8, exit 2): nothing of D can be found."""


class ConcurrentRunError(InvocationError):
    """Another run of the same business date holds the lock (SPEC §8, exit 2)."""


class MissingInputError(XmarginError):
    """One or more input files for the date are absent (SPEC §8, exit 3)."""

    exit_code = 3

    def __init__(self, inbox: Path, missing: Sequence[str]) -> None:
        self.inbox = inbox
        self.missing = list(missing)
        names = ", ".join(self.missing)
        super().__init__(f"missing input file(s) in {inbox}: {names}")


class NothingPublishedError(XmarginError):
    """No business date of a history window is published (SPEC §10, exit 3): nothing written."""

    exit_code = 3


class InputsLateError(MissingInputError):
    """The input deadline of D passed with files still missing (SPEC §8, exit 3)."""

    def __init__(self, inbox: Path, missing: Iterable[str], deadline: dt.datetime) -> None:
        super().__init__(inbox, list(missing))
        self.deadline = deadline
        self.args = (
            f"input deadline {deadline.isoformat()} passed; still missing in {inbox}: "
            f"{', '.join(self.missing)}",
        )


class ValidationRejected(XmarginError):
    """An input broke an error-severity contract rule; the date is quarantined (SPEC §3, exit 1)."""

    exit_code = 1

    def __init__(self, message: str, quarantine_dir: Path | None = None) -> None:
        self.quarantine_dir = quarantine_dir
        super().__init__(message)


class UnusableInputError(ValidationRejected):
    """Input entries present but not usable as files: a link leading out of the data root, a
    directory, a FIFO, a device, a file that cannot be read (SPEC §8, exit 1).

    Refused at the presence check, before anything is read: there is nothing to quarantine.
    `problems` maps each file name to what it is.
    """

    def __init__(self, inbox: Path, problems: Mapping[str, str]) -> None:
        self.inbox = inbox
        self.problems = dict(problems)
        detail = "\n".join(f"{name} {why}" for name, why in self.problems.items())
        super().__init__(
            f"unusable input file(s) in {inbox}: {', '.join(self.problems)}; expected regular,"
            f" readable files inside the data root\n{detail}"
        )


class InternalError(XmarginError):
    """A defect or an environment failure that is not the input's fault (exit 4)."""

    exit_code = 4


def _size(n: int) -> str:
    """Bytes for a person: 312 KiB, 1.4 MiB, 2.0 GiB."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} bytes"


class DiskFullError(XmarginError):
    """No room left where the run writes (SPEC §8, exit 4): the machine's state, not a defect.

    Exit 4 because SPEC §8 has no code of its own for the environment and the input is not at
    fault (1, 3) nor the invocation (2); the message says plainly that the disk is full, which
    path could not be written, what is free there and, when known, how much is needed.
    """

    defect = False

    def __init__(self, path: Path, free: int, needed: int | None = None) -> None:
        self.path = path
        self.free = free
        self.needed = needed
        want = (
            f"{_size(needed)} needed" if needed is not None else "free some space and run again"
        )
        super().__init__(
            f"disk full: cannot write {path}: {_size(free)} free on its filesystem, {want}"
        )


class InputFormatError(ValidationRejected):
    """An input whose bytes or structure cannot be read as its format at all (SPEC §2, §8: exit 1).

    Raised by the readers (undecodable bytes, ragged or truncated rows, malformed or unsafe XML);
    validation turns it into a quarantined rejection with the same report as a contract failure.
    """

    def __init__(
        self,
        file: Path,
        rule: str,
        detail: str,
        examples: Sequence[dict[str, object]] = (),
        failing_count: int = 1,
    ) -> None:
        self.file = file
        self.rule = rule
        self.detail = detail
        self.examples = list(examples)
        self.failing_count = failing_count
        # Set by the reader that raised it: the sha256 and size of the bytes it read, from the
        # same open file (issue 11), so the rejection records the bytes that were judged.
        self.sha256: str | None = None
        self.size: int | None = None
        super().__init__(f"{file.name}: rule {rule}: {detail}")
