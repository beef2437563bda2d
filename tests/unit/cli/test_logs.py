"""Structured logs of `pipeline.logs` (SPEC §8 operations): JSON lines and text with fields."""

from __future__ import annotations

import json
import logging

import pytest

from pipeline.logs import configure_logging, log_event


def test_json_records_carry_event_fields_and_rename_reserved_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", logging.INFO)
    log_event(logging.getLogger("xmargin.test"), "stage_done", stage="margin", rows=5, name="x")
    record = json.loads(capsys.readouterr().err)
    assert record["msg"] == "stage_done"
    assert record["event"] == "stage_done"
    assert record["stage"] == "margin"
    assert record["rows"] == 5
    # "name" is a LogRecord attribute: kept, under a name that cannot clash.
    assert record["name_"] == "x"
    assert record["logger"] == "xmargin.test"


def test_text_records_append_fields_and_respect_the_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("text", logging.WARNING)
    log = logging.getLogger("xmargin.test")
    log_event(log, "hidden", rows=1)
    log_event(log, "refused", logging.ERROR, "date refused", exit_code=2)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].endswith("ERROR xmargin.test: date refused event=refused exit_code=2")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="expected one of text, json"):
        configure_logging("xml")
