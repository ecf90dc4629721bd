"""Shards' findings merged into one run's: each shard listed its slowest and lowest-scored
requests, so the run's are among them; the p95 that admits a slow request is the run's."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from itertools import groupby
from typing import Any

from pytest_llmobs.analysis.findings import Findings, RequestDetail, Structure
from pytest_llmobs.gate.model import SeriesKey, SeriesStats


def merge_findings(
    parts: Sequence[Findings], series: Sequence[SeriesStats], count: int
) -> Findings:
    """The run's slowest requests (per series, its `count` slowest at or above the run's
    p95), its lowest-scored (per quality metric, its `count` lowest) and its structure,
    from those of shards that listed their `count` slowest at any latency.

    Args:
        parts: each shard's findings, before any comparison.
        series: the merged series, whose p95 admits a slow request.
        count: requests listed per series and per metric.
    """
    p95 = {s.key: math.floor(s.latency.p95 * 1e6) for s in series}

    def slow_enough(d: RequestDetail) -> bool:
        return round(d.duration_ms * 1e6) >= p95.get(d.series, math.inf)

    slowest = _first(
        [d for part in parts for d in part.slowest if slow_enough(d)],
        group=lambda d: d.series,
        order=lambda d: (-d.duration_ms, d.start_unix_nano or 0, d.span_id),
        count=count,
    )
    lowest = _first(
        [d for part in parts for d in part.lowest],
        group=lambda d: d.metric or "",
        order=lambda d: (d.score if d.score is not None else math.inf,
                         d.start_unix_nano or 0, d.span_id),
        count=count,
    )  # fmt: skip
    structure = _structure(p.structure for p in parts)
    return Findings(slowest=slowest, lowest=lowest, structure=structure)


def _first(
    details: list[RequestDetail],
    group: Callable[[RequestDetail], Any],
    order: Callable[[RequestDetail], Any],
    count: int,
) -> tuple[RequestDetail, ...]:
    """The first `count` of each group, groups in order, each in its order."""
    ranked = sorted(details, key=lambda d: (group(d), order(d)))
    return tuple(d for _, found in groupby(ranked, key=group) for d in list(found)[:count])


def _structure(parts: Iterable[Structure]) -> Structure:
    """Each series' child series and requests, in any shard."""
    children: dict[SeriesKey, set[SeriesKey]] = {}
    requests: dict[SeriesKey, set[str]] = {}
    for part in parts:
        for key, found in part.children.items():
            children.setdefault(key, set()).update(found)
        for key, names in part.requests.items():
            requests.setdefault(key, set()).update(names)
    return Structure(
        {k: tuple(sorted(v)) for k, v in sorted(children.items())},
        {k: tuple(sorted(v)) for k, v in sorted(requests.items())},
    )
