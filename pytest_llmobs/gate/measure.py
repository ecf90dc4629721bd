"""Measure one metric of one series in two runs: estimate, test, interval, standard error.

Every test is against the tolerance, not against zero: given the bounds a change may
reach each way, it gives the one-sided p-values that the change lies above the upper
bound and below the lower one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from pytest_llmobs.gate import quantiles, rates, stats
from pytest_llmobs.gate.model import Floats, SeriesStats, per_case
from pytest_llmobs.gate.semconv import attribute_of
from pytest_llmobs.gate.stats import Bounds, Sample, Sided

MIN_PAIRS = 10  # test cases present in both runs before the comparison is paired
MIN_VALUES = 5  # scores a side before an unpaired mean is tested, as for a median
TAIL_FROM = 0.9  # percentiles from here on are tails: they need enough spans to be judged
_LOG_NOISE = 1.0  # log ratios are compared at an absolute noise of stats.NOISE


@dataclass(frozen=True)
class Measurement:
    """A metric's values in both runs and what the data says about their difference.

    `change` (in the metric's unit) and `relative` are the estimate the test and the
    interval are about: for a paired check the typical per-test-case change, otherwise
    the change of the statistic itself; `estimate` is it on the test's own scale (the log
    ratio for latency, else `change`). For latency, `se` and the interval are of the log
    ratio (the interval shown relative); otherwise of the difference. `p` holds the
    one-sided p-values that the change is above the upper bound, and below the lower one;
    `min_p` the smallest each can be at these sizes.
    """

    baseline: float
    current: float
    n_baseline: int
    n_current: int
    p: Sided | None  # None when the check cannot be tested
    test: str
    paired: bool
    se: float
    min_p: Sided
    ci: tuple[float, float] | None
    reason: str = ""  # set when the check cannot be tested
    change: float = 0.0
    relative: float | None = None
    estimate: float = 0.0
    needed: int | None = None  # when untestable: the spans a side that make it testable


def latency_bounds(allowance: float, baseline_ms: float) -> Bounds:
    """An allowance in ms around a baseline latency, as bounds on the log ratio."""
    base = max(baseline_ms, quantiles.TINY_MS)
    lower = math.log1p(-allowance / base) if allowance < base else -math.inf
    return math.log1p(allowance / base), lower


def latency(
    cur: SeriesStats, base: SeriesStats, pct: str, bounds: Bounds, intervals: bool
) -> Measurement:
    """A latency percentile (pct like "p95"), as a ratio to the baseline's; `bounds` are
    on the log ratio.

    p50 of test cases in both runs: the signed-rank test on the per-case log ratios of
    median latency less each bound, estimating their Hodges-Lehmann ratio with the test's
    own interval. Otherwise the ratio of the percentiles, with a normal interval on its
    log from the order-statistic standard errors, tested by Mood's exact median test for
    p50 (on the current latencies scaled by each bound) and a z-test for the tails
    (untestable below 29 spans a side for p90, 59 for p95, 299 for p99).
    """
    q = float(pct[1:]) / 100
    now, before = float(getattr(cur.latency, pct)), float(getattr(base.latency, pct))
    if q < TAIL_FROM:
        pairs = _pairs(
            per_case(cur.latency_samples, cur.latency_case, cur.cases, "median"),
            per_case(base.latency_samples, base.latency_case, base.cases, "median"),
        )
        if pairs is not None:
            diffs = stats.denoised(quantiles.log_ratios(*pairs), _LOG_NOISE)
            return _paired_latency(before, now, diffs, bounds, intervals)
    c, b = _timed(cur), _timed(base)
    centre, se = quantiles.log_ratio(now, before), _unpaired_log_se(c, b, q)
    ci = None
    if intervals and math.isfinite(se):
        ci = (math.expm1(centre - stats.Z_95 * se), math.expm1(centre + stats.Z_95 * se))
    n = (b.count, c.count)
    if q < TAIL_FROM:
        p, reach = _median_tests(c, b, bounds)
        m = Measurement(before, now, *n, p, "median-test", False, se, reach, ci)
        return _relative(m, centre)
    need = quantiles.tail_min_samples(q)
    if min(n) < need:
        reason = f"need >= {need} spans on each side for {pct} (baseline {n[0]}, now {n[1]})"
        m = Measurement(
            before, now, *n, None, "quantile-z", False, se, (1.0, 1.0), None, reason,
            needed=need,
        )  # fmt: skip
        return _relative(m, centre)
    p = (_beyond(centre, se, bounds[0], 1), _beyond(centre, se, bounds[1], -1))
    m = Measurement(before, now, *n, p, "quantile-z", False, se, (0.0, 0.0), ci)
    return _relative(m, centre)


def _beyond(estimate: float, se: float, bound: float, sign: int) -> float:
    """One-sided normal p-value that the estimate lies beyond the bound (sign +1: above)."""
    if math.isinf(bound) or not math.isfinite(se):
        return 1.0
    excess = (estimate - bound) * sign
    if stats.tied(excess, _LOG_NOISE):
        excess = 0.0
    if se == 0:
        return 0.0 if excess > 0 else 1.0
    return stats.normal_sided(excess / se)[0]


def _timed(series: SeriesStats) -> Sample:
    """The latency sample, and the timed spans it stands for."""
    values = series.latency_samples
    return Sample(values, max(series.count - series.cache_hits, len(values)))


def _median_tests(cur: Sample, base: Sample, bounds: Bounds) -> tuple[Sided, Sided]:
    """Mood's test that the current median exceeds the baseline's scaled by each bound."""
    if len(cur.values) == 0 or len(base.values) == 0:
        return stats.NO_EVIDENCE, stats.NO_EVIDENCE
    (upper, reach_up), (lower, reach_down) = (
        _median_test(cur, base, bound, side) for side, bound in enumerate(bounds)
    )
    return (upper, lower), (reach_up, reach_down)


def _median_test(cur: Sample, base: Sample, bound: float, side: int) -> tuple[float, float]:
    if math.isinf(bound):
        return 1.0, 1.0
    scaled = Sample(cur.values * math.exp(-bound), cur.count)
    p, reach = quantiles.median_test(scaled, base)
    return p[side], reach[side]


def _paired_latency(
    before: float, now: float, diffs: Floats, bounds: Bounds, intervals: bool
) -> Measurement:
    """Median latency of test cases in both runs, from their per-case log ratios."""
    n, (centre, limits) = len(diffs), stats.hodges_lehmann(diffs)
    ci = (math.expm1(limits[0]), math.expm1(limits[1])) if intervals else None
    ci = ci if ci is not None and all(map(math.isfinite, ci)) else None
    tests = [_signed_rank(diffs, bound, side) for side, bound in enumerate(bounds)]
    m = Measurement(
        before, now, n, n, (tests[0][0], tests[1][0]), "wilcoxon", True, _se_of_mean(diffs),
        (tests[0][1], tests[1][1]), ci,
    )  # fmt: skip
    return _relative(m, centre)


def _signed_rank(diffs: Floats, bound: float, side: int) -> tuple[float, float]:
    """The signed-rank p-value that the differences centre beyond the bound, and its reach."""
    if math.isinf(bound):
        return 1.0, 1.0
    shifted = stats.denoised(diffs - bound, _LOG_NOISE)
    return stats.wilcoxon(shifted)[side], stats.wilcoxon_min_p(shifted)


def _relative(measured: Measurement, log_ratio: float) -> Measurement:
    """A latency measurement with its estimate, a log ratio, as a relative change."""
    relative = math.expm1(log_ratio)
    return replace(
        measured, change=measured.baseline * relative, relative=relative, estimate=log_ratio
    )


def _unpaired_log_se(cur: Sample, base: Sample, q: float) -> float:
    return math.hypot(
        quantiles.log_quantile_se(cur.values, q, cur.count),
        quantiles.log_quantile_se(base.values, q, base.count),
    )


def error_rate(cur: SeriesStats, base: SeriesStats, bounds: Bounds, intervals: bool) -> Measurement:
    """Error rate: Farrington and Manning's score test against each bound, Newcombe
    interval of the difference."""
    pooled = (cur.errors + base.errors) / (cur.count + base.count)
    pooled = max(pooled, 1 / (cur.count + base.count))
    se = math.sqrt(pooled * (1 - pooled) * (1 / cur.count + 1 / base.count))
    ci = rates.newcombe_ci(cur.errors, cur.count, base.errors, base.count) if intervals else None
    change = cur.error_rate - base.error_rate
    return Measurement(
        base.error_rate, cur.error_rate, base.count, cur.count,
        rates.rates_beyond(cur.errors, cur.count, base.errors, base.count, bounds),
        "score-test", False, se, rates.rates_reach(cur.count, base.count, bounds), ci,
        change=change, relative=change / base.error_rate if base.error_rate else None,
        estimate=change,
    )  # fmt: skip


def quality(
    attr: str, cur: SeriesStats, base: SeriesStats, bounds: Bounds, intervals: bool
) -> Measurement:
    """Mean of a quality attribute (a score, tokens, cost per span): the difference of the
    means, tested against each bound by the paired t-test on per-case mean differences
    when test cases ran in both, else by Welch's t-test (untestable below MIN_VALUES a
    side), each with its own interval. A mean, not a median: a score that drops on a few
    prompts only moves it."""
    now, before = cur.quality[attr], base.quality[attr]
    pairs = _pairs(_quality_means(cur, attr), _quality_means(base, attr))
    if pairs is not None:
        diffs = stats.denoised(pairs[0] - pairs[1], np.maximum(*np.abs(pairs)))
        n, change = len(diffs), float(np.mean(diffs))
        p, se, interval = stats.paired_t(diffs, bounds)
        m = Measurement(
            before.mean, now.mean, n, n, p, "paired-t", True, se, (0.0, 0.0),
            interval if intervals else None,
        )  # fmt: skip
    else:
        c = Sample(cur.quality_samples[attr], now.count, now.mean)
        b = Sample(base.quality_samples[attr], before.count, before.mean)
        change = now.mean - before.mean
        if stats.tied(change, max(abs(now.mean), abs(before.mean))):
            change = 0.0
        welch = stats.welch(c, b, bounds) if min(c.count, b.count) >= MIN_VALUES else None
        if welch is None:
            reason = f"need >= {MIN_VALUES} values on each side (baseline {b.count}, now {c.count})"
            m = Measurement(
                before.mean, now.mean, b.count, c.count, None, "welch-t", False,
                math.inf, (1.0, 1.0), None, reason, needed=MIN_VALUES,
            )  # fmt: skip
        else:
            p, se, interval = welch
            m = Measurement(
                before.mean, now.mean, b.count, c.count, p, "welch-t", False, se, (0.0, 0.0),
                interval if intervals else None,
            )  # fmt: skip
    relative = change / abs(before.mean) if before.mean else None
    return replace(m, change=change, relative=relative, estimate=change)


def _quality_means(series: SeriesStats, attr: str) -> dict[str, float]:
    case = series.quality_case.get(attr)
    return per_case(series.quality_samples[attr], case, series.cases, "mean")


def _pairs(cur: dict[str, float], base: dict[str, float]) -> tuple[Floats, Floats] | None:
    """Per-case values of the test cases both runs have ("" is no test), or None if too few."""
    common = sorted((cur.keys() & base.keys()) - {""})
    if len(common) < MIN_PAIRS:
        return None
    return np.array([cur[c] for c in common]), np.array([base[c] for c in common])


def _se_of_mean(values: Floats) -> float:
    return math.sqrt(_var(values) / len(values)) if len(values) > 1 else math.inf


def _var(values: Floats) -> float:
    return float(np.var(values, ddof=1)) if len(values) > 1 else 0.0


def value(series: SeriesStats | None, metric: str) -> float | None:
    """The value of a metric (`latency.p95`, `error_rate`, `quality.x` ...) in a series;
    None when the series does not have it."""
    if series is None:
        return None
    family, _, rest = metric.partition(".")
    if family == "latency":
        if series.cache_hits >= series.count:
            return None  # every span came from a cache: there is no latency to judge
        return float(getattr(series.latency, rest))
    if family == "error_rate":
        return series.error_rate
    summary = series.quality.get(attribute_of(metric))
    return summary.mean if summary is not None else None
