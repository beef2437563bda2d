"""Where the package finds the files it ships: data contracts, the default parameters, SQL models.

The one source of each is the top-level folder a person edits (`data_contracts/`, `params/`,
`sql/`); `pipeline/_data/<folder>` is a symlink to it, which setuptools follows when it builds the
wheel, so an installed package carries the very same bytes under `pipeline/_data/` and never
needs a checkout (issue 11). Every user reaches these folders through this module only.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _shipped(folder: str) -> Path:
    """The shipped `folder` as a real path (the package is installed unpacked, never zipped)."""
    return Path(str(files("pipeline").joinpath("_data", folder)))


CONTRACTS_DIR = _shipped("data_contracts")
"""One ODCS contract per input file (SPEC §3)."""
SHIPPED_PARAMS_DIR = _shipped("params")
"""The shipped default parameter file(s) (SPEC §2.10); the data root's `params/` competes."""
SQL_DIR = _shipped("sql")
"""DuckDB statements, one per file, for the history reports (SPEC §10)."""
