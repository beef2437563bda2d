"""ODCS data contracts compiled to Great Expectations suites; validation, staging, quarantine.

Implements SPEC §3 through the interface of docs/ARCHITECTURE.md ("pipeline.contracts").
"""

from pipeline.contracts.compiler import CompiledContract, CompileEnv, Rule, compile_contract
from pipeline.contracts.odcs import Contract, Property, QualityRule, load_contract
from pipeline.contracts.outcome import Check, FileOutcome, ValidationOutcome
from pipeline.contracts.report import finish_validation, render_html
from pipeline.contracts.validate import iter_validate, validate_files

__all__ = [
    "Check",
    "CompileEnv",
    "CompiledContract",
    "Contract",
    "FileOutcome",
    "Property",
    "QualityRule",
    "Rule",
    "ValidationOutcome",
    "compile_contract",
    "finish_validation",
    "iter_validate",
    "load_contract",
    "render_html",
    "validate_files",
]
