"""CME SPAN-style DV01 proxy: scan, intra (tiers) and the inter-commodity waterfall (SPEC §5.2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.config import CmeParams
from pipeline.margin.rowsums import weighted_row_sums

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CcExposure:
    """Per (portfolio, CC) DV01: `net` = Σ s; `up`/`down` = Σ over tiers of max(±d_tier, 0).

    Columns are the combined commodities, one per product in `CmeParams.cc_index` order.
    """

    net: FloatArray
    up: FloatArray
    down: FloatArray

    def __add__(self, other: CcExposure) -> CcExposure:
        # Valid only for portfolios whose tiers are disjoint (futures months vs the CASH tier).
        return CcExposure(self.net + other.net, self.up + other.up, self.down + other.down)

    @classmethod
    def single_tier(cls, net: FloatArray) -> CcExposure:
        """A portfolio with one tier per CC (cash in tier CASH, SPEC §5.2)."""
        return cls(net, np.maximum(net, 0.0), np.maximum(-net, 0.0))


def cme_requirement(exposure: CcExposure, params: CmeParams) -> FloatArray:
    """C(P) = max(0, Σ scan + Σ intra − inter credits) for each row (SPEC §5.2)."""
    scan_bp = np.array([spec.scan_bp for spec in params.products.values()])
    intra_bp = np.array([spec.intra_bp for spec in params.products.values()])
    cc_index = params.cc_index
    scan = weighted_row_sums(np.abs(exposure.net), scan_bp)
    intra = weighted_row_sums(np.minimum(exposure.up, exposure.down), intra_bp)
    remaining = exposure.net.copy()
    credit = np.zeros(remaining.shape[0])
    # The waterfall is sequential over spreads (priority order) but vectorised over portfolios.
    for spread in params.inter_spreads:
        a, b = cc_index[spread.a], cc_index[spread.b]
        r_a, r_b = remaining[:, a], remaining[:, b]
        matched = np.where(r_a * r_b < 0.0, np.minimum(np.abs(r_a), np.abs(r_b)), 0.0)
        credit += spread.credit * matched * (scan_bp[a] + scan_bp[b])
        new_a = r_a - np.sign(r_a) * matched
        new_b = r_b - np.sign(r_b) * matched
        remaining[:, a] = new_a
        remaining[:, b] = new_b
    result: FloatArray = np.maximum(0.0, scan + intra - credit)
    return result
