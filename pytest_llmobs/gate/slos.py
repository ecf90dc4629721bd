"""Absolute thresholds (SLOs) checked on a run's own values, with no baseline."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_llmobs.gate.measure import value
from pytest_llmobs.gate.model import SeriesKey, SeriesStats
from pytest_llmobs.gate.rules import Rules


@dataclass(frozen=True)
class SloResult:
    """An absolute threshold checked on this run alone."""

    series: SeriesKey
    metric: str
    value: float
    warn: float | None
    fail: float | None
    status: Literal["ok", "warn", "fail"]


def evaluate_slos(current: Sequence[SeriesStats], rules: Rules) -> Iterator[SloResult]:
    """Absolute thresholds on this run's values, independent of any baseline."""
    for series in sorted(current, key=lambda s: s.key):
        for metric, slo in sorted(rules.slos.items()):
            found = value(series, metric)
            if found is not None:
                yield SloResult(series.key, metric, found, slo.warn, slo.fail, slo.status(found))
