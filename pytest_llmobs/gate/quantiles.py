"""Tests of latency percentiles: Mood's median test, the order-statistic standard error."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pytest_llmobs.gate.model import Floats
from pytest_llmobs.gate.rates import fisher
from pytest_llmobs.gate.stats import Z_95, Sample, Sided

TINY_MS = 1e-6  # latencies are logged; a zero-length span counts as one nanosecond


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
