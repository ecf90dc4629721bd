"""The chance that something present in test cases of one run is absent from them in the
next, when nothing changed: exact tests of a loss of presence."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pytest_llmobs.gate.rates import log_comb

_SMALLEST = math.ulp(0.0)  # the smallest positive float: a p-value is never 0


def loss_test(lost: int, gained: int, groups: Sequence[int], flipped: int) -> float:
    """One-sided p-value that something present in test cases of one run is lost in the
    next: `lost` cases had it then and not now, `gained` the reverse.

    Twice (Bonferroni) the smaller of two exact tests. McNemar's on the cases that changed
    (each change a coin toss when nothing changed). And, for the `groups` of cases fixed
    beforehand (the cases of each test function, and all of them), the chance that some
    group at least as large as the largest one that lost it in every case (`flipped`
    cases; 0 when none did) did so: at most the sum of 4**-size over those groups, since
    a case present then and absent now has chance r(1 - r) <= 1/4 whatever its rate r.
    """
    p = sign_test(lost, lost + gained)
    if flipped:
        bound = sum(math.ldexp(1.0, -2 * size) for size in groups if size >= flipped)
        p = min(p, max(bound, _SMALLEST))
    return min(1.0, 2 * p)


def sign_test(k: int, n: int) -> float:
    """Exact one-sided sign test: P(at least k of n pairs go one way) when each way is a
    coin toss. On the pairs that changed, it is McNemar's exact test. Never 0: a p-value
    too small for a float is the smallest one."""
    if k <= 0:
        return 1.0
    logs = log_comb(n, np.arange(k, n + 1)) - n * math.log(2)
    top = float(np.max(logs))
    total = top + math.log(float(np.exp(logs - top).sum()))
    return min(1.0, max(math.exp(total), _SMALLEST))
