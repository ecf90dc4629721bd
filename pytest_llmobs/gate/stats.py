"""Statistical routines of the gate: signed-rank and t-tests against bounds, their reach,
intervals, Holm correction (error-rate tests: rates.py; percentiles: quantiles.py)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from pytest_llmobs.gate.model import Floats

Z_POWER_80 = 0.8416212335729143  # standard normal quantile of 0.8
Z_95 = 1.959964  # two-sided 95% normal quantile
NOISE = 1e-9  # relative: differences smaller than this are rounding, not change
_TINY_SCALE = 1e-300


_NORMAL = NormalDist()

# One-sided p-values of a test, as a pair: (current is greater, current is less), or,
# against bounds, (the change is above the upper bound, below the lower one).
Sided = tuple[float, float]
NO_EVIDENCE: Sided = (1.0, 1.0)
# How far a change may go each way before it is beyond tolerance: (upper, lower).
Bounds = tuple[float, float]


@dataclass(frozen=True)
class Sample:
    """One side's values, the count of values they stand for (more than their number
    when a stored sample was thinned), and the mean of all of them."""

    values: Floats
    count: int
    mean: float = 0.0


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


def wilcoxon(differences: Floats) -> Sided:
    """Wilcoxon signed-rank test that paired differences (current - baseline) centre on 0.

    Zero differences are dropped (Wilcoxon's own treatment). As scipy's `exact` and
    `asymptotic` methods (without continuity correction) compute them: the exact
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


def wilcoxon_min_p(differences: Floats) -> float:
    """The smallest one-sided p-value `wilcoxon` can give on differences of these sizes.

    Zeros are dropped as the test drops them; every other difference put on one side.
    The exact branch's minimum is 2**-n; the normal branch's comes from the largest
    statistic, n(n+1)/2, with the tie correction of these magnitudes.
    """
    nonzero = np.abs(differences[differences != 0])
    n = len(nonzero)
    if n == 0:
        return 1.0
    _, ties = _ranks(nonzero)
    if n <= 50 and ties == 0:
        return math.ldexp(1.0, -n)  # 2**-n, without overflow at thousands of pairs
    variance = n * (n + 1) * (2 * n + 1) / 24 - ties / 48
    return normal_sided(n * (n + 1) / 4 / math.sqrt(variance))[0]


def denoised(values: Floats, scale: Floats | float) -> Floats:
    """Values with those within floating-point noise of `scale` set to zero (ties).

    Per-case means of identical scores differ by ~1e-17 with the order they were summed
    in; a rank test would take those for real differences, all one way.
    """
    tiny = np.abs(values) <= NOISE * np.maximum(np.abs(scale), _TINY_SCALE)
    result: Floats = np.where(tiny, 0.0, values)
    return result


def tied(difference: float, scale: float) -> bool:
    """Whether a difference is within floating-point noise of a value of this size."""
    return abs(difference) <= NOISE * max(abs(scale), _TINY_SCALE)


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


def paired_t(
    differences: Floats, bounds: Bounds = (0.0, 0.0)
) -> tuple[Sided, float, tuple[float, float]]:
    """The paired t-test that the mean difference is above the upper bound (or below the
    lower one), the standard error of the mean difference, and its 95% t interval (for
    2 or more pairs)."""
    n = len(differences)
    mean = float(np.mean(differences))
    se = float(np.std(differences, ddof=1)) / math.sqrt(n)
    return t_test(mean, se, n - 1, bounds)


def t_test(
    diff: float, se: float, df: float, bounds: Bounds = (0.0, 0.0)
) -> tuple[Sided, float, tuple[float, float]]:
    """One-sided p-values that a difference with a t law lies above the upper bound (or
    below the lower one), its standard error and 95% interval. A difference within
    floating-point noise of a bound is on it."""
    from scipy import special  # the t distribution; cheap beside scipy.stats

    def beyond(bound: float, sign: int) -> float:
        scale = max(abs(diff), abs(bound))
        excess = (diff - bound) * sign
        if tied(excess, scale):
            excess = 0.0  # on the bound, give or take rounding
        if tied(se, scale):  # no spread at all (but rounding): any difference is certain
            return 0.0 if excess > 0 else 1.0
        return float(special.stdtr(df, -excess / se))

    half = float(special.stdtrit(df, 0.975)) * se if se > 0 else 0.0
    return (beyond(bounds[0], 1), beyond(bounds[1], -1)), se, (diff - half, diff + half)


def welch(
    current: Sample, baseline: Sample, bounds: Bounds = (0.0, 0.0)
) -> tuple[Sided, float, tuple[float, float]] | None:
    """Welch's t-test that the difference of the means lies above the upper bound (or
    below the lower one), its standard error and 95% interval; None with fewer than 2
    values a side. Each side's variance comes from its values, its n from the count they
    stand for, and its mean from the summary."""
    if min(len(current.values), len(baseline.values), current.count, baseline.count) < 2:
        return None
    n1, n2 = current.count, baseline.count
    v1 = float(np.var(current.values, ddof=1)) / n1
    v2 = float(np.var(baseline.values, ddof=1)) / n2
    diff = current.mean - baseline.mean
    if v1 + v2 == 0:
        return t_test(diff, 0.0, 1.0, bounds)
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    return t_test(diff, math.sqrt(v1 + v2), df, bounds)


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
