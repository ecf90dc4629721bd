"""Shards merged into one run: the samples of each test case as one machine would have
recorded them (the summaries worked out again from every sample), the test ids, and the
capture summaries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields

import numpy as np

from pytest_llmobs.gate.aggregate import mean, summarize_latency
from pytest_llmobs.gate.model import (
    CaptureSummary,
    Floats,
    Ints,
    QualitySummary,
    Received,
    SeriesKey,
    SeriesStats,
)
from pytest_llmobs.gate.selection import RanTests

RECEIVED_WAYS = tuple(f.name for f in fields(Received))


def merge_series(shards: Sequence[Sequence[SeriesStats]]) -> tuple[SeriesStats, ...]:
    """The series of shards that ran different tests, merged key by key.

    Args:
        shards: each shard's series, every sample kept (as a shard's run report holds
            them); a test case is in one shard only, spans outside tests ("") in any.

    Returns:
        One series per key, ordered by key, as `aggregate` gives a whole run's.
    """
    by_key: dict[SeriesKey, list[SeriesStats]] = {}
    for series in shards:
        for stats in series:
            by_key.setdefault(stats.key, []).append(stats)
    return tuple(_merged(key, parts) for key, parts in sorted(by_key.items()))


def _merged(key: SeriesKey, parts: list[SeriesStats]) -> SeriesStats:
    cases = tuple(sorted({case for part in parts for case in part.cases}))
    position = {name: i for i, name in enumerate(cases)}
    # each part's case indexes into the merged cases, once for every metric
    ranks = [np.array([position[name] for name in p.cases], dtype=np.int64) for p in parts]
    latency, latency_case = _joined(parts, ranks, None)
    attributes = sorted({a for part in parts for a, v in part.quality_samples.items() if len(v)})
    quality = {a: _joined(parts, ranks, a) for a in attributes}
    return SeriesStats(
        key=key,
        count=sum(p.count for p in parts),
        errors=sum(p.errors for p in parts),
        latency=summarize_latency(latency),
        quality={a: QualitySummary(len(v), mean(v)) for a, (v, _) in quality.items()},
        latency_samples=latency,
        quality_samples={a: v for a, (v, _) in quality.items()},
        cases=cases,
        latency_case=latency_case,
        quality_case={a: c for a, (_, c) in quality.items()},
        cache_hits=sum(p.cache_hits for p in parts),
    )


def _joined(
    parts: list[SeriesStats], ranks: list[Ints], attribute: str | None
) -> tuple[Floats, Ints]:
    """The parts' samples of latency (attribute None) or of a quality attribute, and each
    one's case in the merged cases, by each part's ranks (a file read back names the case
    of every sample)."""
    values, owners = [], []
    nothing = (np.empty(0), np.empty(0, dtype=np.int64))
    for part, rank in zip(parts, ranks, strict=True):
        if attribute is None:
            found, case = part.latency_samples, part.latency_case
        else:
            found = part.quality_samples.get(attribute, nothing[0])
            case = part.quality_case.get(attribute, nothing[1])
        values.append(found)
        owners.append(rank[case] if case is not None else nothing[1])
    return np.concatenate(values).astype(np.float64), np.concatenate(owners).astype(np.int64)


def merge_tests(parts: Sequence[RanTests]) -> RanTests:
    """The test ids of shards as one run's: a test that ran in a shard ran, one skipped in
    a shard and run in none was skipped, one deselected by every shard that did not run
    or skip it was deselected; the paths of all, the --ignore of every shard."""
    now = frozenset().union(*(p.now for p in parts))
    skipped = frozenset().union(*(p.skipped for p in parts)) - now
    return RanTests(
        now,
        frozenset(),
        skipped,
        frozenset().union(*(p.deselected for p in parts)) - now - skipped,
        frozenset().union(*(p.narrowed for p in parts)),
        frozenset().union(*(p.collected for p in parts)),
        any(p.partial for p in parts),
        frozenset().union(*(p.skipped_files for p in parts)),
        None if any(p.paths is None for p in parts) else _union(p.paths or () for p in parts),
        None,
        _common(p.ignored for p in parts),
        _common(p.ignored_globs for p in parts),
    )


def merge_capture(parts: Sequence[CaptureSummary]) -> CaptureSummary:
    """The shards' capture summaries summed (their sample rate is one: it shapes them)."""
    received = [p.received for p in parts]
    return CaptureSummary(
        sum(p.spans for p in parts),
        sum(p.traces for p in parts),
        sum(p.traces_with_detail for p in parts),
        parts[0].sample_rate if parts else 1.0,
        Received(*(sum(getattr(r, f) for r in received) for f in RECEIVED_WAYS)),
    )


def _union(parts: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for part in parts for item in part))


def _common(parts: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """What every part has, in the first one's order."""
    found = list(parts)
    return tuple(i for i in found[0] if all(i in p for p in found[1:])) if found else ()
