"""Statistical routines of the gate: tests, their reach at a given n, intervals, correction."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from pytest_llmobs.model import Floats

Z_POWER_80 = 0.8416212335729143  # standard normal quantile of 0.8
Z_95 = 1.959964  # two-sided 95% normal quantile
TINY_MS = 1e-6  # latencies are logged; a zero-length span counts as one nanosecond
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


def median_test(current: Sample, baseline: Sample) -> tuple[Sided, Sided]:
    """Mood's median test, exact: Fisher's test on how many of each side lie above the
    pooled median. The one-sided p-values that the current median is greater (or less),
    and the smallest p-values these sizes allow, each way.

    Each side's values stand for `count` values (a stored sample keeps evenly spaced
    order statistics): the pooled median and the counts above it are weighted so.
    """
    n1, n2 = current.count, baseline.count
    w1, w2 = n1 / len(current.values), n2 / len(baseline.values)
    values = np.concatenate((current.values, baseline.values))
    weights = np.concatenate((np.full(len(current.values), w1), np.full(len(baseline.values), w2)))
    order = np.argsort(values, kind="mergesort")
    cumulative = np.cumsum(weights[order])
    pooled = float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2 - 1e-9)])
    above_now = min(n1, round(w1 * int(np.sum(current.values > pooled))))
    above_before = min(n2, round(w2 * int(np.sum(baseline.values > pooled))))
    sided = fisher(above_now, n1, above_before, n2)
    total = above_now + above_before
    most, least = min(n1, total), max(0, total - n2)  # the most lopsided tables, each way
    reach = (fisher(most, n1, total - most, n2)[0], fisher(least, n1, total - least, n2)[1])
    return sided, reach


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


def log_comb(n: Any, k: Any) -> Any:
    """log C(n, k), elementwise."""
    from scipy.special import gammaln  # vectorised log-gamma; cheap beside scipy.stats

    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def rate_beyond(
    current_errors: int, current_n: int, baseline_errors: int, baseline_n: int, bound: float
) -> float:
    """One-sided p-value that the current rate exceeds the baseline's by more than bound.

    Farrington and Manning's score test of H0: p1 - p0 <= bound: the difference of the
    observed rates less the bound, over its standard error at the rates that are most
    likely under H0 (the restricted maximum likelihood), with a continuity correction of
    half a count a side: without it, rare errors (1% on 1,000 spans) right at the bound
    were flagged up to 1.75 times as often as alpha allows. With bound 0 it is the pooled
    two-proportion z-test, corrected.
    """
    if current_n == 0 or baseline_n == 0:
        return 1.0
    x1, n1, x0, n0 = current_errors, current_n, baseline_errors, baseline_n
    observed = x1 / n1 - x0 / n0
    if tied(observed - bound, max(abs(observed), abs(bound))):
        return normal_sided(0.0)[0]
    low, high = max(0.0, -bound), min(1.0, 1.0 - bound)
    if low >= high:
        return 1.0
    p0 = _restricted(x1, n1, x0, n0, bound)
    if not low <= p0 <= high:
        p0 = _restricted_by_bisection(x1, n1, x0, n0, bound, low, high)
    p1 = p0 + bound
    variance = p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0
    if variance <= 0:
        return 1.0 if observed <= bound else 0.0
    correction = (1 / n1 + 1 / n0) / 2  # continuity: rare errors at the bound need it
    return normal_sided((observed - bound - correction) / math.sqrt(variance))[0]


def _restricted(x1: int, n1: int, x0: int, n0: int, bound: float) -> float:
    """The baseline rate most likely under p1 = p0 + bound: Farrington and Manning's
    closed form, the root of a cubic (NaN where it breaks down)."""
    p1, p0, theta = x1 / n1, x0 / n0, n0 / n1
    a = 1 + theta
    b = -(1 + theta + p1 + theta * p0 + bound * (theta + 2))
    c = bound * bound + bound * (2 * p1 + theta + 1) + p1 + theta * p0
    d = -p1 * bound * (1 + bound)
    v = b**3 / (3 * a) ** 3 - b * c / (6 * a * a) + d / (2 * a)
    root = b * b / (3 * a) ** 2 - c / (3 * a)
    if root <= 0:
        return math.nan
    u = math.copysign(math.sqrt(root), v)
    w = (math.pi + math.acos(max(-1.0, min(1.0, v / u**3)))) / 3
    return 2 * u * math.cos(w) - b / (3 * a) - bound


def _restricted_by_bisection(
    x1: int, n1: int, x0: int, n0: int, bound: float, low: float, high: float
) -> float:
    """The same, by bisection on the score, which falls steadily over (low, high)."""

    def score(p0: float) -> float:  # d/dp0 of the log-likelihood with p1 = p0 + bound
        p1 = p0 + bound
        return (
            (x1 / p1 if x1 else 0.0) - ((n1 - x1) / (1 - p1) if n1 - x1 else 0.0)
            + (x0 / p0 if x0 else 0.0) - ((n0 - x0) / (1 - p0) if n0 - x0 else 0.0)
        )  # fmt: skip

    a, b = low, high
    for _ in range(100):
        middle = (a + b) / 2
        if middle in (a, b):
            break
        a, b = (middle, b) if score(middle) > 0 else (a, middle)
    return (a + b) / 2


def rates_beyond(
    current_errors: int, current_n: int, baseline_errors: int, baseline_n: int, bounds: Bounds
) -> Sided:
    """One-sided p-values that the current error rate exceeds the baseline's by more than
    the upper bound (or falls below it by more than the lower one).

    The score test against the bound (`rate_beyond`), never smaller than Fisher's exact
    test against no change: a change beyond a bound is a change, and on a few spans the
    score test's normal law is too kind.
    """
    upper, lower = bounds
    exact = fisher(current_errors, current_n, baseline_errors, baseline_n)
    return (
        max(rate_beyond(current_errors, current_n, baseline_errors, baseline_n, upper), exact[0]),
        max(rate_beyond(baseline_errors, baseline_n, current_errors, current_n, -lower), exact[1]),
    )


def rates_reach(current_n: int, baseline_n: int, bounds: Bounds) -> Sided:
    """The smallest p-values `rates_beyond` can give at these sizes: every span of one
    side an error, none of the other."""
    exact = math.exp(-float(log_comb(current_n + baseline_n, current_n)))  # Fisher's least
    return (
        max(rate_beyond(current_n, current_n, 0, baseline_n, bounds[0]), exact),
        max(rate_beyond(baseline_n, baseline_n, 0, current_n, -bounds[1]), exact),
    )


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


def tail_min_samples(q: float, confidence: float = 0.95) -> int:
    """Spans needed before the largest one bounds the q-quantile with this confidence.

    Distribution-free: with n samples, P(max < q-quantile) = q**n, so n >= log(1-c)/log(q):
    59 for p95 and 299 for p99 at 95% confidence.
    """
    return math.ceil(math.log(1 - confidence) / math.log(q) - 1e-9)


def log_quantile_se(samples: Floats, q: float, count: int | None = None) -> float:
    """Standard error of the log of the sample q-quantile, distribution-free.

    From the order statistics that bound the quantile with 95% confidence (binomial
    method) in a sample of `count` values (the samples' own number when None); a thinned
    sample of evenly spaced order statistics stands for them, read at the same fractions.
    Where the sample ends before one of them, the wider side is used, so that a quantile
    near the end of the sample is not given a falsely small error.
    """
    k = len(samples)
    n = k if count is None else max(count, k)
    if k < 2 or n < 2:
        return math.inf
    logs = np.sort(np.log(_log_safe(samples)))
    centre = q * (k - 1)
    half = Z_95 * math.sqrt(n * q * (1 - q)) * (k - 1) / (n - 1)
    if k < n:  # thinned: each kept value stands for (n - 1) / (k - 1) ranks; interpolate
        low, high = centre - half, centre + half
    else:  # the order statistics themselves (the binomial method)
        low, high = math.floor(centre - half), math.ceil(centre + half)
    at = _at(logs, centre)
    if low < 0 or high > k - 1:
        # One bound lies past the sample: the wider of the side that fits and the whole
        # remaining stretch to the sample's end, which is never narrower than the truth.
        width = max(at - _at(logs, max(low, 0)), _at(logs, min(high, k - 1)) - at)
    else:
        width = (_at(logs, high) - _at(logs, low)) / 2
    return width / Z_95 or math.inf


def _at(ordered: Floats, position: float) -> float:
    """The value at a fractional position of sorted values, linearly interpolated."""
    i = min(math.floor(position), len(ordered) - 1)
    upper = float(ordered[min(i + 1, len(ordered) - 1)])
    return float(ordered[i]) + (upper - float(ordered[i])) * (position - i)


def log_ratio(current: float, baseline: float) -> float:
    return math.log(max(current, TINY_MS)) - math.log(max(baseline, TINY_MS))


def log_ratios(current: Floats, baseline: Floats) -> Floats:
    """Per-pair log ratios of latencies."""
    result: Floats = np.log(_log_safe(current)) - np.log(_log_safe(baseline))
    return result


def _log_safe(values: Any) -> Any:
    return np.maximum(values, TINY_MS)


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
