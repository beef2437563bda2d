"""Text formatting for the report (SPEC §7.7): money as `$1,234,567.89`, ISO dates, escaping."""

from __future__ import annotations

import datetime as dt
import html
from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


def esc(value: object) -> str:
    """Any value as HTML-escaped text (quotes too, so it is safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def to_decimal(value: object) -> Decimal:
    """A published number as an exact Decimal; floats go through repr so no binary noise appears."""
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def cents(value: object) -> Decimal:
    """The value rounded half-even to the cent, as the publisher rounds money (SPEC §7)."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


def money(value: object) -> str:
    """`$1,234,567.89`; negatives as `-$1,234.56` (SPEC §7.7)."""
    amount = cents(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def whole_dollars(value: object) -> str:
    """Whole-dollar amounts (calls are whole dollars, SPEC §5.4) as `$80,100`."""
    amount = to_decimal(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.0f}"


def short_money(value: float) -> str:
    """Axis labels: `$1.5M`, `-$20k`, `$0`."""
    magnitude = abs(value)
    sign = "-" if value < 0 else ""
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            scaled = magnitude / limit
            text = f"{scaled:.1f}".rstrip("0").rstrip(".")
            return f"{sign}${text}{suffix}"
    return f"{sign}${magnitude:,.0f}"


def count(value: int) -> str:
    """Integers with thousands separators."""
    return f"{value:,}"


def ratio(value: object, digits: int = 4) -> str:
    """A reduction factor in [0, 1] with fixed decimals."""
    if value is None:
        return ""
    return f"{float(str(value)):.{digits}f}"


def percent(value: Decimal | None, digits: int = 2) -> str:
    """A fraction as a percentage, or an em dash when undefined (nothing to divide by)."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


def iso(value: object) -> str:
    """Dates ISO `YYYY-MM-DD`, timestamps ISO 8601 with offset; anything else as text."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)
