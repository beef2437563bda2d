"""Rule 15c3-3 Exhibit A reserve computations and the 4d segregation schedule (SPEC §6)."""

from pipeline.reserve.exhibit_a import LINES, compute_reserve
from pipeline.reserve.segregation import compute_segregation

__all__ = ["LINES", "compute_reserve", "compute_segregation"]
