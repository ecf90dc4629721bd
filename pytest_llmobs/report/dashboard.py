"""The data of each dashboard panel, worked out from a run result (and its history).

Plain JSON types only: the HTML page draws them with Chart.js and inserts every text
with textContent, so span names never become markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_llmobs.analysis.distributions import Distribution, busiest
from pytest_llmobs.analysis.findings import RequestDetail
from pytest_llmobs.gate import units
from pytest_llmobs.gate.compare import Check
from pytest_llmobs.gate.model import SeriesStats
from pytest_llmobs.gate.semconv import metric_of
from pytest_llmobs.gate.slos import SloResult
from pytest_llmobs.report import text
from pytest_llmobs.report.history import Run
from pytest_llmobs.report.result import RunResult

WATERFALLS = 5  # slowest requests drawn as waterfalls
TREND_SERIES = 6  # series drawn across runs: the busiest
BY_SERIES = 20  # series in the latency-by-series chart: the busiest
STATUS_ORDER = ("none", "ok", "warn", "fail")


def panels(result: RunResult, history: Sequence[Run] = ()) -> dict[str, Any]:
    """Every panel's data, keyed by panel."""
    return {
        "title": text.title(result),
        "verdict": result.verdict,
        "baseline": result.baseline.message,
        "created_at": str(result.metadata.get("created_at", "")),
        "git_commit": str(result.metadata.get("git_commit") or ""),
        "health": health(result),
        "latency_histograms": _histograms(result.distributions, "latency"),
        "quality_histograms": _histograms(
            [d for d in result.distributions if d.metric.startswith("quality.")], None
        ),
        "output_histograms": _histograms(result.distributions, "tokens.output"),
        "comparison": comparison(result),
        "cohorts": cohorts(result.series),
        "latency_by_series": [
            {
                "series": s.key.label,
                "p50": s.latency.p50,
                "p95": s.latency.p95,
                "p99": s.latency.p99,
            }
            for s in busiest(result.series, BY_SERIES)
        ],
        "alerts": [
            {
                "severity": a.severity,
                "type": a.type,
                "message": a.message,
                "series": [k.label for k in a.series],
            }
            for a in result.findings.alerts
        ],
        "waterfalls": waterfalls(result),
        "trends": trends(history),
    }


def health(result: RunResult) -> list[dict[str, Any]]:
    """Stat tiles: the run's error rate, its main request's p95, each quality score,
    coloured by the SLO checks on them (none where no SLO applies)."""
    series = result.series
    count = sum(s.count for s in series)
    errors = sum(s.errors for s in series)
    tiles = [
        _tile("error rate", "error_rate", errors / count if count else 0.0,
              f"{errors} of {count} spans", _status(result.slos, "error_rate")),
    ]  # fmt: skip
    main = _main_series(result)
    if main is not None:
        tiles.append(
            _tile(f"p95 latency · {main.key.label}", "latency.p95", main.latency.p95,
                  f"over {main.count - main.cache_hits} timed spans",
                  _status(result.slos, "latency.p95", main))
        )  # fmt: skip
    for attribute in sorted({a for s in series for a in s.quality}):
        metric = metric_of(attribute)
        if not metric.startswith("quality."):
            continue
        scored = [(s.quality[attribute].mean, s.quality[attribute].count)
                  for s in series if attribute in s.quality]  # fmt: skip
        n = sum(c for _, c in scored)
        mean = sum(m * c for m, c in scored) / n if n else 0.0
        tiles.append(
            _tile(f"quality · {attribute}", metric, mean, f"mean of {n} scores",
                  _status(result.slos, metric))
        )  # fmt: skip
    return tiles


def _tile(label: str, metric: str, value: float, detail: str, status: str) -> dict[str, Any]:
    return {
        "label": label,
        "metric": metric,
        "value": value,
        "text": units.value(metric, value),
        "detail": detail,
        "status": status,
    }


def _status(slos: Sequence[SloResult], metric: str, series: SeriesStats | None = None) -> str:
    """The worst SLO status of this metric (of this series, if given), or none."""
    found = [
        s.status for s in slos if s.metric == metric and (series is None or s.series == series.key)
    ]
    return max(found, key=STATUS_ORDER.index) if found else "none"


def _main_series(result: RunResult) -> SeriesStats | None:
    """The request root series with the most spans (a root is in requests of its own name)."""
    requests = result.findings.structure.requests
    roots = [s for s in result.series if s.key.name in requests.get(s.key, ())]
    pool = roots or list(result.series)
    return max(pool, key=lambda s: (s.count, s.key.label), default=None)


def _histograms(found: Sequence[Distribution], metric: str | None) -> list[dict[str, Any]]:
    return [
        {"series": d.series.label, "metric": d.metric, "edges": list(d.edges),
         "current": list(d.current), "baseline": list(d.baseline)}
        for d in found
        if metric is None or d.metric == metric
    ]  # fmt: skip


def comparison(result: RunResult) -> list[dict[str, Any]]:
    """Each check with an interval: the change and its 95% interval (relative for latency)."""
    checks = result.comparison.checks if result.comparison is not None else ()
    return [_change(c) for c in checks if c.ci_low is not None and c.ci_high is not None]


def _change(check: Check) -> dict[str, Any]:
    relative = check.metric.startswith("latency")
    return {
        "series": check.series.label,
        "metric": check.metric,
        "change": check.relative if relative else check.change,
        "ci_low": check.ci_low,
        "ci_high": check.ci_high,
        "relative": relative,
        "verdict": check.verdict,
    }


def cohorts(series: Sequence[SeriesStats]) -> dict[str, Any] | None:
    """Quality by cohort: rows of (span name, quality metric), columns of cohort values.

    None when no series is grouped."""
    grouped = [s for s in series if s.key.group]
    if not grouped:
        return None
    columns = sorted({",".join(f"{k}={v}" for k, v in s.key.group) for s in grouped})
    rows: dict[str, dict[str, float]] = {}
    for s in grouped:
        column = ",".join(f"{k}={v}" for k, v in s.key.group)
        for attribute, q in s.quality.items():
            metric = metric_of(attribute)
            if metric.startswith("quality."):
                rows.setdefault(f"{s.key.name} {metric}", {})[column] = q.mean
    return {
        "columns": columns,
        "rows": [{"label": label, "cells": cells} for label, cells in sorted(rows.items())],
    }


def waterfalls(result: RunResult) -> list[dict[str, Any]]:
    """The slowest requests of the main series (or of any series), as span bars."""
    main = _main_series(result)
    slowest: list[RequestDetail] = [d for d in result.findings.slowest
                                    if main is not None and d.series == main.key]  # fmt: skip
    slowest = slowest or sorted(result.findings.slowest, key=lambda d: -d.duration_ms)
    return [
        {
            "series": d.series.label,
            "test": d.test,
            "request_id": d.request_id,
            "duration_ms": d.duration_ms,
            "spans": [
                {
                    "name": "  " * p.depth + p.name,
                    "start": p.offset_ms,
                    "end": p.offset_ms + p.duration_ms,
                    "critical": p.critical,
                    "error": p.error,
                }
                for p in d.spans
            ],
        }
        for d in slowest[:WATERFALLS]
    ]


def _is_quality(attribute: str) -> bool:
    return metric_of(attribute).startswith("quality.")  # not token counts or cost


def trends(history: Sequence[Run]) -> dict[str, Any] | None:
    """Per busy series, its latency percentiles, error rate, volume and quality by run."""
    if not history:
        return None
    counts: dict[str, int] = {}
    for run in history:
        for label, point in run.series.items():
            counts[label] = counts.get(label, 0) + point.count
    shown = sorted(counts, key=lambda k: (-counts[k], k))[:TREND_SERIES]
    series = {}
    for label in shown:
        points = [run.series.get(label) for run in history]
        attributes = sorted(
            {a for p in points if p is not None for a in p.quality if _is_quality(a)}
        )
        series[label] = {
            "p50": [p.p50 if p else None for p in points],
            "p95": [p.p95 if p else None for p in points],
            "p99": [p.p99 if p else None for p in points],
            "error_rate": [p.error_rate if p else None for p in points],
            "count": [p.count if p else None for p in points],
            "quality": {a: [p.quality.get(a) if p else None for p in points] for a in attributes},
        }
    return {
        "runs": [
            {"created_at": r.created_at, "git_commit": r.git_commit or "", "verdict": r.verdict}
            for r in history
        ],
        "series": series,
    }
