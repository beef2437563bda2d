"""Property tests reuse the margin test builders of tests/unit/margin and the oracle here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "margin"))
sys.path.insert(0, str(Path(__file__).parent))
