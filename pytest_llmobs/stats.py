"""Significance tests used by the gate, and the smallest p-value each can reach at a given n."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy import stats

from pytest_llmobs.model import Floats

Alternative = Literal["greater", "less"]


def mann_whitney_p(current: Floats, baseline: Floats, alternative: Alternative) -> float:
    """One-sided Mann-Whitney U p-value that `current` tends to be greater (or less).

    Returns 1.0 when either side is empty or every value is tied (no evidence of a shift).
    """
    if len(current) == 0 or len(baseline) == 0:
        return 1.0
    if np.ptp(np.concatenate((current, baseline))) == 0:
        return 1.0
    result = stats.mannwhitneyu(current, baseline, alternative=alternative)
    p = float(result.pvalue)
    return p if math.isfinite(p) else 1.0


def mann_whitney_min_p(n_current: int, n_baseline: int) -> float:
    """The smallest one-sided p-value the exact Mann-Whitney U test can give at these sizes."""
    if n_current == 0 or n_baseline == 0:
        return 1.0
    return 1.0 / math.comb(n_current + n_baseline, n_current)


def fisher_p(
    current_errors: int,
    current_n: int,
    baseline_errors: int,
    baseline_n: int,
    alternative: Alternative,
) -> float:
    """One-sided Fisher exact p-value that the current error rate is greater (or less)."""
    if current_n == 0 or baseline_n == 0:
        return 1.0
    table = [
        [current_errors, current_n - current_errors],
        [baseline_errors, baseline_n - baseline_errors],
    ]
    return float(stats.fisher_exact(table, alternative=alternative).pvalue)


def fisher_min_p(current_n: int, baseline_n: int) -> float:
    """The smallest one-sided p-value Fisher's test can give at these sizes."""
    return fisher_p(current_n, current_n, 0, baseline_n, "greater")
