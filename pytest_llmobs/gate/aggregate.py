"""Turn a SpanTable into per-series statistics."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pytest_llmobs.gate.grouping import group_codes, inherit, numbers_of, parent_rows, values_of
from pytest_llmobs.gate.model import (
    TEST_GROUP,
    Floats,
    Ints,
    LatencySummary,
    QualitySummary,
    SeriesKey,
    SeriesStats,
    SpanTable,
)
from pytest_llmobs.gate.semconv import ALIASES, CACHE_ATTRIBUTE

PERCENTILES = (50.0, 90.0, 95.0, 99.0)


def mean(values: Floats) -> float:
    """The mean, exactly rounded whatever the order of the values: a run split into
    shards and combined has the same means as the run whole."""
    return math.fsum(values.tolist()) / len(values)


def summarize_latency(samples_ms: Floats) -> LatencySummary:
    """Percentiles (numpy's default linear interpolation), mean and max of latencies in ms."""
    if len(samples_ms) == 0:
        return LatencySummary(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    p50, p90, p95, p99 = (float(v) for v in np.percentile(samples_ms, PERCENTILES))
    return LatencySummary(
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        mean=mean(samples_ms),
        max=float(np.max(samples_ms)),
    )


def aggregate(
    table: SpanTable,
    quality_attributes: Sequence[str] = (),
    own_series: Mapping[str, str] | None = None,
    group_by: Sequence[str] = (),
    aliases: Mapping[str, Sequence[str]] = ALIASES,
    derived: Mapping[str, tuple[Ints, Floats]] | None = None,
    series: tuple[Sequence[SeriesKey], Ints] | None = None,
) -> list[SeriesStats]:
    """Per-series count, errors, latency and quality, ordered by series label.

    Args:
        table: the captured spans.
        quality_attributes: numeric attributes to average per series (quality scores,
            token counts), each read under any of its names in `aliases`.
        own_series: test ids whose spans form series of their own (marked tests), with
            the label of that series' group: spans are keyed by name and `test=<label>`.
        group_by: attributes whose values split a span name's series; a span without
            one takes its nearest ancestor's value. Read under any name in `aliases`.
        aliases: attribute names and their other names (see semconv).
        derived: numeric columns worked out from the spans (rows, values), such as the
            cost; averaged per series like `quality_attributes`.
        series: the keys and each span's series index, if `series_index` made them already.

    Returns:
        One SeriesStats per series that occurs in the table.
    """
    keys, series_idx = series or series_index(table, own_series or {}, group_by, aliases)
    n_series = len(keys)
    counts = np.bincount(series_idx, minlength=n_series)
    cached = np.isin(values_of(table, CACHE_ATTRIBUTE, aliases), ("true", "1"))
    hits = np.bincount(series_idx[cached], minlength=n_series)
    timed = np.flatnonzero(~cached)  # a cache hit's latency says nothing of the model
    latency_ms = table.duration_ns[timed].astype(np.float64) / 1e6
    latencies = _split(latency_ms, series_idx[timed], n_series)
    latency_cases = _split(table.test_idx[timed], series_idx[timed], n_series)
    errors = np.bincount(series_idx, weights=table.error, minlength=n_series)
    # the test cases each series had spans in, from the distinct (series, test) pairs
    pairs = np.unique(series_idx * len(table.tests) + table.test_idx)
    owner, case = np.divmod(pairs, len(table.tests))
    present = _split(case, owner, n_series)
    quality: dict[str, tuple[list[Floats], list[Ints]]] = {}
    columns = {a: numbers_of(table, a, aliases) for a in quality_attributes}
    for attr, (rows, values) in {**columns, **(derived or {})}.items():
        owner = series_idx[rows]
        quality[attr] = (
            _split(values, owner, n_series),
            _split(table.test_idx[rows], owner, n_series),
        )
    result = []
    for idx, key in enumerate(keys):
        samples = latencies[idx]
        if counts[idx] == 0:
            continue
        scores = {a: q[0][idx] for a, q in quality.items() if len(q[0][idx])}
        result.append(
            SeriesStats(
                key=key,
                count=int(counts[idx]),
                errors=int(errors[idx]),
                latency=summarize_latency(samples),
                quality={a: QualitySummary(count=len(s), mean=mean(s)) for a, s in scores.items()},
                latency_samples=samples,
                quality_samples=scores,
                cases=table.tests,
                latency_case=latency_cases[idx],
                quality_case={a: quality[a][1][idx] for a in scores},
                cache_hits=int(hits[idx]),
                present=present[idx],
            )
        )
    return sorted(result, key=lambda s: s.key)


def series_index(
    table: SpanTable,
    own_series: Mapping[str, str],
    group_by: Sequence[str],
    aliases: Mapping[str, Sequence[str]] = ALIASES,
) -> tuple[list[SeriesKey], Ints]:
    """The series keys, and the series index of each span.

    A span's series is its name, the values of the grouping attributes it has (or
    inherits), and for a marked test's span `test=<label>`.
    """
    labels = [own_series.get(test) for test in table.tests]
    if not group_by and not any(labels):
        return [SeriesKey(name) for name in table.names], table.name_idx
    columns = [table.name_idx]
    meanings: list[tuple[str, list[str | None]]] = []
    parents = parent_rows(table) if group_by else None
    for attribute in group_by:
        assert parents is not None
        codes, values = group_codes(inherit(values_of(table, attribute, aliases), parents))
        columns.append(codes)
        meanings.append((attribute, values))
    if any(labels):
        label_codes, label_values = group_codes(np.array(labels, dtype=object))
        columns.append(label_codes[table.test_idx])
        meanings.append((TEST_GROUP, label_values))
    combos, series_idx = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)
    keys = [
        SeriesKey(
            table.names[combo[0]],
            tuple(  # sorted by attribute, as a baseline stores them
                sorted(
                    (attribute, str(values[code]))
                    for (attribute, values), code in zip(meanings, combo[1:], strict=True)
                    if code
                )
            ),
        )
        for combo in combos.tolist()
    ]
    return keys, series_idx.reshape(-1).astype(np.int64)


def _split(values: Any, groups: Ints, n_groups: int) -> list[Any]:
    """Values split by group index, each group keeping the original order."""
    order = np.argsort(groups, kind="stable")
    bounds = np.cumsum(np.bincount(groups, minlength=n_groups))[:-1]
    return [np.ascontiguousarray(part) for part in np.split(values[order], bounds)]
