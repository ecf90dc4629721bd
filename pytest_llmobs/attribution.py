"""Which child spans account for a parent span's change in time.

Per test case, a parent's time per request is the mean of its spans' durations, and a
child series' time per request is its spans' total duration divided by the parent's
span count. Differences between runs are averaged over the test cases both runs have:
means add up, so the children's changes and the parent's own ("self") change sum to the
parent's change exactly.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pytest_llmobs.findings import Attribution, Structure
from pytest_llmobs.model import Floats, SeriesKey, SeriesStats

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
    now_parent, was_parent = _case_stats(current[key]), _case_stats(baseline[key])
    cases = sorted((now_parent.keys() & was_parent.keys()) - {""})
    if len(cases) < MIN_CASES:
        return None
    now = np.array([now_parent[c][0] for c in cases])
    was = np.array([was_parent[c][0] for c in cases])
    parts = []
    for child in structure.children.get(key, ()):
        after = _per_request(current.get(child), now_parent, cases)
        before = _per_request(baseline.get(child), was_parent, cases)
        parts.append((child, float(np.mean(after - before))))
    parts.sort(key=lambda p: (-abs(p[1]), p[0]))
    change = float(np.mean(now - was))
    return Attribution(
        series=key,
        baseline_ms=float(np.mean(was)),
        change_ms=change,
        parts=tuple(parts),
        self_change_ms=change - sum(c for _, c in parts),
        cases=len(cases),
    )


def _case_stats(series: SeriesStats) -> dict[str, tuple[float, int]]:
    """Per test case: the mean latency (ms) and the number of timed spans."""
    case = series.latency_case
    values = series.latency_samples
    if case is None or len(case) != len(values) or len(values) == 0:
        return {}
    counts = np.bincount(case, minlength=len(series.cases))
    sums = np.bincount(case, weights=values, minlength=len(series.cases))
    return {
        series.cases[i]: (float(sums[i] / counts[i]), int(counts[i]))
        for i in np.flatnonzero(counts).tolist()
    }


def _per_request(
    child: SeriesStats | None, parent: dict[str, tuple[float, int]], cases: list[str]
) -> Floats:
    """The child series' total time per parent span, per case (0 where it has none)."""
    stats = _case_stats(child) if child is not None else {}
    return np.array(
        [stats[c][0] * stats[c][1] / parent[c][1] if c in stats else 0.0 for c in cases]
    )
