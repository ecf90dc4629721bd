"""A judged run as Prometheus gauges: latency, errors, quality, tokens, cost, checks, SLOs."""

from __future__ import annotations

import datetime
import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from pytest_llmobs.gate.checks import VERDICT_ORDER
from pytest_llmobs.gate.model import SeriesKey, SeriesStats
from pytest_llmobs.gate.semconv import COST_ATTRIBUTE, TOKEN_METRICS, metric_of
from pytest_llmobs.report.result import RunResult

Labels = tuple[tuple[str, str], ...]
Sample = tuple[Labels, float]
_Labeller = Callable[[SeriesKey], Labels]  # the labels of a series
_Spec = tuple[str, str, str, Iterable[Sample]]  # a family's name, unit, help and samples

# labels of the families themselves, of the Pushgateway's grouping key (job, suite,
# branch), of Prometheus (instance, le) and of the generated alert rules (alertname,
# severity, threshold, pattern): a grouping attribute never takes one over
RESERVED_LABELS = frozenset(
    {"job", "instance", "le", "quantile", "series", "attribute", "direction", "verdict"}
    | {"metric", "level", "suite", "branch", "alertname", "severity", "threshold", "pattern"}
)
QUANTILES = (("0.5", "p50"), ("0.9", "p90"), ("0.95", "p95"), ("0.99", "p99"))
_NOT_LABEL = re.compile(r"[^a-zA-Z0-9_]")
_DIRECTIONS = {attribute: metric.partition(".")[2] for metric, attribute in TOKEN_METRICS.items()}


@dataclass(frozen=True)
class MetricFamily:
    """One gauge: its name, help, unit ("" for none) and samples (label pairs, value)."""

    name: str
    help: str
    unit: str
    samples: tuple[Sample, ...]


def group_label_names(attributes: Iterable[str]) -> dict[str, str]:
    """The Prometheus label name of each grouping attribute.

    Every character outside [a-zA-Z0-9_] becomes `_`, and a leading digit (or an empty
    name) gets a `_` in front. A name in RESERVED_LABELS or starting with `__` gets the
    prefix `group_`. Attributes take their names in sorted order, and one whose name is
    already taken by an earlier attribute gets the first free suffix `_2`, `_3`, ...
    (`a.b` -> `a_b`, then `a_b` -> `a_b_2`), so the same attributes always get the same
    names.

    Args:
        attributes: grouping attribute names (duplicates are ignored).

    Returns:
        Attribute name -> label name, distinct label names.
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for attribute in sorted(set(attributes)):
        label = _NOT_LABEL.sub("_", attribute)
        if not label or label[0].isdigit():
            label = "_" + label
        if label in RESERVED_LABELS or label.startswith("__"):
            label = "group_" + label
        found, n = label, 1
        while found in taken:
            n += 1
            found = f"{label}_{n}"
        taken.add(found)
        names[attribute] = found
    return names


def run_metrics(result: RunResult) -> tuple[MetricFamily, ...]:
    """The run's metrics as gauges (the names are a contract: dashboards and alert rules
    use them; README, "Prometheus").

    Every sample of a series carries `series` (the span name) and one label per grouping
    attribute of the run (group_label_names; empty where the series has no value, which
    Prometheus reads as absent). Samples that are not finite are left out; samples are
    sorted by their labels; of two series that Prometheus cannot tell apart (a group
    value "" and none), the first by key is kept.

    Args:
        result: the judged run.

    Returns:
        The families, in a fixed order, each with its samples (possibly none).
    """
    keys = [s.key for s in result.series] + [slo.series for slo in result.slos]
    names = group_label_names(attribute for key in keys for attribute, _ in key.group)

    @functools.cache  # each series' labels serve many samples
    def labels(key: SeriesKey) -> Labels:
        group = dict(key.group)
        return (("series", key.name), *((n, group.get(a, "")) for a, n in names.items()))

    series = sorted(result.series, key=lambda s: s.key)
    return tuple(
        _family(name, help, unit, samples)
        for name, unit, help, samples in (
            *_series_specs(series, labels),
            ("llmobs_checks", "", "Checks against the baseline by verdict.", _checks(result)),
            ("llmobs_slo_breach", "", "1 when the SLO level is breached in the run, else 0.",
             _breaches(result, labels)),
            ("llmobs_run_info", "", "The run's verdict, git commit and branch (value 1).",
             [(_info(result), 1.0)]),
            ("llmobs_run_tests_failed", "", "Tests of the run that failed by themselves.",
             [((), float(result.tests_failed))]),
            ("llmobs_run_timestamp_seconds", "seconds", "When the run was made, in Unix seconds.",
             _timestamp(result.metadata)),
        )
    )  # fmt: skip


def _series_specs(series: list[SeriesStats], labels: _Labeller) -> tuple[_Spec, ...]:
    """Name, unit, help and samples of each family of per-series values."""
    return (
        ("llmobs_span_latency_seconds", "seconds", "Span latency percentile of the run by series.",
         _latency(series, labels)),
        ("llmobs_span_error_ratio", "", "Share of the run's spans of the series that failed.",
         ((labels(s.key), s.errors / s.count) for s in series if s.count)),
        ("llmobs_quality_score", "", "Mean quality score of the run's spans by attribute.",
         _quality(series, labels)),
        ("llmobs_span_tokens", "", "Tokens the run's spans of the series used, by direction.",
         _tokens(series, labels)),
        ("llmobs_span_cost_usd", "usd", "Cost of the run's spans of the series in US dollars.",
         _cost(series, labels)),
        ("llmobs_spans", "", "Spans of the series in the run.",
         ((labels(s.key), float(s.count)) for s in series)),
    )  # fmt: skip


def constant_labels(result: RunResult) -> Labels:
    """`suite` and `branch` of the run ("" when unknown), for the places where no
    Pushgateway grouping key adds them (a textfile for node exporter)."""
    meta = result.metadata
    return (("suite", str(meta.get("suite") or "")), ("branch", str(meta.get("git_branch") or "")))


def _family(name: str, help: str, unit: str, samples: Iterable[Sample]) -> MetricFamily:
    """A family of the finite samples, sorted, without repeated label sets."""
    kept: dict[Labels, float] = {}
    for labels, value in samples:
        if math.isfinite(value):
            kept.setdefault(labels, value)  # the first (by series key) wins
    return MetricFamily(name, help, unit, tuple(sorted(kept.items())))


def _latency(series: list[SeriesStats], labels: _Labeller) -> Iterator[Sample]:
    for stats in series:
        for quantile, field in QUANTILES:
            ms = getattr(stats.latency, field)
            yield (*labels(stats.key), ("quantile", quantile)), ms / 1000


def _quality(series: list[SeriesStats], labels: _Labeller) -> Iterator[Sample]:
    for stats in series:
        for attribute, summary in stats.quality.items():
            if metric_of(attribute).startswith("quality."):
                yield (*labels(stats.key), ("attribute", attribute)), summary.mean


def _tokens(series: list[SeriesStats], labels: _Labeller) -> Iterator[Sample]:
    for stats in series:
        for attribute, direction in _DIRECTIONS.items():
            summary = stats.quality.get(attribute)
            if summary is not None and math.isfinite(summary.mean):
                total = float(round(summary.mean * summary.count))  # means of whole counts
                yield (*labels(stats.key), ("direction", direction)), total


def _cost(series: list[SeriesStats], labels: _Labeller) -> Iterator[Sample]:
    for stats in series:
        summary = stats.quality.get(COST_ATTRIBUTE)
        if summary is not None:
            yield labels(stats.key), summary.mean * summary.count


def _checks(result: RunResult) -> Iterator[Sample]:
    checks = result.comparison.checks if result.comparison is not None else ()
    for verdict in VERDICT_ORDER:
        yield (("verdict", verdict),), float(sum(c.verdict == verdict for c in checks))


def _breaches(result: RunResult, labels: _Labeller) -> Iterator[Sample]:
    """Per SLO and level it sets: a fail is beyond the warn level too."""
    for slo in result.slos:
        for level, threshold in (("warn", slo.warn), ("fail", slo.fail)):
            if threshold is not None:
                breached = slo.status == "fail" or slo.status == level
                metric = (*labels(slo.series), ("metric", slo.metric), ("level", level))
                yield metric, 1.0 if breached else 0.0


def _info(result: RunResult) -> Labels:
    meta = result.metadata
    return (
        ("verdict", result.verdict),
        ("commit", str(meta.get("git_commit") or "")),
        ("branch", str(meta.get("git_branch") or "")),
    )


def _timestamp(metadata: Mapping[str, object]) -> list[Sample]:
    """created_at as Unix seconds (UTC when it names no zone); none when unreadable."""
    text = metadata.get("created_at")
    if not isinstance(text, str):
        return []
    try:  # Python 3.10 reads no "Z"
        when = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return []
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return [((), when.timestamp())]
