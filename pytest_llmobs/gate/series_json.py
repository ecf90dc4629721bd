"""A series as a baseline or run report holds it: summaries, and samples by test case,
bounded and rounded."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from pytest_llmobs.gate.model import SeriesStats
from pytest_llmobs.gate.stored import by_kind, kept_values, significant


def series_to_json(stats: SeriesStats, every: bool = False) -> dict[str, Any]:
    """A series as plain JSON types, samples bounded and rounded (to SIGNIFICANT digits,
    so a $0.000002 cost keeps its precision as a 2,000 ms latency does) for small, stable
    files; or every sample as it is (a shard's, which `llmobs combine` merges with the
    other shards' before they are bounded as one run's)."""
    return {
        "name": stats.key.name,
        "key": stats.key.label,
        "group": dict(stats.key.group),
        "count": stats.count,
        "cache_hits": stats.cache_hits,
        "errors": stats.errors,
        "error_rate": round(stats.error_rate, 6),
        "latency_ms": {k: significant(v) for k, v in asdict(stats.latency).items()},
        **by_kind(
            {a: {"count": q.count, "mean": significant(q.mean)} for a, q in stats.quality.items()}
        ),
        "cases": _cases_to_json(stats, every),
    }


def _cases_to_json(stats: SeriesStats, every: bool) -> dict[str, Any]:
    """Samples by test case ("" for spans outside tests or without case information)."""
    cases: dict[str, Any] = {
        case: {"latency_ms": values}
        for case, values in _kept(stats.latency_samples, stats.latency_case, stats.cases, every)
    }
    scores: dict[str, dict[str, list[float]]] = {}
    for attr, values in stats.quality_samples.items():
        owner = stats.quality_case.get(attr)
        for case, kept in _kept(values, owner, stats.cases, every):
            scores.setdefault(case, {})[attr] = kept
    for case, found in scores.items():
        entry = cases.setdefault(case, {"latency_ms": []})
        entry.update((k, v) for k, v in by_kind(found).items() if v)  # no empty "quality"
    present = range(len(stats.cases)) if stats.present is None else stats.present.tolist()
    for i in present:  # cases of cache hits alone, too
        cases.setdefault(stats.cases[i], {"latency_ms": []})
    return cases


def _kept(
    values: np.ndarray[Any, Any],
    case: np.ndarray[Any, Any] | None,
    cases: tuple[str, ...],
    every: bool,
) -> list[tuple[str, list[float]]]:
    """Each case's values, sorted and rounded, bounded to SAMPLE_LIMIT for the series;
    or every value as it is."""
    if len(values) == 0:
        return []
    rounded, owner, names = kept_values(values, case, cases, every)
    starts = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
    parts = np.split(rounded, starts[1:])
    return [
        (names[i], part.tolist()) for i, part in zip(owner[starts].tolist(), parts, strict=True)
    ]
