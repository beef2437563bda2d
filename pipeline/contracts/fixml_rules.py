"""The FIXML contract's rule that the reader, not Great Expectations, checks (SPEC §2.3).

Message elements other than `PosRpt` in a `Batch` or under the root are not rows: the reader
counts them by element name (`FixmlRead.ignored`), and the contract's quality rule with
`implementation: otherMessages` (its name, severity and description) makes one check of each
name, so they reach the validation results and `exceptions.parquet` like any other warning.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.contracts.odcs import Contract
from pipeline.contracts.outcome import Check


def other_message_checks(contract: Contract, ignored: Mapping[str, int]) -> list[Check]:
    """One failed check per ignored element name with its count; one passed check if none."""
    rule = next((q for q in contract.quality if q.implementation == "otherMessages"), None)
    if rule is None:
        return []
    description = rule.description or "message elements other than PosRpt are ignored"
    if not ignored:
        return [Check(rule.name, None, rule.severity, description, success=True)]
    return [
        Check(
            rule=f"{rule.name}.{tag}",
            column=None,
            severity=rule.severity,
            description=description,
            success=False,
            failing_count=count,
            examples=[{"element": tag, "count": count}],
            detail=f"{count} <{tag}> element(s) ignored",
        )
        for tag, count in sorted(ignored.items())
    ]
