"""Statistical routines of the gate: tests, their reach at a given n, intervals, correction."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from pytest_llmobs.model import Floats

Z_POWER_80 = 0.8416212335729143  # standard normal quantile of 0.8
Z_95 = 1.959964  # two-sided 95% normal quantile
_TINY_MS = 1e-6  # latencies are logged; a zero-length span counts as one nanosecond


_NORMAL = NormalDist()

# One-sided p-values of a test, as a pair: (current is greater, current is less).
Sided = tuple[float, float]
NO_EVIDENCE: Sided = (1.0, 1.0)


def normal_sided(z: float) -> Sided:
    """One-sided p-values of a standard normal statistic (erfc keeps tiny ones exact)."""
    if math.isnan(z):
        return NO_EVIDENCE
    return math.erfc(z / math.sqrt(2)) / 2, math.erfc(-z / math.sqrt(2)) / 2


def z_for(p_one_sided: float) -> float:
    """The z a one-sided test needs to reach p."""
    return -_NORMAL.inv_cdf(p_one_sided)


def _ranks(values: Floats) -> tuple[Floats, float]:
    """Average ranks (1-based) and the tie term sum(t**3 - t) over groups of ties."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    new = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    group = np.cumsum(new) - 1
    bounds = np.append(np.flatnonzero(new), len(values))
    sizes = np.diff(bounds).astype(np.float64)
    average = (bounds[:-1] + bounds[1:] + 1) / 2  # mean of ranks start+1 .. end
    ranks = np.empty(len(values))
    ranks[order] = average[group]
    return ranks, float(np.sum(sizes**3 - sizes))


def _one_over_comb(n: int, k: int) -> float:
    """1 / C(n, k), through log-gamma: exact binomials of thousands of spans are slow."""
    if n == 0 or k == 0 or k == n:
        return 1.0
    return math.exp(math.lgamma(k + 1) + math.lgamma(n - k + 1) - math.lgamma(n + 1))


def wilcoxon(differences: Floats) -> Sided:
    """Wilcoxon signed-rank test that paired differences (current - baseline) centre on 0.

    Zero differences are dropped (Wilcoxon's own treatment). As in scipy: the exact
    distribution up to 50 pairs without ties, else the normal approximation with tie
    correction; computed here without scipy's per-call overhead.
    """
    nonzero = differences[differences != 0]
    n = len(nonzero)
    if n == 0:
        return NO_EVIDENCE
    ranks, ties = _ranks(np.abs(nonzero))
    r_plus = float(ranks[nonzero > 0].sum())
    if n <= 50 and ties == 0:
        cdf = _signed_rank_cdf(n)
        k = round(r_plus)
        return 1.0 - (float(cdf[k - 1]) if k > 0 else 0.0), float(cdf[k])
    variance = n * (n + 1) * (2 * n + 1) / 24 - ties / 48
    return normal_sided((r_plus - n * (n + 1) / 4) / math.sqrt(variance))


@functools.lru_cache(maxsize=64)
def _signed_rank_cdf(n: int) -> Floats:
    """P(T+ <= k) for k = 0 .. n(n+1)/2: counts of subsets of 1..n by their sum."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank]  # each rank in or out of the subset
    cdf: Floats = np.cumsum(counts) / 2.0**n
    return cdf


def wilcoxon_min_p(n_pairs: int) -> float:
    """The smallest one-sided p-value the exact signed-rank test can give on n pairs."""
    return math.ldexp(1.0, -n_pairs)  # 2**-n, without overflow at thousands of pairs


WALSH_CASES = 3000  # beyond this many pairs, Walsh averages of an even thinning are used


def hodges_lehmann(differences: Floats) -> tuple[float, tuple[float, float]]:
    """The estimate the signed-rank test is about, and its 95% interval.

    The Hodges-Lehmann estimate is the median of the Walsh averages (the means of every
    pair of differences, each with itself included); the interval runs between the
    Walsh averages that the signed-rank test's critical values pick, so it leaves out 0
    when the test, two-sided at 5%, rejects (exactly so without ties or zeros). Exact up
    to 50 pairs, else normal. Above WALSH_CASES pairs, the Walsh averages of an even
    thinning stand in, at the quantile levels of the full count.
    """
    n = len(differences)
    values = np.sort(differences)
    if n > WALSH_CASES:
        values = values[np.linspace(0, n - 1, WALSH_CASES).round().astype(np.int64)]
    rows, cols = np.triu_indices(len(values))
    walsh = np.sort((values[rows] + values[cols]) / 2)
    estimate = float(np.median(walsh))
    total = n * (n + 1) // 2  # Walsh averages of all n pairs
    if n <= 50:
        k = int(np.searchsorted(_signed_rank_cdf(n), 0.025, side="right"))
    else:
        k = math.floor(total / 2 - Z_95 * math.sqrt(n * (n + 1) * (2 * n + 1) / 24))
    if k < 1:  # too few pairs for the test to reject anything: no bound
        return estimate, (-math.inf, math.inf)
    low = min(round((k - 1) / total * len(walsh)), (len(walsh) - 1) // 2)
    return estimate, (float(walsh[low]), float(walsh[len(walsh) - 1 - low]))


def paired_t(differences: Floats) -> tuple[Sided, float, tuple[float, float]]:
    """The paired t-test that the mean difference is above (or below) 0, the standard
    error of the mean difference, and its 95% t interval (for 2 or more pairs)."""
    n = len(differences)
    mean = float(np.mean(differences))
    se = float(np.std(differences, ddof=1)) / math.sqrt(n)
    return _t_test(mean, se, n - 1)


def _t_test(diff: float, se: float, df: float) -> tuple[Sided, float, tuple[float, float]]:
    """One-sided p-values, standard error and 95% interval of a difference with a t law."""
    if se == 0:  # no spread at all: any difference is certain
        sided = NO_EVIDENCE if diff == 0 else ((0.0, 1.0) if diff > 0 else (1.0, 0.0))
        return sided, 0.0, (diff, diff)
    from scipy import special  # the t distribution; cheap beside scipy.stats

    t = diff / se
    half = float(special.stdtrit(df, 0.975)) * se
    return (
        (float(special.stdtr(df, -t)), float(special.stdtr(df, t))),
        se,
        (diff - half, diff + half),
    )


def median_test(current: Floats, baseline: Floats) -> tuple[Sided, float]:
    """Mood's median test, exact: Fisher's test on how many of each side lie above the
    pooled median. The one-sided p-values that the current median is greater (or less),
    and the smallest p-value these sizes allow."""
    pooled = float(np.median(np.concatenate((current, baseline))))
    above_now, above_before = int(np.sum(current > pooled)), int(np.sum(baseline > pooled))
    n1, n2 = len(current), len(baseline)
    sided = fisher(above_now, n1, above_before, n2)
    total = above_now + above_before
    extreme = min(n1, total)  # the most lopsided table with these margins
    return sided, fisher(extreme, n1, total - extreme, n2)[0]


def fisher(current_errors: int, current_n: int, baseline_errors: int, baseline_n: int) -> Sided:
    """Fisher's exact test that the current error rate is greater (or less).

    Sums of the hypergeometric probabilities of the tables with the same margins.
    """
    if current_n == 0 or baseline_n == 0:
        return NO_EVIDENCE
    total, errors = current_n + baseline_n, current_errors + baseline_errors
    support = np.arange(max(0, current_n - (total - errors)), min(errors, current_n) + 1)
    log_pmf = log_comb(errors, support) + log_comb(total - errors, current_n - support)
    pmf = np.exp(log_pmf - float(log_comb(total, current_n)))
    at = current_errors - int(support[0])
    return min(1.0, float(pmf[at:].sum())), min(1.0, float(pmf[: at + 1].sum()))


_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])


def log_comb(n: Any, k: Any) -> Any:
    """log C(n, k), elementwise."""
    return _lgamma(n + 1) - _lgamma(k + 1) - _lgamma(n - k + 1)


def fisher_min_p(current_n: int, baseline_n: int) -> float:
    """The smallest one-sided p-value Fisher's test can give at these sizes."""
    return _one_over_comb(current_n + baseline_n, current_n)


def welch(current: Floats, baseline: Floats) -> tuple[Sided, float, tuple[float, float]] | None:
    """Welch's t-test that the current mean is greater (or less), the standard error of
    the difference of the means, and its 95% interval; None with fewer than 2 values a side.
    """
    n1, n2 = len(current), len(baseline)
    if n1 < 2 or n2 < 2:
        return None
    v1, v2 = float(np.var(current, ddof=1)) / n1, float(np.var(baseline, ddof=1)) / n2
    diff = float(np.mean(current) - np.mean(baseline))
    if v1 + v2 == 0:
        return _t_test(diff, 0.0, 1.0)
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    return _t_test(diff, math.sqrt(v1 + v2), df)


def tail_min_samples(q: float, confidence: float = 0.95) -> int:
    """Spans needed before the largest one bounds the q-quantile with this confidence.

    Distribution-free: with n samples, P(max < q-quantile) = q**n, so n >= log(1-c)/log(q):
    59 for p95 and 299 for p99 at 95% confidence.
    """
    return math.ceil(math.log(1 - confidence) / math.log(q) - 1e-9)


def log_quantile_se(samples: Floats, q: float) -> float:
    """Standard error of the log of the sample q-quantile, distribution-free.

    From the order statistics that bound the quantile with 95% confidence (binomial
    method). Where the sample ends before one of them, the wider side is used, so that a
    quantile near the end of the sample is not given a falsely small error.
    """
    n = len(samples)
    if n < 2:
        return math.inf
    logs = np.sort(np.log(_log_safe(samples)))
    centre = q * (n - 1)
    half = Z_95 * math.sqrt(n * q * (1 - q))
    low, high = math.floor(centre - half), math.ceil(centre + half)
    k = math.floor(centre)
    at = float(logs[k] + (logs[min(k + 1, n - 1)] - logs[k]) * (centre - k))
    if low < 0 or high > n - 1:
        # One bound lies past the sample: the wider of the side that fits and the whole
        # remaining stretch to the sample's end, which is never narrower than the truth.
        width = max(at - float(logs[max(low, 0)]), float(logs[min(high, n - 1)]) - at)
    else:
        width = (float(logs[high]) - float(logs[low])) / 2
    return width / Z_95 or math.inf


def log_ratio(current: float, baseline: float) -> float:
    return math.log(max(current, _TINY_MS)) - math.log(max(baseline, _TINY_MS))


def log_ratios(current: Floats, baseline: Floats) -> Floats:
    """Per-pair log ratios of latencies."""
    result: Floats = np.log(_log_safe(current)) - np.log(_log_safe(baseline))
    return result


def _log_safe(values: Any) -> Any:
    return np.maximum(values, _TINY_MS)


def newcombe_ci(
    current_errors: int, current_n: int, baseline_errors: int, baseline_n: int
) -> tuple[float, float]:
    """95% Newcombe (Wilson score) interval of the difference of two proportions."""
    l1, u1 = _wilson(current_errors, current_n)
    l0, u0 = _wilson(baseline_errors, baseline_n)
    p1 = current_errors / current_n
    p0 = baseline_errors / baseline_n
    d = p1 - p0
    return d - math.hypot(p1 - l1, u0 - p0), d + math.hypot(u1 - p1, p0 - l0)


def _wilson(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values: reject where adjusted p < alpha, family-wise error <= alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def minimum_detectable(se: float, alpha: float) -> float:
    """The effect a one-sided test at alpha detects with 80% power, given its standard error."""
    return (z_for(alpha) + Z_POWER_80) * se
