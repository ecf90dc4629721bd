"""Checks of a run against its baseline, in three words:

- `regression`: the change is significantly beyond its tolerance (each test's null is
  "the change is at most the tolerance", not "no change");
- `inconclusive`: not a regression, but the data cannot rule out a change of the
  tolerance's size: the estimate is beyond tolerance, or the check is too weak at this n
  to see such a change (its 95% interval is wider than the tolerance), or it cannot be
  tested at all; each says which, and about how many spans or test cases would settle it;
- `pass`: the rest (and `improvement`, symmetrically, significantly better than tolerance).

Significance is family-wise: the raw p-values of all tested checks of the run are Holm
adjusted, so a run with many series and metrics raises a false alarm with probability
at most `Rules.alpha` whenever every change is within its tolerance.
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
LATENCY_METRICS = ("p50", "p95", "p99")  # checked by default; p90 when a rule names it
SERIES_METRICS = (*(f"latency.{p}" for p in LATENCY_METRICS), "error_rate")  # every series'
Cause = Literal["", "beyond-tolerance", "low-power", "too-few"]
NEEDED_LIMIT = 1e9  # beyond this many spans, "needed" says nothing useful


@dataclass(frozen=True)
class Check:
    """One metric of one series, judged.

    `change` is the estimate the test and the interval are about, in the metric's unit,
    and `relative` is it over the baseline value: for a paired check the typical
    per-test-case change, otherwise current minus baseline. A paired check also carries
    the plain `pooled_change` (current minus baseline) and `pooled_relative`. The interval
    (`ci_low`, `ci_high`, 95%) and `mde` (the change this check flags with 80% power at
    its n: the tolerance plus what the noise hides) are relative for latency, absolute
    otherwise. p-values are one-sided, that the change lies beyond the tolerance in the
    direction the metric moved: `p_raw` is the test's own, `p_value` Holm-adjusted across
    the run. An inconclusive check says why in `cause` (`beyond-tolerance`, `low-power`,
    `too-few`) and `needed`: about how many spans a side (test cases, when paired) would
    settle it. A `missing` check's p-values are those of the coverage test (see coverage).
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
    cause: Cause = ""
    needed: int | None = None


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
    metrics = [*series_metrics(rules), *(metric_of(a) for a in attributes)]
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


@dataclass(frozen=True)
class _Draft:
    """A check before the run-wide decision, with what the decision needs: the test's
    standard error, p-values and reach against the bounds (on the test's scale: the log
    ratio for latency), and the estimate on that scale."""

    check: Check
    tolerance: Tolerance
    se: float = math.inf
    min_p: stats.Sided = (1.0, 1.0)
    p: stats.Sided | None = None
    bounds: stats.Bounds = (0.0, 0.0)
    estimate: float = 0.0

    def p_towards(self, worse: bool) -> float:
        """The one-sided p-value that the metric moved beyond tolerance the worse (or
        better) way."""
        assert self.p is not None
        upper, lower = self.p
        return upper if (self.tolerance.direction > 0) == worse else lower

    @property
    def margin(self) -> float:
        """How far the estimate may go the worse way, on the test's scale."""
        upper, lower = self.bounds
        return upper if self.tolerance.direction > 0 else -lower

    @property
    def reach(self) -> float:
        """The smallest p-value the test can give the worse way at these sizes."""
        return self.min_p[0 if self.tolerance.direction > 0 else 1]


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
    return _Draft(check, tolerance, m.se, m.min_p, m.p, bounds, m.estimate)


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
    """The verdict of one tested check: regression (or improvement) when significantly
    beyond tolerance, else inconclusive when the data cannot rule out a harmful change
    of the tolerance's size, else pass."""
    check, tolerance = draft.check, draft.tolerance
    assert check.current is not None
    assert check.baseline is not None
    spread = (stats.z_for(threshold) + stats.Z_POWER_80) * draft.se
    finite = math.isfinite(draft.se) and math.isfinite(draft.margin)
    mde = _shown(check, draft.margin + spread) if finite else None
    change = check.change or 0.0
    worse = change * tolerance.direction > 0  # p-values shown: the way the estimate moved
    p = adjusted[0] if worse else adjusted[1]
    p_raw = draft.p_towards(worse)
    judged = replace(
        check, p_value=p, p_raw=p_raw, mde=None if mde is None else mde * tolerance.direction
    )
    spec = _applied(check, tolerance, draft.margin)
    if adjusted[0] < alpha or adjusted[1] < alpha:
        verdict: Verdict = "regression" if adjusted[0] < alpha else "improvement"
        shown = adjusted[0] if verdict == "regression" else adjusted[1]
        reason = f"significantly beyond {spec} (p {_p(shown)} < {alpha:g})"
        return replace(judged, p_value=shown, verdict=verdict, reason=reason)
    unit = "test cases" if check.paired else "spans a side"
    harm = draft.estimate * tolerance.direction  # the estimate, positive the harmful way
    if tolerance.beyond(check.baseline + change, check.baseline) > 0:
        excess = harm - draft.margin
        needed = _needed(check, stats.z_for(threshold) * draft.se / excess) if excess > 0 else None
        reason = (
            f"beyond {spec} but not significantly (p {_p(p_raw)}; {_p(p)} adjusted for the "
            f"run's {_family(alpha, threshold)} tests)" + _settle(needed, unit)
        )
        return replace(judged, verdict="inconclusive", reason=reason, cause="beyond-tolerance",
                       needed=needed)  # fmt: skip
    if math.isinf(draft.margin):  # e.g. "-20ms" on a 5 ms span: it cannot get that much better
        return replace(judged, reason=f"within tolerance ({spec}: any change this way)")
    if draft.reach >= threshold:
        sizes = f"{check.n_baseline} (baseline) and {check.n_current} (now)"
        reason = f"{sizes} {unit.split()[0]} cannot reach p < {threshold:.2g}"
        return replace(judged, verdict="inconclusive", reason=reason, cause="too-few")
    noise = stats.Z_95 * draft.se  # the harmful end of the estimate's 95% interval is
    if tolerance.against_zero(check.baseline) and draft.margin == 0 and noise > 0:
        reason = f"{spec}: set an absolute tolerance to judge it"
        return replace(judged, verdict="inconclusive", reason=reason, cause="low-power")
    if draft.margin > 0 and not harm + noise <= draft.margin:  # harm + noise: beyond it
        room = draft.margin - harm
        needed = _needed(check, noise / room) if room > 0 else None
        what = "test cases" if check.paired else "spans"
        reason = f"too few {what} to rule out a change beyond {spec}" + _settle(needed, unit)
        return replace(judged, verdict="inconclusive", reason=reason, cause="low-power",
                       needed=needed)  # fmt: skip
    if harm < 0 and tolerance.beyond(check.baseline + change, check.baseline) < 0:
        return replace(judged, reason=f"better than {spec}, not significantly")
    return replace(judged, reason=f"within tolerance ({spec})")


def _family(alpha: float, threshold: float) -> int:
    return round(alpha / threshold)


def _applied(check: Check, tolerance: Tolerance, margin: float) -> str:
    """The tolerance's spec, with the bound it came to on this baseline where that is not
    plain from the spec (an absolute floor that outweighs a percentage, a relative bound
    on a score, a zero baseline)."""
    assert check.baseline is not None
    spec = tolerance.spec
    if tolerance.against_zero(check.baseline):
        return f"{spec} of a zero baseline, which allows no change"
    if tolerance.relative is None or not math.isfinite(margin):
        return spec
    sign = "+" if tolerance.direction > 0 else "-"
    if check.metric.startswith("latency"):
        if tolerance.absolute is None or math.expm1(margin) <= tolerance.relative + 1e-9:
            return spec
        return f"{spec}, here {sign}{math.expm1(margin):.1%}"
    return f"{spec}, here {sign}{_format(check, margin)}"


def _settle(needed: int | None, unit: str) -> str:
    return f", about {needed} {unit} needed" if needed else ""


def _needed(check: Check, ratio: float) -> int | None:
    """Spans a side (test cases, when paired) at which the standard error shrinks by
    `ratio`: the check's n scaled by its square."""
    if not math.isfinite(ratio) or ratio <= 0:
        return None
    n = check.n_current if check.paired else _harmonic(check.n_current, check.n_baseline)
    needed = n * ratio * ratio
    return max(math.ceil(needed), math.floor(n) + 1) if needed < NEEDED_LIMIT else None


def _harmonic(a: int, b: int) -> float:
    """The equal size a side that gives two samples of a and b their standard error."""
    return 2 / (1 / a + 1 / b) if a > 0 and b > 0 else float(max(a, b))


def _shown(check: Check, amount: float) -> float:
    """An amount on the test's scale as the check shows changes: relative for latency."""
    return math.expm1(amount) if check.metric.startswith("latency") else amount


def _format(check: Check, amount: float) -> str:
    """An amount in the metric's unit, as its changes are shown."""
    if check.metric == "error_rate":
        return f"{amount * 100:.2g}pp"
    return f"{amount:.3g}"


def _p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"
