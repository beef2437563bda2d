"""Put the Chromium driver on the import path and give each browser test its own Chromium."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chromium_cdp import Cdp, launch


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Cdp]:
    with launch(tmp_path) as cdp:
        yield cdp
