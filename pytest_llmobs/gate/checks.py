"""A check: one metric of one series judged, and the words a verdict may take."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pytest_llmobs.gate.model import SeriesKey

Verdict = Literal["pass", "regression", "improvement", "inconclusive", "new", "missing"]
# Checks are listed in this order: what needs attention first.
VERDICT_ORDER: tuple[Verdict, ...] = (
    "regression",
    "inconclusive",
    "improvement",
    "missing",
    "new",
    "pass",
)
Cause = Literal["", "beyond-tolerance", "low-power", "too-few"]


@dataclass(frozen=True)
class Check:
    """One metric of one series, judged.

    `change` is the estimate the test and the interval are about, in the metric's unit,
    and `relative` is it over the baseline value: for a paired check the typical
    per-test-case change, otherwise current minus baseline. A paired check also carries
    the plain `pooled_change` (current minus baseline) and `pooled_relative`. The interval
    (`ci_low`, `ci_high`, 95%) and `mde` (the change this check flags with 80% power at
    its n: the tolerance plus what the noise hides) are relative for latency, absolute
    otherwise. p-values are one-sided, that the change lies beyond the tolerance in the
    direction the metric moved: `p_raw` is the test's own, `p_value` Holm-adjusted across
    the run. An inconclusive check says why in `cause` (`beyond-tolerance`, `low-power`,
    `too-few`) and `needed`: about how many spans a side (test cases, when paired) would
    settle it. A `missing` check's p-values are those of the coverage test (see coverage).
    """

    series: SeriesKey
    metric: str
    verdict: Verdict
    baseline: float | None = None
    current: float | None = None
    change: float | None = None
    relative: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    p_raw: float | None = None
    test: str | None = None
    paired: bool = False
    n_baseline: int = 0
    n_current: int = 0
    mde: float | None = None
    tolerance: str | None = None
    reason: str = ""
    pooled_change: float | None = None
    pooled_relative: float | None = None
    cause: Cause = ""
    needed: int | None = None
