"""From "p95 went up" to "why": the run's worst requests, where a regression's time went,
and the alerts its checks raise together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from pytest_llmobs.analysis.alerts import find_alerts
from pytest_llmobs.analysis.attribution import attribute
from pytest_llmobs.analysis.breakdown import Spans, lowest, slowest, structure
from pytest_llmobs.analysis.findings import Findings
from pytest_llmobs.gate.compare import Comparison
from pytest_llmobs.gate.grouping import parent_rows
from pytest_llmobs.gate.model import Ints, SeriesKey, SeriesStats, SpanTable, per_case
from pytest_llmobs.gate.redact import Redactor
from pytest_llmobs.gate.rules import Rules
from pytest_llmobs.gate.semconv import ALIASES, metric_of

SLOWEST = 5  # requests listed per series, and lowest-scored per quality attribute
QUALITY_THRESHOLD = 0.6  # a score below this is a low-quality request


@dataclass(frozen=True)
class Options:
    """What the analysis lists, and how it shows it."""

    count: int = SLOWEST
    quality_threshold: float = QUALITY_THRESHOLD
    request_spans: tuple[str, ...] = ()  # span names that make a request; else roots
    redactor: Redactor = field(default_factory=Redactor)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(ALIASES))
    shard: bool = False  # the slowest requests at any latency: the run's p95 is not known


def from_spans(
    table: SpanTable,
    series: tuple[Sequence[SeriesKey], Ints],
    stats: Sequence[SeriesStats],
    quality_attributes: Sequence[str],
    options: Options,
) -> Findings:
    """The worst requests and the run's structure, from its spans (before any comparison)."""
    keys, series_idx = series
    spans = Spans.of(
        table, parent_rows(table), series_idx, keys, options.request_spans, options.aliases
    )
    scored = [a for a in quality_attributes if metric_of(a).startswith("quality.")]
    return Findings(
        slowest=slowest(
            spans, {s.key: s for s in stats}, options.redactor, options.count, not options.shard
        ),
        lowest=lowest(
            spans,
            scored,
            options.quality_threshold,
            options.redactor,
            options.count,
            options.aliases,
        ),
        structure=structure(spans),
    )


def with_comparison(
    findings: Findings,
    comparison: Comparison | None,
    current: Sequence[SeriesStats],
    baseline: Sequence[SeriesStats],
    rules: Rules | None = None,
) -> Findings:
    """The findings with what the comparison adds: how each request's test case fared in
    the baseline, the attribution of each latency regression, and the alerts."""
    before = {s.key: s for s in baseline}
    now = {s.key: s for s in current}
    listed = {d.series for d in findings.slowest}
    medians = {  # each listed series' median per test case in the baseline
        key: per_case(s.latency_samples, s.latency_case, s.cases, "median")
        for key, s in before.items()
        if key in listed
    }
    slow = tuple(
        replace(d, baseline_case_ms=medians.get(d.series, {}).get(d.test) if d.test else None)
        for d in findings.slowest
    )
    regressed = dict.fromkeys(
        c.series
        for c in (comparison.regressions if comparison is not None else ())
        if c.metric.startswith("latency")
    )
    attributions = tuple(
        a
        for key in regressed
        if (a := attribute(key, now, before, findings.structure)) is not None and a.parts
    )
    alerts = find_alerts(comparison, findings.structure, slow, findings.lowest, rules)
    return replace(findings, slowest=slow, attributions=attributions, alerts=alerts)
