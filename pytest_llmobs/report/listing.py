"""What `llmobs baseline show` and `llmobs history` print: a baseline's series, and the
runs a history file holds, series by series."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from pytest_llmobs.gate import baseline, units
from pytest_llmobs.gate.semconv import metric_of
from pytest_llmobs.report.columns import fit
from pytest_llmobs.report.history import Run


def baseline_lines(stored: baseline.SeriesFile) -> Iterator[str]:
    """A baseline (or run report): when and from what it was recorded, then each series'
    span and error counts, latency percentiles and attribute means."""
    meta = stored.metadata
    kind = "" if stored.schema == baseline.BASELINE_SCHEMA else " (a run report, not a baseline)"
    yield f"{stored.path}: {len(stored.series)} series{kind}"
    yield f"  recorded {meta.get('created_at', '?')} from commit {meta.get('git_commit') or '?'}"
    yield f"  {'series':30} {'spans':>7} {'errors':>7} {'p50':>10} {'p95':>10} {'p99':>10}"
    for s in stored.series:
        values = [units.value("latency", v) for v in (s.latency.p50, s.latency.p95, s.latency.p99)]
        label = fit(s.key.label, 30)
        yield f"  {label:30} {s.count:>7} {s.errors:>7} " + " ".join(f"{v:>10}" for v in values)
        for attr in _in_order(s.quality):
            metric, q = metric_of(attr), s.quality[attr]
            yield f"  {'':30} {metric} mean {units.value(metric, q.mean)} over {q.count}"


def series_labels(runs: Iterable[Run]) -> list[str]:
    """The key of every series the runs hold, sorted."""
    return sorted({label for run in runs for label in run.series})


def history_lines(runs: Iterable[Run], labels: Sequence[str]) -> Iterator[str]:
    """Each run (when, at which commit, its verdict), then those of the series named by
    labels that it holds: spans, latency, error rate and attribute means."""
    for run in runs:
        commit = (run.git_commit or "-")[:12]
        yield f"  {run.created_at or '?':25} {commit:12} {run.verdict}"
        for label in labels:
            point = run.series.get(label)
            if point is None:
                continue
            quality = "  ".join(_mean(a, point.quality[a]) for a in _in_order(point.quality))
            p50, p95 = (units.value("latency", v) for v in (point.p50, point.p95))
            yield (
                f"    {fit(label, 40):40} {point.count:>6} spans  p50 {p50:>9}  "
                f"p95 {p95:>9}  errors {point.error_rate:.1%}  {quality}".rstrip()
            )


def _in_order(attributes: Iterable[str]) -> list[str]:
    """Quality scores, then token counts, then cost, each by name."""
    kinds = ("quality", "tokens", "cost")
    return sorted(attributes, key=lambda a: (kinds.index(metric_of(a).split(".")[0]), a))


def _mean(attribute: str, mean: float) -> str:
    """`overall_score 0.750`, `tokens.input 412.5 tok`, `cost $0.0000022`: a quality score
    by its attribute, tokens and cost by their metric, each in its own unit."""
    metric = metric_of(attribute)
    label = attribute if metric.startswith("quality.") else metric
    return f"{label} {units.value(metric, mean)}"
