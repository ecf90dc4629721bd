"""Measure one metric of one series in two runs: estimate, test, interval, standard error."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pytest_llmobs import stats
from pytest_llmobs.model import Floats, SeriesStats, per_case

MIN_PAIRS = 10  # test cases present in both runs before the comparison is paired
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
    """A latency percentile (pct like "p95"): paired rank test on p50, quantile test on tails.

    A paired check estimates the typical per-case ratio (the geometric mean of the
    per-case ratios of medians), which its test is about; an unpaired one the ratio of the
    percentiles. Either way the interval is the normal one of the estimate's log ratio.
    """
    q = float(pct[1:]) / 100
    now, before = float(getattr(cur.latency, pct)), float(getattr(base.latency, pct))
    n_cur, n_base = len(cur.latency_samples), len(base.latency_samples)
    pairs = None
    if q < TAIL_FROM:
        pairs = _pairs(
            per_case(cur.latency_samples, cur.latency_case, cur.cases, "median"),
            per_case(base.latency_samples, base.latency_case, base.cases, "median"),
        )
    if pairs is not None:
        diffs = stats.log_ratios(pairs[0], pairs[1])
        se, n, centre = _se_of_mean(diffs), len(diffs), float(np.mean(diffs))
        p, min_p = stats.wilcoxon(diffs), stats.wilcoxon_min_p(n)
        return _latency(before, now, n, n, p, "wilcoxon", True, se, min_p, centre, intervals)
    centre = stats.log_ratio(now, before)
    se = _unpaired_log_se(cur, base, q)
    if q >= TAIL_FROM:
        need = stats.tail_min_samples(q)
        if min(n_cur, n_base) < need:
            reason = f"need >= {need} spans on each side for {pct} (have {n_cur} vs {n_base})"
            return _latency(
                before, now, n_base, n_cur, None, "quantile-z", False, se, 1.0, centre,
                intervals, reason,
            )  # fmt: skip
        p = stats.normal_sided(centre / se)
        return _latency(
            before, now, n_base, n_cur, p, "quantile-z", False, se, 0.0, centre, intervals
        )
    p = stats.mann_whitney(cur.latency_samples, base.latency_samples)
    min_p = stats.mann_whitney_min_p(n_cur, n_base)
    return _latency(
        before, now, n_base, n_cur, p, "mann-whitney-u", False, se, min_p, centre, intervals
    )


def _latency(
    before: float, now: float, n_base: int, n_cur: int, p: stats.Sided | None, test: str,
    paired: bool, se: float, min_p: float, centre: float, intervals: bool, reason: str = "",
) -> Measurement:  # fmt: skip
    """A latency measurement whose estimate is the log ratio `centre`, shown relative."""
    ci = None
    if intervals and math.isfinite(se):
        ci = (math.expm1(centre - stats.Z_95 * se), math.expm1(centre + stats.Z_95 * se))
    relative = math.expm1(centre)
    return Measurement(
        before, now, n_base, n_cur, p, test, paired, se, min_p, ci, reason,
        change=before * relative, relative=relative,
    )  # fmt: skip


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
    """Mean of a quality attribute: paired signed-rank test on per-case means when possible,
    estimating the mean per-case difference; else the difference of the means."""
    now, before = cur.quality[attr], base.quality[attr]
    change = now.mean - before.mean
    pairs = _pairs(_quality_means(cur, attr), _quality_means(base, attr))
    if pairs is not None:
        diffs = pairs[0] - pairs[1]
        se, n, change = _se_of_mean(diffs), len(diffs), float(np.mean(diffs))
        p, test, paired, min_p = stats.wilcoxon(diffs), "wilcoxon", True, stats.wilcoxon_min_p(n)
        n_cur = n_base = n
    else:
        c, b = cur.quality_samples[attr], base.quality_samples[attr]
        se = math.sqrt(_var(c) / max(len(c), 1) + _var(b) / max(len(b), 1))
        p, test, paired = stats.mann_whitney(c, b), "mann-whitney-u", False
        min_p = stats.mann_whitney_min_p(len(c), len(b))
        n_cur, n_base = now.count, before.count
    ci = (change - stats.Z_95 * se, change + stats.Z_95 * se) if intervals else None
    if ci is not None and not math.isfinite(se):
        ci = None
    relative = change / before.mean if before.mean else None
    return Measurement(
        before.mean, now.mean, n_base, n_cur, p, test, paired, se, min_p, ci,
        change=change, relative=relative,
    )  # fmt: skip


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
