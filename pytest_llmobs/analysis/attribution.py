"""Which child spans account for a parent span's change in time.

Per test case, a parent's time per request is the mean of its spans' durations, and a
child series' time per request is its spans' total duration divided by the parent's
span count. Differences between runs are averaged over the test cases both runs have:
means add up, so the children's changes and the parent's own ("self") change sum to the
parent's change exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from pytest_llmobs.analysis.findings import Attribution, Structure
from pytest_llmobs.gate.model import Floats, SeriesKey, SeriesStats, per_case

MIN_CASES = 3  # fewer test cases in common say too little to attribute a change


def attribute(
    key: SeriesKey,
    current: Mapping[SeriesKey, SeriesStats],
    baseline: Mapping[SeriesKey, SeriesStats],
    structure: Structure,
) -> Attribution | None:
    """Where the change of `key`'s mean time per request went, or None without enough
    test cases in common."""
    if key not in current or key not in baseline:
        return None
    now_mean, was_mean = _latency(current[key], "mean"), _latency(baseline[key], "mean")
    cases = sorted((now_mean.keys() & was_mean.keys()) - {""})
    if len(cases) < MIN_CASES:
        return None
    now_requests = _latency(current[key], "count")
    was_requests = _latency(baseline[key], "count")
    parts = []
    for child in structure.children.get(key, ()):
        after = _per_request(current.get(child), now_requests, cases)
        before = _per_request(baseline.get(child), was_requests, cases)
        parts.append((child, float(np.mean(after - before))))
    parts.sort(key=lambda p: (-abs(p[1]), p[0]))
    was = np.array([was_mean[c] for c in cases])
    change = float(np.mean(np.array([now_mean[c] for c in cases]) - was))
    return Attribution(
        series=key,
        baseline_ms=float(np.mean(was)),
        change_ms=change,
        parts=tuple(parts),
        self_change_ms=change - sum(c for _, c in parts),
        cases=len(cases),
    )


def _latency(series: SeriesStats, how: Literal["mean", "sum", "count"]) -> dict[str, float]:
    """Per test case: the mean, total or number of the series' timed spans' latencies."""
    return per_case(series.latency_samples, series.latency_case, series.cases, how)


def _per_request(child: SeriesStats | None, requests: dict[str, float], cases: list[str]) -> Floats:
    """The child series' total time per parent span, per case (0 where it has none)."""
    total = _latency(child, "sum") if child is not None else {}
    return np.array([total.get(c, 0.0) / requests[c] for c in cases])
