"""Statistical routines of the gate: tests, their reach at a given n, intervals, correction."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from pytest_llmobs.model import Floats

Z_POWER_80 = 0.8416212335729143  # standard normal quantile of 0.8
_TINY_MS = 1e-6  # latencies are logged; a zero-length span counts as one nanosecond


def normal_p(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else (0.0 if z else 1.0)


def z_for(p_two_sided: float) -> float:
    """The |z| a two-sided test needs to reach p."""
    return float(stats.norm.isf(p_two_sided / 2))


def mann_whitney_p(current: Floats, baseline: Floats) -> float:
    """Two-sided Mann-Whitney U p-value; 1.0 without data or when every value is tied."""
    if len(current) == 0 or len(baseline) == 0:
        return 1.0
    if np.ptp(np.concatenate((current, baseline))) == 0:
        return 1.0
    p = float(stats.mannwhitneyu(current, baseline, alternative="two-sided").pvalue)
    return p if math.isfinite(p) else 1.0


def mann_whitney_min_p(n_current: int, n_baseline: int) -> float:
    """The smallest two-sided p-value the exact Mann-Whitney U test can give at these sizes."""
    if n_current == 0 or n_baseline == 0:
        return 1.0
    return min(1.0, 2.0 / math.comb(n_current + n_baseline, n_current))


def wilcoxon_p(differences: Floats) -> float:
    """Two-sided Wilcoxon signed-rank p-value that paired differences centre on zero.

    Zero differences are dropped (Wilcoxon's own treatment); none left gives 1.0.
    """
    nonzero = differences[differences != 0]
    if len(nonzero) == 0:
        return 1.0
    p = float(stats.wilcoxon(nonzero, alternative="two-sided").pvalue)
    return p if math.isfinite(p) else 1.0


def wilcoxon_min_p(n_pairs: int) -> float:
    """The smallest two-sided p-value the exact signed-rank test can give on n pairs."""
    return min(1.0, 2.0 / 2**n_pairs) if n_pairs else 1.0


def fisher_p(current_errors: int, current_n: int, baseline_errors: int, baseline_n: int) -> float:
    """Two-sided Fisher exact p-value that the two error rates differ."""
    if current_n == 0 or baseline_n == 0:
        return 1.0
    table = [
        [current_errors, current_n - current_errors],
        [baseline_errors, baseline_n - baseline_errors],
    ]
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue)


def fisher_min_p(current_n: int, baseline_n: int) -> float:
    """The smallest two-sided p-value Fisher's test can give at these sizes."""
    return fisher_p(current_n, current_n, 0, baseline_n)


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
    logs = np.sort(np.log(np.maximum(samples, _TINY_MS)))
    centre = q * (n - 1)
    half = 1.959964 * math.sqrt(n * q * (1 - q))
    low, high = math.floor(centre - half), math.ceil(centre + half)
    at = float(np.quantile(logs, q))
    if low < 0 or high > n - 1:
        # One bound lies past the sample: the wider of the side that fits and the whole
        # remaining stretch to the sample's end, which is never narrower than the truth.
        below = at - float(logs[max(low, 0)])
        above = float(logs[min(high, n - 1)]) - at
        width = max(below, above)
    else:
        width = (float(logs[high]) - float(logs[low])) / 2
    return width / 1.959964 or math.inf


def log_ratio(current: float, baseline: float) -> float:
    return math.log(max(current, _TINY_MS)) - math.log(max(baseline, _TINY_MS))


def log_ratios(current: Floats, baseline: Floats) -> Floats:
    """Per-pair log ratios of latencies."""
    result: Floats = np.log(np.maximum(current, _TINY_MS)) - np.log(np.maximum(baseline, _TINY_MS))
    return result


def bootstrap_ratio_ci(
    current: Floats, baseline: Floats, q: float, seed: int, resamples: int = 400
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of quantile(current, q) / quantile(baseline, q).

    Seeded, so the same inputs give the same interval.
    """
    if len(current) == 0 or len(baseline) == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    cur = np.quantile(rng.choice(current, (resamples, len(current))), q, axis=1)
    base = np.quantile(rng.choice(baseline, (resamples, len(baseline))), q, axis=1)
    ratios = np.maximum(cur, _TINY_MS) / np.maximum(base, _TINY_MS)
    low, high = np.quantile(ratios, [0.025, 0.975])
    return float(low), float(high)


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


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
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
    """The effect a two-sided test at alpha detects with 80% power, given its standard error."""
    return (z_for(alpha) + Z_POWER_80) * se
