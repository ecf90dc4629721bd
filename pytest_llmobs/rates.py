"""Tests of error rates: Fisher's exact test of no change, a score test against a bound."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pytest_llmobs.stats import NO_EVIDENCE, Z_95, Bounds, Sided, normal_sided, tied


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
