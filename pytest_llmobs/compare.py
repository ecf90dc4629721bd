"""Checks of a run against its baseline: a regression is beyond tolerance and significant."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_llmobs import stats
from pytest_llmobs.model import SeriesKey, SeriesStats

Verdict = Literal["pass", "regression", "improvement", "inconclusive", "new", "missing"]
# Checks are listed in this order: what needs attention first.
VERDICT_ORDER: tuple[Verdict, ...] = (
    "regression",
    "inconclusive",
    "improvement",
    "missing",
    "new",
    "pass",
)
LATENCY_METRICS = ("p50", "p95")
_EPS = 1e-9  # so that a change of exactly the tolerance, give or take rounding, is within it


@dataclass(frozen=True)
class Tolerances:
    """How large a change must be before the gate looks at its significance."""

    latency_relative: float = 0.10
    latency_min_ms: float = 1.0
    error_rate: float = 0.02
    quality: float = 0.05
    alpha: float = 0.001


@dataclass(frozen=True)
class Check:
    """One metric of one series, judged. `change` is current minus baseline."""

    series: SeriesKey
    metric: str
    verdict: Verdict
    baseline: float | None
    current: float | None
    change: float | None
    relative: float | None
    p_value: float | None
    test: str | None
    n_baseline: int
    n_current: int
    reason: str


@dataclass(frozen=True)
class Comparison:
    """All checks of a run, most urgent first."""

    checks: tuple[Check, ...]

    @property
    def regressions(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict == "regression")

    @property
    def verdict(self) -> Literal["pass", "regression"]:
        return "regression" if self.regressions else "pass"


@dataclass(frozen=True)
class _Metric:
    """How to read, compare and test one metric of a pair of series."""

    name: str
    value: Callable[[SeriesStats], float | None]
    n: Callable[[SeriesStats], int]
    beyond: Callable[[float, float, Tolerances], int]  # +1 worse, -1 better, 0 within
    worse_sign: int  # +1 when a higher value is worse, -1 when a lower one is
    p_value: Callable[[SeriesStats, SeriesStats, bool], float]  # (current, baseline, worse)
    min_p: Callable[[int, int], float]
    test: str


def compare(
    current: Sequence[SeriesStats],
    baseline: Sequence[SeriesStats],
    quality_attributes: Sequence[str] = (),
    tolerances: Tolerances | None = None,
) -> Comparison:
    """Judge every metric of every series in either run.

    Args:
        current: this run's series.
        baseline: the baseline's series.
        quality_attributes: quality attributes to check; those found in either run are added.
        tolerances: the defaults when None.

    Returns:
        The checks, regressions first.
    """
    tol = tolerances or Tolerances()
    now = {s.key: s for s in current}
    before = {s.key: s for s in baseline}
    found = {a for s in (*current, *baseline) for a in s.quality}
    attributes = list(dict.fromkeys([*quality_attributes, *sorted(found)]))
    metrics = [*_latency_metrics(), _error_metric(), *(_quality_metric(a) for a in attributes)]
    checks = []
    for key in sorted(now.keys() | before.keys()):
        for metric in metrics:
            check = _check(key, metric, now.get(key), before.get(key), tol)
            if check is not None:
                checks.append(check)
    checks.sort(key=lambda c: VERDICT_ORDER.index(c.verdict))
    return Comparison(tuple(checks))


def _check(
    key: SeriesKey,
    m: _Metric,
    cur: SeriesStats | None,
    base: SeriesStats | None,
    tol: Tolerances,
) -> Check | None:
    cur_value = m.value(cur) if cur is not None else None
    base_value = m.value(base) if base is not None else None
    n_cur = m.n(cur) if cur is not None else 0
    n_base = m.n(base) if base is not None else 0
    if cur_value is None and base_value is None:
        return None

    def make(verdict: Verdict, reason: str, p: float | None = None) -> Check:
        change = relative = None
        if cur_value is not None and base_value is not None:
            change = cur_value - base_value
            relative = change / base_value if base_value else None
        test = m.test if p is not None else None
        return Check(
            key, m.name, verdict, base_value, cur_value, change, relative, p, test,
            n_base, n_cur, reason,
        )  # fmt: skip

    if base_value is None:
        return make("new", "not in the baseline")
    if cur_value is None or cur is None or base is None:
        return make("missing", "not in this run")
    direction = m.beyond(cur_value, base_value, tol)
    p = m.p_value(cur, base, (cur_value - base_value) * m.worse_sign > 0)
    if direction == 0:
        return make("pass", "within tolerance", p)
    if p < tol.alpha:
        return make("regression" if direction > 0 else "improvement", f"p < {tol.alpha:g}", p)
    min_p = m.min_p(n_cur, n_base)
    if min_p >= tol.alpha:
        return make(
            "inconclusive",
            f"beyond tolerance, but {n_cur} vs {n_base} samples cannot reach p < {tol.alpha:g}",
            p,
        )
    return make("pass", "beyond tolerance but not significant", p)


def _latency_metrics() -> list[_Metric]:
    def beyond(cur: float, base: float, tol: Tolerances) -> int:
        diff = cur - base
        if abs(diff) < tol.latency_min_ms - _EPS:
            return 0
        if base <= 0 or abs(diff) / base > tol.latency_relative + _EPS:
            return 1 if diff > 0 else -1
        return 0

    def p_value(cur: SeriesStats, base: SeriesStats, worse: bool) -> float:
        alternative: stats.Alternative = "greater" if worse else "less"
        return stats.mann_whitney_p(cur.latency_samples, base.latency_samples, alternative)

    def make(pct: str) -> _Metric:
        return _Metric(
            name=f"latency.{pct}",
            value=lambda s: float(getattr(s.latency, pct)),
            n=lambda s: len(s.latency_samples),
            beyond=beyond,
            worse_sign=1,
            p_value=p_value,
            min_p=stats.mann_whitney_min_p,
            test="mann-whitney-u",
        )

    return [make(pct) for pct in LATENCY_METRICS]


def _error_metric() -> _Metric:
    def beyond(cur: float, base: float, tol: Tolerances) -> int:
        diff = cur - base
        return 0 if abs(diff) <= tol.error_rate + _EPS else (1 if diff > 0 else -1)

    def p_value(cur: SeriesStats, base: SeriesStats, worse: bool) -> float:
        alternative: stats.Alternative = "greater" if worse else "less"
        return stats.fisher_p(cur.errors, cur.count, base.errors, base.count, alternative)

    return _Metric(
        name="error_rate",
        value=lambda s: s.error_rate,
        n=lambda s: s.count,
        beyond=beyond,
        worse_sign=1,
        p_value=p_value,
        min_p=stats.fisher_min_p,
        test="fisher-exact",
    )


def _quality_metric(attribute: str) -> _Metric:
    def beyond(cur: float, base: float, tol: Tolerances) -> int:
        diff = cur - base
        return 0 if abs(diff) <= tol.quality + _EPS else (1 if diff < 0 else -1)

    def p_value(cur: SeriesStats, base: SeriesStats, worse: bool) -> float:
        alternative: stats.Alternative = "less" if worse else "greater"
        return stats.mann_whitney_p(
            cur.quality_samples[attribute], base.quality_samples[attribute], alternative
        )

    def value(s: SeriesStats) -> float | None:
        summary = s.quality.get(attribute)
        return summary.mean if summary is not None else None

    return _Metric(
        name=f"quality.{attribute}",
        value=value,
        n=lambda s: s.quality[attribute].count if attribute in s.quality else 0,
        beyond=beyond,
        worse_sign=-1,
        p_value=p_value,
        min_p=stats.mann_whitney_min_p,
        test="mann-whitney-u",
    )
