"""Checks of a run against its baseline: every metric of every series measured by its
test against the bounds of its tolerance (measure), then judged in three words once the
run's p-values are adjusted (verdict):

- `regression`: the change is significantly beyond its tolerance (each test's null is
  "the change is at most the tolerance", not "no change");
- `inconclusive`: not a regression, but a harmful change beyond the tolerance cannot be
  ruled out: the estimate is beyond it, or the estimate plus 1.96 standard errors is, or
  the check cannot be tested at all; each says which, and what would settle it;
- `pass`: the rest (and `improvement`, symmetrically, significantly better than tolerance).

Significance is family-wise: the raw p-values of all tested checks of the run are Holm
adjusted, so a run with many series and metrics raises a false alarm with probability
at most `Rules.alpha` whenever every change is within its tolerance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from pytest_llmobs.gate import coverage, measure, stats
from pytest_llmobs.gate.checks import VERDICT_ORDER, Cause, Check, Verdict
from pytest_llmobs.gate.coverage import Absence
from pytest_llmobs.gate.model import TEST_GROUP, SeriesKey, SeriesStats
from pytest_llmobs.gate.rules import Rules, Tolerance
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.semconv import attribute_of, metric_of
from pytest_llmobs.gate.verdict import Draft, judge

__all__ = ["VERDICT_ORDER", "Cause", "Check", "Comparison", "Verdict", "compare"]

LATENCY_METRICS = ("p50", "p95", "p99")  # checked by default; p90 when a rule names it
SERIES_METRICS = (*(f"latency.{p}" for p in LATENCY_METRICS), "error_rate")  # every series'


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

    surveyed = coverage.survey(current, baseline, tests, checked, series_metrics(rules))
    losses = [a.p_raw for a in coverage.tested(surveyed) if a.p_raw is not None]
    checks, adjusted = _decide(drafts, rules.alpha, losses)
    absences = coverage.settle(surveyed, adjusted, rules.alpha)
    explaining = coverage.explainer(absences)
    checks = [_explained(c, explaining(c.series, c.metric)) for c in checks]
    return Comparison(_ordered(checks), tuple(absences), tests.failures(), tests.unjudged())


def _drafts(
    current: Sequence[SeriesStats],
    baseline: Sequence[SeriesStats],
    quality_attributes: Sequence[str],
    rules: Rules,
    intervals: bool,
) -> list[Draft]:
    """Every metric of every series in either run measured, before the run's decision."""
    now = {s.key: s for s in current}
    before = {s.key: s for s in baseline}
    found = {a for s in (*current, *baseline) for a in s.quality}
    attributes = list(dict.fromkeys([*quality_attributes, *sorted(found)]))
    metrics = [*series_metrics(rules), *(metric_of(a) for a in attributes)]
    drafts: list[Draft] = []
    for key in sorted(now.keys() | before.keys()):
        for metric in metrics:
            tolerance = _tolerance(rules, key, metric)
            if tolerance is None:
                continue
            draft = _draft(key, metric, tolerance, now.get(key), before.get(key), intervals)
            if draft is not None:
                drafts.append(draft)
    return drafts


def series_metrics(rules: Rules) -> tuple[str, ...]:
    """The metrics every series is checked on: p90 too when a rule names it."""
    return (*SERIES_METRICS, "latency.p90") if rules.names("latency.p90") else SERIES_METRICS


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


def _draft(
    key: SeriesKey,
    metric: str,
    tolerance: Tolerance,
    cur: SeriesStats | None,
    base: SeriesStats | None,
    intervals: bool,
) -> Draft | None:
    """The check with its measurement and raw p; None when neither run has the metric."""
    value_now, value_before = measure.value(cur, metric), measure.value(base, metric)
    if value_now is None and value_before is None:
        return None
    if value_before is None:
        check = Check(key, metric, "new", current=value_now, reason="not in the baseline")
        return Draft(check, tolerance)
    if value_now is None or cur is None or base is None:
        check = Check(key, metric, "missing", baseline=value_before, reason="not in this run")
        return Draft(check, tolerance)
    allowance = tolerance.allowance(value_before)
    if metric.startswith("latency"):
        bounds = measure.latency_bounds(allowance, value_before)
    else:
        bounds = (allowance, -allowance)
    m = _measure(metric, cur, base, bounds, intervals)
    pooled = m.current - m.baseline
    check = Check(
        key, metric, "inconclusive" if m.p is None else "pass",
        baseline=m.baseline, current=m.current, change=m.change, relative=m.relative,
        ci_low=m.ci[0] if m.ci else None, ci_high=m.ci[1] if m.ci else None,
        test=m.test, paired=m.paired,
        n_baseline=m.n_baseline, n_current=m.n_current,
        tolerance=tolerance.spec, reason=m.reason,
        pooled_change=pooled if m.paired else None,
        pooled_relative=pooled / abs(m.baseline) if m.paired and m.baseline else None,
        cause="too-few" if m.p is None else "", needed=m.needed,
    )  # fmt: skip
    return Draft(check, tolerance, m.se, m.min_p, m.p, bounds, m.estimate)


def _measure(
    metric: str, cur: SeriesStats, base: SeriesStats, bounds: stats.Bounds, intervals: bool
) -> measure.Measurement:
    family, _, rest = metric.partition(".")
    if family == "latency":
        return measure.latency(cur, base, rest, bounds, intervals)
    if family == "error_rate":
        return measure.error_rate(cur, base, bounds, intervals)
    return measure.quality(attribute_of(metric), cur, base, bounds, intervals)


def _decide(
    drafts: list[Draft], alpha: float, losses: Sequence[float]
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
        judge(d, adjusted[id(d)], alpha, threshold) if id(d) in adjusted else d.check
        for d in drafts
    ]
    return checks, worse[len(tested) :]
