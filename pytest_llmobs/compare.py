"""Checks of a run against its baseline: a regression is beyond tolerance and significant.

Significance is family-wise: the raw p-values of all tested checks of the run are Holm
adjusted, so a run with many series and metrics raises a false alarm with probability
at most `Rules.alpha`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from pytest_llmobs import coverage, measure, stats
from pytest_llmobs.coverage import Absence
from pytest_llmobs.model import TEST_GROUP, SeriesKey, SeriesStats
from pytest_llmobs.rules import Rules, Tolerance
from pytest_llmobs.selection import RanTests
from pytest_llmobs.semconv import attribute_of, metric_of

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
LATENCY_METRICS = ("p50", "p95", "p99")
SERIES_METRICS = (*(f"latency.{p}" for p in LATENCY_METRICS), "error_rate")  # every series'


@dataclass(frozen=True)
class Check:
    """One metric of one series, judged.

    `change` is the estimate the test and the interval are about, in the metric's unit,
    and `relative` is it over the baseline value: for a paired check the typical
    per-test-case change, otherwise current minus baseline. A paired check also carries
    the plain `pooled_change` (current minus baseline) and `pooled_relative`. The interval
    (`ci_low`, `ci_high`, 95%) and `mde` (the change this check detects with 80% power at
    its n) are relative for latency, absolute otherwise. p-values are one-sided, in the
    direction the metric moved: `p_raw` is the test's own, `p_value` Holm-adjusted across
    the run. A `missing` check's p-values are those of the coverage test (see coverage).
    """

    series: SeriesKey
    metric: str
    verdict: Verdict
    baseline: float | None = None
    current: float | None = None
    change: float | None = None
    relative: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    p_raw: float | None = None
    test: str | None = None
    paired: bool = False
    n_baseline: int = 0
    n_current: int = 0
    mde: float | None = None
    tolerance: str | None = None
    reason: str = ""
    pooled_change: float | None = None
    pooled_relative: float | None = None


@dataclass(frozen=True)
class Comparison:
    """All checks of a run, most urgent first, and what of the baseline it did not measure.

    `absences` is None when the tests that ran are not known (older saved runs);
    `selection` says why nothing could be judged (no test ran, or none the baseline
    knows); `unjudged` what the baseline's skipped or vanished test cases measured.
    """

    checks: tuple[Check, ...]
    absences: tuple[Absence, ...] | None = None
    selection: tuple[str, ...] = ()
    unjudged: tuple[str, ...] = ()

    @property
    def lost(self) -> tuple[Absence, ...]:
        """The baseline's series and metrics this run lost (these fail the gate)."""
        return tuple(a for a in self.absences or () if a.status == "lost")

    @property
    def failures(self) -> tuple[str, ...]:
        """Sentences saying what of the baseline this run failed to measure."""
        return (*self.selection, *(f"{a.subject}: {a.reason}" for a in self.lost))

    @property
    def regressions(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict == "regression")

    @property
    def inconclusive(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict == "inconclusive")

    @property
    def verdict(self) -> Literal["pass", "regression"]:
        return "regression" if self.regressions else "pass"


def compare(
    current: Sequence[SeriesStats],
    baseline: Sequence[SeriesStats],
    quality_attributes: Sequence[str] = (),
    rules: Rules | None = None,
    intervals: bool = True,
    tests: RanTests | None = None,
) -> Comparison:
    """Judge every metric of every series in either run.

    Args:
        current: this run's series.
        baseline: the baseline's series.
        quality_attributes: quality attributes to check; those found in either run are added.
        rules: tolerances, SLOs and alpha; the defaults when None.
        intervals: compute confidence intervals; decisions do not depend on them.
        tests: the test ids that ran in each run; with them, what the baseline holds and
            this run did not measure is judged too (see coverage).

    Returns:
        The checks, regressions first.
    """
    rules = rules or Rules()
    drafts = _drafts(current, baseline, quality_attributes, rules, intervals)
    if tests is None:
        checks, _ = _decide(drafts, rules.alpha, [])
        return Comparison(_ordered(checks))

    def checked(key: SeriesKey, metric: str) -> bool:
        return _tolerance(rules, key, metric) is not None

    surveyed = coverage.survey(current, baseline, tests, checked, SERIES_METRICS)
    losses = [a.p_raw for a in coverage.tested(surveyed) if a.p_raw is not None]
    checks, adjusted = _decide(drafts, rules.alpha, losses)
    absences = coverage.settle(surveyed, adjusted, rules.alpha)
    checks = [_explained(c, coverage.explaining(absences, c.series, c.metric)) for c in checks]
    return Comparison(_ordered(checks), tuple(absences), tests.failures(), tests.unjudged())


def _drafts(
    current: Sequence[SeriesStats],
    baseline: Sequence[SeriesStats],
    quality_attributes: Sequence[str],
    rules: Rules,
    intervals: bool,
) -> list[_Draft]:
    """Every metric of every series in either run measured, before the run's decision."""
    now = {s.key: s for s in current}
    before = {s.key: s for s in baseline}
    found = {a for s in (*current, *baseline) for a in s.quality}
    attributes = list(dict.fromkeys([*quality_attributes, *sorted(found)]))
    metrics = [*SERIES_METRICS, *(metric_of(a) for a in attributes)]
    drafts: list[_Draft] = []
    for key in sorted(now.keys() | before.keys()):
        for metric in metrics:
            tolerance = _tolerance(rules, key, metric)
            if tolerance is None:
                continue
            draft = _draft(key, metric, tolerance, now.get(key), before.get(key), intervals)
            if draft is not None:
                drafts.append(draft)
    return drafts


def _tolerance(rules: Rules, key: SeriesKey, metric: str) -> Tolerance | None:
    return rules.tolerance(key.name, metric, dict(key.group).get(TEST_GROUP))


def _ordered(checks: list[Check]) -> tuple[Check, ...]:
    return tuple(sorted(checks, key=lambda c: VERDICT_ORDER.index(c.verdict)))


def _explained(check: Check, absence: Absence | None) -> Check:
    """A missing check, with the reason and test of its series' or metric's coverage."""
    if check.verdict != "missing" or absence is None:
        return check
    return replace(
        check, reason=absence.reason, p_value=absence.p_value, p_raw=absence.p_raw,
        test="loss-exact" if absence.p_raw is not None else None,
        n_baseline=absence.before, n_current=absence.now,
    )  # fmt: skip


@dataclass(frozen=True)
class _Draft:
    """A check before the run-wide decision, with what the decision needs."""

    check: Check
    tolerance: Tolerance
    se: float = math.inf
    min_p: float = 1.0
    p: stats.Sided | None = None

    def p_towards(self, worse: bool) -> float:
        """The one-sided p-value that the metric moved the worse (or better) way."""
        assert self.p is not None
        greater, less = self.p
        return greater if (self.tolerance.direction > 0) == worse else less


def _draft(
    key: SeriesKey,
    metric: str,
    tolerance: Tolerance,
    cur: SeriesStats | None,
    base: SeriesStats | None,
    intervals: bool,
) -> _Draft | None:
    """The check with its measurement and raw p; None when neither run has the metric."""
    value_now, value_before = measure.value(cur, metric), measure.value(base, metric)
    if value_now is None and value_before is None:
        return None
    if value_before is None:
        check = Check(key, metric, "new", current=value_now, reason="not in the baseline")
        return _Draft(check, tolerance)
    if value_now is None or cur is None or base is None:
        check = Check(key, metric, "missing", baseline=value_before, reason="not in this run")
        return _Draft(check, tolerance)
    m = _measure(metric, cur, base, intervals)
    pooled = m.current - m.baseline
    check = Check(
        key, metric, "inconclusive" if m.p is None else "pass",
        baseline=m.baseline, current=m.current, change=m.change, relative=m.relative,
        ci_low=m.ci[0] if m.ci else None, ci_high=m.ci[1] if m.ci else None,
        test=m.test, paired=m.paired,
        n_baseline=m.n_baseline, n_current=m.n_current,
        tolerance=tolerance.spec, reason=m.reason,
        pooled_change=pooled if m.paired else None,
        pooled_relative=pooled / m.baseline if m.paired and m.baseline else None,
    )  # fmt: skip
    return _Draft(check, tolerance, m.se, m.min_p, m.p)


def _measure(
    metric: str, cur: SeriesStats, base: SeriesStats, intervals: bool
) -> measure.Measurement:
    family, _, rest = metric.partition(".")
    if family == "latency":
        return measure.latency(cur, base, rest, intervals)
    if family == "error_rate":
        return measure.error_rate(cur, base, intervals)
    return measure.quality(attribute_of(metric), cur, base, intervals)


def _decide(
    drafts: list[_Draft], alpha: float, losses: Sequence[float]
) -> tuple[list[Check], list[float]]:
    """Holm-adjust the one-sided p-values of all tested checks, then judge each.

    Regressions and improvements are two families, each adjusted on its own: a false
    regression alarm happens with probability at most alpha across the whole run. The
    raw p-values of `losses` (coverage tests) join the regressions' family.

    Returns:
        The checks, and the adjusted p-values of `losses`.
    """
    tested = [d for d in drafts if d.p is not None]
    worse = stats.holm([*(d.p_towards(worse=True) for d in tested), *losses])
    better = stats.holm([d.p_towards(worse=False) for d in tested])
    adjusted = {id(d): (w, b) for d, w, b in zip(tested, worse, better, strict=False)}
    threshold = alpha / max(len(tested) + len(losses), 1)  # Holm's first, strictest step
    checks = [
        _judge(d, adjusted[id(d)], alpha, threshold) if id(d) in adjusted else d.check
        for d in drafts
    ]
    return checks, worse[len(tested) :]


def _judge(draft: _Draft, adjusted: tuple[float, float], alpha: float, threshold: float) -> Check:
    check, tolerance = draft.check, draft.tolerance
    assert check.current is not None
    assert check.baseline is not None
    mde = stats.minimum_detectable(draft.se, threshold) if math.isfinite(draft.se) else None
    if mde is not None and check.metric.startswith("latency"):
        mde = math.expm1(mde)  # the test works on log ratios
    # p-values shown are one-sided, in the direction the estimate moved
    change = check.change or 0.0
    worse = change * tolerance.direction > 0
    p = adjusted[0] if worse else adjusted[1]
    judged = replace(check, p_value=p, p_raw=draft.p_towards(worse), mde=mde)
    direction = tolerance.beyond(check.baseline + change, check.baseline)
    if direction == 0:
        return replace(judged, reason=f"within tolerance ({tolerance.spec})")
    beyond = f"beyond tolerance ({tolerance.spec})"
    if p < alpha:
        verdict: Verdict = "regression" if direction > 0 else "improvement"
        return replace(judged, verdict=verdict, reason=f"{beyond}, p < {alpha:g}")
    if draft.min_p >= threshold:
        sizes = f"{check.n_baseline} (baseline) and {check.n_current} (now)"
        reason = f"{beyond}, but {sizes} samples cannot reach p < {threshold:.2g}"
        return replace(judged, verdict="inconclusive", reason=reason)
    return replace(judged, reason=f"{beyond} but not significant")
