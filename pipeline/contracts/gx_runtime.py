"""Great Expectations 1.x, quiet and offline: one ephemeral context per process (SPEC §3).

GX is imported here only, after its analytics are switched off and its import-time logging is
silenced; every other module of the package goes through `gx()`, `expectations()` and `run_suite`.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from functools import cache
from types import ModuleType
from typing import Any

import pandas as pd

# Read by GX when it is first imported: no usage statistics leave the machine.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

RESULT_FORMAT: dict[str, Any] = {
    "result_format": "SUMMARY",
    # SPEC §3 asks for up to 20 example rows per failed rule.
    "partial_unexpected_count": 20,
    "include_unexpected_rows": False,
}

_lock = threading.Lock()


@cache
def gx() -> ModuleType:
    """The `great_expectations` module, imported once with its noise silenced."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    for name in ("great_expectations", "great_expectations.core", "posthog", "tzlocal"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations

    return great_expectations


@cache
def expectations() -> ModuleType:
    """`great_expectations.expectations` (the built-in Expectation classes)."""
    gx()
    import great_expectations.expectations as gxe

    return gxe


@cache
def _context() -> Any:
    gx_mod = gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every batch below this size with an md5 over all cells, twice per
    # validation: seconds on 10M rows. Inputs are identified by the sha256 of their file instead.
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx_mod.get_context(mode="ephemeral", project_config=config)
    context.data_sources.add_pandas("xmargin_inputs")
    return context


def run_suite(suite: Any, frame: pd.DataFrame, asset_name: str) -> Any:
    """Validate a pandas frame (Arrow-backed) against a suite; returns GX's validation result."""
    with _lock:
        context = _context()
        source = context.data_sources.get("xmargin_inputs")
        try:
            asset = source.get_asset(asset_name)
        except LookupError:
            asset = source.add_dataframe_asset(asset_name)
        try:
            definition = asset.get_batch_definition("whole")
        except (KeyError, LookupError):
            definition = asset.add_batch_definition_whole_dataframe("whole")
    batch = definition.get_batch(batch_parameters={"dataframe": frame})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return batch.validate(suite, result_format=RESULT_FORMAT)
