"""Histograms of a run beside its baseline: latency, quality scores and output length.

Worked out where both runs' samples are at hand (the session, `llmobs compare`) and
kept in the run report, so a dashboard rendered later from the report alone can still
overlay the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pytest_llmobs.gate.model import Floats, SeriesKey, SeriesStats
from pytest_llmobs.gate.semconv import TOKEN_METRICS, metric_of

BINS = 30
MAX_SERIES = 12  # per kind of histogram: the series with the most spans
OUTPUT_TOKENS = TOKEN_METRICS["tokens.output"]


@dataclass(frozen=True)
class Distribution:
    """One histogram: shared bin edges, and the counts of this run and of the baseline."""

    series: SeriesKey
    metric: str  # "latency", "quality.<attribute>" or "tokens.output"
    edges: tuple[float, ...]  # BINS + 1 of them
    current: tuple[int, ...]
    baseline: tuple[int, ...]  # all zero without a baseline series


def distributions(
    current: Sequence[SeriesStats], baseline: Sequence[SeriesStats] = ()
) -> tuple[Distribution, ...]:
    """Latency of the busiest series, then each quality score and output length."""
    before = {s.key: s for s in baseline}
    shown = busiest(current, MAX_SERIES)
    found = []
    for series in shown:
        old = before.get(series.key)
        found.append(
            _histogram(series.key, "latency", series.latency_samples,
                       old.latency_samples if old else None)
        )  # fmt: skip
    for series in shown:
        old = before.get(series.key)
        for attribute, samples in sorted(series.quality_samples.items()):
            metric = metric_of(attribute)
            if not (metric.startswith("quality.") or attribute == OUTPUT_TOKENS):
                continue
            previous = old.quality_samples.get(attribute) if old else None
            found.append(_histogram(series.key, metric, samples, previous))
    return tuple(h for h in found if h is not None)


def busiest(series: Sequence[SeriesStats], limit: int) -> list[SeriesStats]:
    """The series with the most spans, at most limit of them, busiest first."""
    return sorted(series, key=lambda s: (-s.count, s.key))[:limit]


def _histogram(
    key: SeriesKey, metric: str, now: Floats, before: Floats | None
) -> Distribution | None:
    both = np.concatenate([now, before]) if before is not None else now
    both = both[np.isfinite(both)]
    if len(both) == 0:
        return None
    low, high = float(np.min(both)), float(np.max(both))
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, BINS + 1)
    current, _ = np.histogram(now, edges)
    previous = np.histogram(before, edges)[0] if before is not None else np.zeros(BINS)
    return Distribution(
        key,
        metric,
        tuple(round(float(e), 6) for e in edges),
        tuple(int(c) for c in current),
        tuple(int(c) for c in previous),
    )
