"""The SQL models of `sql/` (SPEC §10, STYLE.md): one statement per file, named for what it
produces, import CTEs then logic then `select * from final`, values only ever bound."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.errors import InternalError
from pipeline.history.models import ModelRunner, load_models
from pipeline.history.schemas import HISTORY_TABLES, model_of
from pipeline.resources import SQL_DIR

MODELS = load_models(SQL_DIR)
FILES = sorted(SQL_DIR.glob("*.sql"))


def _code(path: Path) -> str:
    return re.sub(r"--[^\n]*", "", path.read_text())


def test_every_section_10_table_has_its_report_model_and_nothing_else_is_reported() -> None:
    reports = {name for name in MODELS if name.startswith("rpt_")}
    assert reports == {model_of(t) for t in HISTORY_TABLES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_model_shape(path: Path) -> None:
    code = _code(path)
    assert ";" not in code, "one statement per file"
    assert code.strip().startswith("with"), "import CTEs first"
    assert re.search(r"select \* from final\s*(order by [^()]+)?\s*$", code), "ends on final"
    words = re.sub(r"'[^']*'", "''", code)  # the spec's enum values are upper case
    assert words == words.lower(), "lowercase SQL"
    # No data in the SQL text: no dates, paths or amounts, only bound parameters.
    assert not re.search(r"'\d{4}-\d{2}", code), "a date literal"
    assert not re.search(r"'[^']*(/|\.parquet|\.json)[^']*'", code), "a path literal"
    assert not re.search(r"\b\d{6,}\b", code), "an amount (the threshold is bound)"


@pytest.mark.parametrize("path", [p for p in FILES if p.name.startswith("stg_")], ids=str)
def test_staging_models_read_only_through_bound_file_lists(path: Path) -> None:
    code = _code(path)
    assert re.findall(r"read_(?:parquet|blob)\((\$[a-z_]+)\)", code), "reads a bound file list"
    assert "read_" not in re.sub(r"read_(?:parquet|blob)\(\$[a-z_]+\)", "", code)
    assert not re.search(r"\b(int|rpt|stg)_[a-z_]+\b", code.replace(path.stem, "")), (
        "staging reads published files only"
    )


def test_joins_are_explicit() -> None:
    """No comma joins: every `from` names one relation; joins say their kind."""
    for path in FILES:
        for line in _code(path).splitlines():
            if re.match(r"\s*from\s", line):
                assert "," not in line, f"{path.name}: {line.strip()}"


def test_references_are_found_and_ephemeral_staging_is_spliced() -> None:
    exceptions = MODELS["rpt_history_exceptions"]
    assert {
        "int_calendar",
        "rpt_deposit_compliance",
        "rpt_segregation_history",
        "rpt_call_history",
        "rpt_document_exceptions",
        "rpt_daily_computation_test",
    } <= exceptions.refs
    runner = ModelRunner(MODELS, {})
    try:
        compiled = runner.compiled("int_chains")
    finally:
        runner.close()
    assert compiled.startswith("with\nstg_exceptions as (")
    assert "stg_margin_calls as (" in compiled
    assert "read_parquet($margin_calls_files)" in compiled


def test_an_unbound_parameter_is_an_internal_error(tmp_path: Path) -> None:
    (tmp_path / "int_one.sql").write_text("with\n\nx as (select $missing as v)\n\nselect * from x")
    runner = ModelRunner(load_models(tmp_path), {})
    try:
        with pytest.raises(InternalError, match="missing"):
            runner.materialize()
    finally:
        runner.close()


def test_a_misnamed_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Report.sql").write_text("select 1")
    with pytest.raises(InternalError, match="stg_/int_/rpt_"):
        load_models(tmp_path)
