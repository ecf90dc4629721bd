"""Which checks need attention, and the one sentence for the rest: counts that add up."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmobs.gate.checks import Cause, Check, Verdict
from pytest_llmobs.gate.compare import Comparison
from pytest_llmobs.gate.model import SeriesKey
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.report import attention
from pytest_llmobs.report.result import RunResult


def check(
    verdict: Verdict,
    metric: str = "latency.p50",
    cause: Cause = "",
    needed: int | None = None,
    paired: bool = False,
) -> Check:
    return Check(SeriesKey("s"), metric, verdict, cause=cause, needed=needed, paired=paired)


P95 = check("inconclusive", "latency.p95", "too-few", needed=59)
P99 = check("inconclusive", "latency.p99", "too-few", needed=299)
WILCOXON = check("inconclusive", "quality.score", "too-few", needed=9, paired=True)
PASS, REGRESSION = check("pass"), check("regression")
WIDE = check("inconclusive", "error_rate", "low-power", needed=315)
BEYOND = check("inconclusive", "error_rate", "beyond-tolerance")


@pytest.mark.parametrize(
    ("checks", "shown", "sentence"),
    [
        ([PASS, PASS], [], "all 2 checks passed: HINT"),
        ([PASS], [], "1 check passed: HINT"),
        ([REGRESSION, PASS], [REGRESSION], "1 other check passed: HINT"),
        ([REGRESSION], [REGRESSION], None),
        ([PASS, P95, P99, P99], [],
         "1 check passed; 3 inconclusive because latency.p95 and latency.p99 need more spans"
         " (59 and 299 a side): HINT"),
        ([P99, WILCOXON], [],
         "2 inconclusive because latency.p99 and quality.score need more spans or test cases"
         " (299 and 9): HINT"),
        ([WILCOXON], [], "1 inconclusive because quality.score needs more test cases (9): HINT"),
        ([PASS, *(Check(SeriesKey("rerank", (("tier", t),)), m, "new") for t in ("a", "b")
                  for m in ("latency.p50", "error_rate"))], [],
         "1 check passed; 4 new, not in the baseline (rerank[tier=a], rerank[tier=b]): HINT"),
        ([WIDE, check("inconclusive", "error_rate", "low-power", needed=157), P99], [],
         "3 inconclusive because error_rate and latency.p99 need more spans (157-315 and 299"
         " a side): HINT"),
    ],
)  # fmt: skip
def test_the_rest_in_one_sentence(
    checks: list[Check], shown: list[Check], sentence: str | None
) -> None:
    result = RunResult((), BaselineState(Path("b.json"), "loaded", ""), Comparison(tuple(checks)))
    assert attention.rest(result, shown, "HINT") == sentence


def test_regressions_first_then_what_the_data_says_most_of() -> None:
    checks = [P99, WIDE, PASS, BEYOND, REGRESSION]
    assert attention.ordered(checks) == (REGRESSION, BEYOND, WIDE, P99, PASS)


@pytest.mark.parametrize(
    ("metric", "change", "tolerance", "row"),
    [
        ("error_rate", 0.0, "+2pp", False),  # 0% on both sides: only the run is small
        ("error_rate", -0.01, "+2pp", False),
        ("error_rate", 0.01, "+2pp", True),  # moving the harmful way: worth a row
        ("quality.score", 0.02, "-0.05", False),
        ("quality.score", -0.02, "-0.05", True),
        ("latency.p50", -0.5, "-20ms", True),  # a rule that lower is worse
        ("quality.score", -0.02, None, True),  # no spec: the metric says which way is worse
        # a saved report's spec this version cannot read: the metric says which way, too
        ("latency.p50", -0.5, "-bogus", False),
        ("latency.p50", 0.5, "-bogus", True),
    ],
)
def test_a_check_that_cannot_rule_out_harm_has_a_row_only_when_it_moved_that_way(
    metric: str, change: float, tolerance: str | None, row: bool
) -> None:
    low_power = Check(SeriesKey("s"), metric, "inconclusive", change=change,
                      tolerance=tolerance, cause="low-power", needed=159)  # fmt: skip
    assert attention.structural(low_power) is not row


@pytest.mark.parametrize(
    ("baseline", "current", "row"),
    [
        (10.0, 10.5, False),  # +5% on a p95 of 30 spans: within +10%, nothing to say
        (10.0, 9.0, False),
        (10.0, 109.0, True),  # ten times slower: a row, however few spans show it
        (0.5, 1.4, False),  # +180% but within the +1ms floor
    ],
)
def test_a_check_too_small_to_test_has_a_row_when_it_moved_beyond_its_tolerance(
    baseline: float, current: float, row: bool
) -> None:
    p95 = Check(SeriesKey("s"), "latency.p95", "inconclusive", baseline=baseline,
                current=current, change=current / baseline - 1, tolerance="+10% and +1ms",
                cause="too-few", needed=59)  # fmt: skip
    assert attention.structural(p95) is not row
    result = RunResult((), BaselineState(Path("b"), "loaded", ""), Comparison((p95,)))
    assert (attention.notable(result) == (p95,)) is row
