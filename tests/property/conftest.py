"""Property tests reuse the margin test builders of tests/unit/margin."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "margin"))
