"""How severe an alert is, least first: the analysis raises alerts at these severities,
and the gate fails on those at or above `fail_on_alert`. No imports, so the settings
(read in a run without --llmobs too) may use it."""

from __future__ import annotations

from typing import Literal

Severity = Literal["low", "medium", "high"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high")


def at_least(severity: Severity, threshold: Severity | None) -> bool:
    """Whether severity reaches threshold; nothing does when there is none."""
    if threshold is None:
        return False
    return SEVERITIES.index(severity) >= SEVERITIES.index(threshold)
