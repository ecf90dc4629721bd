"""Measure one metric of one series in two runs: estimate, test, interval, standard error."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from pytest_llmobs import stats
from pytest_llmobs.model import Floats, SeriesStats, per_case
from pytest_llmobs.semconv import attribute_of

MIN_PAIRS = 10  # test cases present in both runs before the comparison is paired
MIN_VALUES = 5  # scores a side before an unpaired mean is tested, as for a median
TAIL_FROM = 0.9  # percentiles from here on are tails: they need enough spans to be judged


@dataclass(frozen=True)
class Measurement:
    """A metric's values in both runs and what the data says about their difference.

    `change` (in the metric's unit) and `relative` are the estimate the test and the
    interval are about: for a paired check the typical per-test-case change, otherwise
    the change of the statistic itself. For latency, `se` and the interval are of the log
    ratio (the interval shown relative); otherwise of the difference. `p` holds the
    one-sided p-values that the current value is greater, and less.
    """

    baseline: float
    current: float
    n_baseline: int
    n_current: int
    p: stats.Sided | None  # None when the check cannot be tested
    test: str
    paired: bool
    se: float
    min_p: float  # the smallest p the test can reach at these sizes
    ci: tuple[float, float] | None
    reason: str = ""  # set when the check cannot be tested
    change: float = 0.0
    relative: float | None = None


def latency(cur: SeriesStats, base: SeriesStats, pct: str, intervals: bool) -> Measurement:
    """A latency percentile (pct like "p95"), as a ratio to the baseline's.

    p50 of test cases in both runs: the signed-rank test on the per-case log ratios of
    median latency, estimating their Hodges-Lehmann ratio with the test's own interval.
    Otherwise the ratio of the percentiles, with a normal interval on its log from the
    order-statistic standard errors, tested by Mood's exact median test for p50 and a
    z-test for the tails (inconclusive below 59 spans a side for p95, 299 for p99).
    """
    q = float(pct[1:]) / 100
    now, before = float(getattr(cur.latency, pct)), float(getattr(base.latency, pct))
    if q < TAIL_FROM:
        pairs = _pairs(
            per_case(cur.latency_samples, cur.latency_case, cur.cases, "median"),
            per_case(base.latency_samples, base.latency_case, base.cases, "median"),
        )
        if pairs is not None:
            return _paired_latency(before, now, stats.log_ratios(*pairs), intervals)
    n_cur, n_base = len(cur.latency_samples), len(base.latency_samples)
    centre, se = stats.log_ratio(now, before), _unpaired_log_se(cur, base, q)
    ci = None
    if intervals and math.isfinite(se):
        ci = (math.expm1(centre - stats.Z_95 * se), math.expm1(centre + stats.Z_95 * se))
    if q < TAIL_FROM:
        p, min_p = stats.median_test(cur.latency_samples, base.latency_samples)
        m = Measurement(before, now, n_base, n_cur, p, "median-test", False, se, min_p, ci)
        return _relative(m, centre)
    need = stats.tail_min_samples(q)
    if min(n_cur, n_base) < need:
        reason = f"need >= {need} spans on each side for {pct} (baseline {n_base}, now {n_cur})"
        m = Measurement(
            before, now, n_base, n_cur, None, "quantile-z", False, se, 1.0, None, reason
        )
        return _relative(m, centre)
    p = stats.normal_sided(centre / se)
    return _relative(
        Measurement(before, now, n_base, n_cur, p, "quantile-z", False, se, 0.0, ci), centre
    )


def _paired_latency(before: float, now: float, diffs: Floats, intervals: bool) -> Measurement:
    """Median latency of test cases in both runs, from their per-case log ratios."""
    n, (centre, bounds) = len(diffs), stats.hodges_lehmann(diffs)
    ci = (math.expm1(bounds[0]), math.expm1(bounds[1])) if intervals else None
    ci = ci if ci is not None and all(map(math.isfinite, ci)) else None
    m = Measurement(
        before, now, n, n, stats.wilcoxon(diffs), "wilcoxon", True, _se_of_mean(diffs),
        stats.wilcoxon_min_p(int(np.count_nonzero(diffs))), ci,
    )  # fmt: skip
    return _relative(m, centre)


def _relative(measured: Measurement, log_ratio: float) -> Measurement:
    """A latency measurement with its estimate, a log ratio, as a relative change."""
    relative = math.expm1(log_ratio)
    return replace(measured, change=measured.baseline * relative, relative=relative)


def _unpaired_log_se(cur: SeriesStats, base: SeriesStats, q: float) -> float:
    return math.hypot(
        stats.log_quantile_se(cur.latency_samples, q),
        stats.log_quantile_se(base.latency_samples, q),
    )


def error_rate(cur: SeriesStats, base: SeriesStats, intervals: bool) -> Measurement:
    """Error rate: Fisher's exact test, Newcombe interval of the difference."""
    pooled = (cur.errors + base.errors) / (cur.count + base.count)
    pooled = max(pooled, 1 / (cur.count + base.count))
    se = math.sqrt(pooled * (1 - pooled) * (1 / cur.count + 1 / base.count))
    ci = stats.newcombe_ci(cur.errors, cur.count, base.errors, base.count) if intervals else None
    change = cur.error_rate - base.error_rate
    return Measurement(
        base.error_rate, cur.error_rate, base.count, cur.count,
        stats.fisher(cur.errors, cur.count, base.errors, base.count), "fisher-exact", False,
        se, stats.fisher_min_p(cur.count, base.count), ci,
        change=change, relative=change / base.error_rate if base.error_rate else None,
    )  # fmt: skip


def quality(attr: str, cur: SeriesStats, base: SeriesStats, intervals: bool) -> Measurement:
    """Mean of a quality attribute (a score, tokens, cost per span): the difference of the
    means, tested by the paired t-test on per-case mean differences when test cases ran in
    both, else by Welch's t-test (inconclusive below MIN_VALUES a side), each with its own
    interval. A mean, not a median: a score that drops on a few prompts only moves it."""
    now, before = cur.quality[attr], base.quality[attr]
    pairs = _pairs(_quality_means(cur, attr), _quality_means(base, attr))
    if pairs is not None:
        diffs = pairs[0] - pairs[1]
        n, change = len(diffs), float(np.mean(diffs))
        p, se, interval = stats.paired_t(diffs)
        m = Measurement(
            before.mean, now.mean, n, n, p, "paired-t", True, se, 0.0,
            interval if intervals else None,
        )  # fmt: skip
    else:
        c, b = cur.quality_samples[attr], base.quality_samples[attr]
        change = now.mean - before.mean
        welch = stats.welch(c, b) if min(len(c), len(b)) >= MIN_VALUES else None
        if welch is None:
            reason = f"need >= {MIN_VALUES} values on each side (baseline {len(b)}, now {len(c)})"
            m = Measurement(
                before.mean, now.mean, before.count, now.count, None, "welch-t", False,
                math.inf, 1.0, None, reason,
            )  # fmt: skip
        else:
            p, se, interval = welch
            m = Measurement(
                before.mean, now.mean, before.count, now.count, p, "welch-t", False, se, 0.0,
                interval if intervals else None,
            )  # fmt: skip
    relative = change / before.mean if before.mean else None
    return replace(m, change=change, relative=relative)


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
