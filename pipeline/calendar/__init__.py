"""Business dates on the SIFMA U.S. bond market calendar (SPEC §1) and call due times."""

from pipeline.calendar.sifma import (
    NEW_YORK,
    business_days,
    due_by,
    is_business_day,
    next_business_day,
    previous_business_day,
)

__all__ = [
    "NEW_YORK",
    "business_days",
    "due_by",
    "is_business_day",
    "next_business_day",
    "previous_business_day",
]
