"""What the benchmarks share: the CLI run as a measured child process, and the machine line.

Imported by the benchmark scripts from their own folder (`python benchmarks/<script>.py`).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# `✓ margin in 5.40s`, `✓ validate ficc_positions in 12.03s rows=...`, `✗ validate ... in 1.57s`
_STAGE_LINE = re.compile(r"^[✓✗] ([\w ]+?) in ([0-9.]+)s", re.MULTILINE)


def stage_seconds(stderr: str) -> dict[str, float]:
    """Wall seconds per stage from the CLI's stage lines, passed (✓) or failed (✗)."""
    return {m.group(1): float(m.group(2)) for m in _STAGE_LINE.finditer(stderr)}


def add_inbox_arguments(parser: argparse.ArgumentParser) -> None:
    """`--accounts`, `--date`, `--seed` and `--work`: the generated inbox that `run_benchmark.py`
    and `failing_rows.py` share, so the same defaults find the same files."""
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--date", default="2026-11-20")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "_work")


def generated_inbox(args: argparse.Namespace) -> tuple[Path, float | None]:
    """The inbox of `args.date` under `args.work`, generated (`xmargin generate`) unless it is
    there, and the seconds generating took (None if it was there). A failed generation prints
    the generator's stderr and exits with its code.
    """
    root = args.work.resolve()
    inbox = root / "inbox" / args.date.replace("-", "")
    if inbox.is_dir():
        return inbox, None
    started = time.perf_counter()
    gen = subprocess.run(
        [sys.executable, "-m", "pipeline", "--quiet", "generate", "--date", args.date,
         "--accounts", str(args.accounts), "--seed", str(args.seed), "--data-root", str(root)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if gen.returncode:
        print(gen.stderr, file=sys.stderr)
        raise SystemExit(gen.returncode)
    return inbox, time.perf_counter() - started


def xmargin_measured(
    *args: str,
) -> tuple[subprocess.CompletedProcess[str], float, float, float]:
    """`python -m pipeline ARGS` as a child: its result, wall seconds, peak RSS (GiB) and CPU
    seconds (user + system, with the worker processes it waited for).

    `wait4` on that one child, so nothing else the benchmark started counts towards the RSS.
    The pipes are drained by threads that only read: `communicate` would also reap the child
    and race `wait4` for it (ECHILD).
    """
    cmd = [sys.executable, "-m", "pipeline", *args]
    started = time.perf_counter()
    with subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        out: dict[str, str] = {}

        def drain(name: str, stream: Any) -> None:
            out[name] = stream.read()

        readers = [
            threading.Thread(target=drain, args=("stdout", proc.stdout)),
            threading.Thread(target=drain, args=("stderr", proc.stderr)),
        ]
        for reader in readers:
            reader.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        for reader in readers:
            reader.join()
    wall = time.perf_counter() - started
    done = subprocess.CompletedProcess(cmd, proc.returncode, out["stdout"], out["stderr"])
    return done, wall, usage.ru_maxrss / (1024 * 1024), usage.ru_utime + usage.ru_stime


def python_cpu(code: str) -> float:
    """CPU seconds (user + system) of `python -c CODE` in a child, e.g. one import."""
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"python -c {code!r} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def _steal_total() -> float | None:
    """CPU seconds the hypervisor has taken from this guest since boot, all CPUs (`/proc/stat`)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if fields[0] != "cpu" or len(fields) < 9:
        return None
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


class StealMeter:
    """CPU seconds the host took from this guest since the meter was made: how much of the
    machine a measurement did not get. `seconds()` is None where the kernel does not say.
    """

    def __init__(self) -> None:
        self._start = _steal_total()

    def seconds(self) -> float | None:
        now = _steal_total()
        return None if self._start is None or now is None else now - self._start


def machine() -> dict[str, Any]:
    """The machine the figures were measured on, as the benchmarks print it."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
