"""The CME products the generator can list and trade: one row each (synthetic data only).

What a product *is* for the margin engine (its scan and intra charges, spreads, XM eligibility)
lives in the parameter file's `cme.products`; the generator lists the products of the file in
force on D. To synthesise contracts and trades of a product it also needs the contract's shape:
its row here. Treasury futures price off a cheapest-to-deliver and hedge cash in a band of
remaining years; short-rate futures price off forward rates over a reference period.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.errors import InvocationError


@dataclass(frozen=True)
class ProductSpec:
    """How one CME product is listed and traded in a generated input set."""

    code: str
    kind: Literal["treasury", "sofr_quarterly", "monthly"]
    exchange: str
    point_value: float  # USD per 1.00 of price
    # Treasury futures: the cheapest-to-deliver at delivery, and the band of remaining years of
    # the cash it hedges in basis trades (lo, hi].
    ctd_years: float = 0.0
    ctd_coupon: float = 0.0
    basis_years: tuple[float, float] = (0.0, 0.0)
    # Short-rate futures: contracts listed, DV01 of a whole reference period, price tick.
    listed: int = 0
    period_dv01: float = 0.0
    tick: float = 1.0 / 64.0
    # Short-rate futures: the front `active` months take most of the interest, at `weight`.
    active: int = 0
    weight: float = 0.0


PRODUCTS: tuple[ProductSpec, ...] = (
    ProductSpec("ZT", "treasury", "CBT", 2000.0, 1.80, 3.50, (1.25, 2.5)),
    ProductSpec("Z3N", "treasury", "CBT", 2000.0, 2.80, 3.50, (2.5, 3.5)),
    ProductSpec("ZF", "treasury", "CBT", 1000.0, 4.20, 3.75, (3.5, 5.5)),
    ProductSpec("ZN", "treasury", "CBT", 1000.0, 6.60, 1.25, (5.5, 8.5)),
    ProductSpec("TN", "treasury", "CBT", 1000.0, 9.50, 3.875, (8.5, 12.0)),
    ProductSpec("TWE", "treasury", "CBT", 1000.0, 19.20, 3.875, (18.0, 23.0)),
    ProductSpec("ZB", "treasury", "CBT", 1000.0, 15.20, 1.125, (12.0, 18.0)),
    ProductSpec("UB", "treasury", "CBT", 1000.0, 25.10, 1.375, (23.0, 31.0)),
    ProductSpec(
        "SR3", "sofr_quarterly", "CME", 2500.0, listed=20, period_dv01=25.0, tick=0.005,
        active=12, weight=1.0,
    ),
    ProductSpec(
        "SR1", "monthly", "CME", 4167.0, listed=13, period_dv01=41.67, tick=0.0025,
        active=4, weight=0.6,
    ),
    ProductSpec(
        "ZQ", "monthly", "CBT", 4167.0, listed=25, period_dv01=41.67, tick=0.0025,
        active=6, weight=0.5,
    ),
)  # fmt: skip
ALL_CODES = tuple(spec.code for spec in PRODUCTS)


def specs_for(codes: tuple[str, ...]) -> tuple[ProductSpec, ...]:
    """The rows of the given products, in this table's order; a product without one is refused."""
    unknown = [code for code in codes if code not in ALL_CODES]
    if unknown:
        raise InvocationError(
            f"generate: the parameter file's cme.products {unknown} have no row in "
            f"pipeline/generate/products.py (PRODUCTS); expected one of {list(ALL_CODES)}, or add "
            "the product's contract shape there to generate it"
        )
    return tuple(spec for spec in PRODUCTS if spec.code in codes)
