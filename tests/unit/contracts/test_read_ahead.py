"""The FIXML input read ahead while the CSVs before it are validated (issue 13).

Reading ahead changes when the bytes are read, never what validation decides: the same outcome,
report and staged copy as reading in turn, the same refusal for a broken file, and an error in
an earlier file ends the read instead of leaving it running.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest

from pipeline.contracts import validate as validate_module
from pipeline.errors import InternalError
from pipeline.run import start_run, validate_stage
from tests.unit.contracts.conftest import DATE, PARAMS, Inbox

D = dt.date.fromisoformat(DATE)


def _validate(root: Path) -> tuple[dict[str, dict[str, object]], Path]:
    ctx = start_run(D, root, params_file=PARAMS)
    outcome = validate_stage(ctx)
    summaries = {}
    for f in outcome.files:
        doc = json.loads((ctx.validation_dir / f"{f.name}.json").read_text())["summary"]
        doc.pop("seconds")
        summaries[f.name] = doc
    return summaries, ctx.staged_dir


def _record_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Wrap `read_raw` to record (input, thread name) in the order the reads start."""
    seen: list[tuple[str, str]] = []
    real = validate_module.read_raw

    def recording(ctx, spec, path):  # type: ignore[no-untyped-def]
        seen.append((spec.name, threading.current_thread().name))
        return real(ctx, spec, path)

    monkeypatch.setattr(validate_module, "read_raw", recording)
    return seen


def test_the_fixml_file_is_read_first_in_a_thread_of_its_own(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_reads(monkeypatch)
    _validate(inbox.root)
    assert seen[0][0] == "cme_positions", seen
    assert seen[0][1].startswith("xmargin-read-ahead"), seen
    assert all(thread == "MainThread" for _, thread in seen[1:]), seen
    assert len(seen) == 9 and len({name for name, _ in seen}) == 9


@pytest.mark.parametrize(
    "broken",
    [
        ("</FIXML>", ""),  # truncated: the reader's own refusal
        ('ID="XM1" R="24"', 'ID="ZZ9" R="24"'),  # a contract rule (unknown account)
    ],
    ids=["unreadable", "rule"],
)
def test_read_ahead_decides_exactly_what_reading_in_turn_decides(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch, broken: tuple[str, str]
) -> None:
    text = inbox.text("cme_positions")
    old, new = broken
    if old not in text:
        pytest.fail(f"{old!r} not in the golden FIXML file: the test needs another edit")
    inbox.write("cme_positions", text.replace(old, new, 1))
    ahead, _ = _validate(inbox.root)
    monkeypatch.setattr(validate_module, "READ_AHEAD_MAX_BYTES", -1)  # every file in turn
    seen = _record_reads(monkeypatch)
    in_turn, _ = _validate(inbox.root)
    assert all(thread == "MainThread" for _, thread in seen), seen
    assert ahead["cme_positions"]["outcome"] == "failed"
    assert ahead == in_turn


def test_a_passing_night_stages_the_same_bytes_either_way(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    ahead, staged_ahead = _validate(inbox.root)
    monkeypatch.setattr(validate_module, "READ_AHEAD_MAX_BYTES", -1)
    in_turn, staged_in_turn = _validate(inbox.root)
    assert ahead == in_turn
    assert {f["outcome"] for f in ahead.values()} == {"passed"}
    for path in staged_ahead.glob("*.parquet"):
        assert path.read_bytes() == (staged_in_turn / path.name).read_bytes(), path.name


def test_an_error_in_an_earlier_file_ends_the_read_ahead(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()
    finished = threading.Event()
    real = validate_module.read_raw

    def slow_fixml(ctx, spec, path):  # type: ignore[no-untyped-def]
        if spec.name == "cme_positions":
            started.set()
            try:
                return real(ctx, spec, path)
            finally:
                finished.set()
        raise InternalError("boom while reading " + spec.name)

    monkeypatch.setattr(validate_module, "read_raw", slow_fixml)
    with pytest.raises(InternalError, match="boom while reading accounts"):
        _validate(inbox.root)
    # validate_files returned only after the read ahead had ended: nothing still reads.
    assert started.is_set() and finished.is_set()
    assert not [t for t in threading.enumerate() if t.name.startswith("xmargin-read-ahead")]
