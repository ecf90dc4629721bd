"""The decision table of each check: tolerance first, then significance."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_llmobs.compare import compare
from pytest_llmobs.model import SeriesStats
from tests.conftest import make_series

BASE = list(np.linspace(10.0, 20.0, 60))  # ms


def verdict_of(current: SeriesStats, baseline: SeriesStats, metric: str) -> str:
    [check] = [c for c in compare([current], [baseline]).checks if c.metric == metric]
    return check.verdict


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (BASE, "pass"),  # same behaviour
        ([x * 1.6 for x in BASE], "regression"),
        ([x / 1.6 for x in BASE], "improvement"),
        ([x * 1.08 for x in BASE], "pass"),  # +8%: within the relative tolerance
        ([x + 1.0 for x in BASE], "pass"),  # +1 ms, but under +10%
    ],
    ids=["same", "1.6x-slower", "1.6x-faster", "plus-8-percent", "plus-1ms"],
)
@pytest.mark.parametrize("metric", ["latency.p50", "latency.p95"])
def test_latency(current: list[float], expected: str, metric: str) -> None:
    assert verdict_of(make_series("s", current), make_series("s", BASE), metric) == expected


def test_latency_needs_the_absolute_floor_too() -> None:
    base = [x / 1000 for x in BASE]  # 10-20 microseconds
    slower = [x * 1.6 for x in base]  # +60%, but far below +1 ms
    assert verdict_of(make_series("s", slower), make_series("s", base), "latency.p50") == "pass"


def test_latency_beyond_tolerance_but_noise_is_not_a_regression() -> None:
    base = [10.0] * 55 + [30.0, 31.0, 32.0, 33.0, 34.0]
    cur = [10.0] * 54 + [50.0, 52.0, 54.0, 56.0, 58.0, 60.0]  # one tail request more
    [check] = [c for c in compare([make_series("s", cur)], [make_series("s", base)]).checks
               if c.metric == "latency.p95"]  # fmt: skip
    assert check.verdict == "pass"
    assert check.reason == "beyond tolerance (+10% and +1ms) but not significant"
    assert check.p_value is not None
    assert check.p_value > 0.001


def test_latency_on_too_few_samples_is_inconclusive() -> None:
    check = compare([make_series("s", [30.0, 31, 32])], [make_series("s", [10.0, 11, 12])])
    [p50] = [c for c in check.checks if c.metric == "latency.p50"]
    assert p50.verdict == "inconclusive"
    assert "3 vs 3 samples cannot reach" in p50.reason


@pytest.mark.parametrize(
    ("base_errors", "cur_errors", "n", "expected"),
    [
        (0, 18, 60, "regression"),  # 30% error rate
        (0, 1, 60, "pass"),  # +1.7pp: within tolerance
        (0, 2, 100, "pass"),  # exactly +2pp: within tolerance
        (0, 3, 60, "pass"),  # +5pp, but not significant at this n
        (18, 0, 60, "improvement"),
        (0, 2, 2, "inconclusive"),  # 2 spans can never be significant
    ],
)
def test_error_rate(base_errors: int, cur_errors: int, n: int, expected: str) -> None:
    base = make_series("s", [10.0] * n, errors=base_errors)
    cur = make_series("s", [10.0] * n, errors=cur_errors)
    assert verdict_of(cur, base, "error_rate") == expected


@pytest.mark.parametrize(
    ("shift", "n", "expected"),
    [
        (-0.15, 60, "regression"),
        (-0.05, 60, "pass"),  # exactly the tolerance
        (-0.04, 60, "pass"),
        (+0.15, 60, "improvement"),
        (-0.2, 2, "inconclusive"),
    ],
)
def test_quality(shift: float, n: int, expected: str) -> None:
    scores = list(np.linspace(0.6, 0.95, n))
    base = make_series("s", [10.0] * n, quality={"overall_score": scores})
    cur = make_series("s", [10.0] * n, quality={"overall_score": [s + shift for s in scores]})
    assert verdict_of(cur, base, "quality.overall_score") == expected


def test_new_and_missing_series_and_attributes_never_fail() -> None:
    base = [make_series("gone", BASE), make_series("kept", BASE, quality={"q": [0.9] * 60})]
    cur = [make_series("added", BASE), make_series("kept", BASE)]
    comparison = compare(cur, base)
    found = {(c.series.name, c.metric): c.verdict for c in comparison.checks}
    assert found[("gone", "latency.p50")] == "missing"
    assert found[("added", "error_rate")] == "new"
    assert found[("kept", "quality.q")] == "missing"
    assert found[("kept", "latency.p95")] == "pass"
    assert comparison.verdict == "pass"


def test_regressions_come_first_and_decide_the_verdict() -> None:
    base = [make_series("a", BASE), make_series("b", BASE)]
    cur = [make_series("a", BASE), make_series("b", [x * 2 for x in BASE])]
    comparison = compare(cur, base)
    assert comparison.verdict == "regression"
    assert comparison.checks[0].verdict == "regression"
    assert comparison.checks[0].series.name == "b"
    first = comparison.checks[0]
    assert first.test == "mann-whitney-u"
    assert (first.n_baseline, first.n_current) == (60, 60)
    assert first.relative == pytest.approx(1.0)


def test_a_p_value_that_underflows_to_zero_is_still_significant() -> None:
    # Tight, clearly separated samples: the tail test's p is 0.0 in floating point.
    base = [16.0 + i / 1000 for i in range(60)]
    cur = [x * 1.6 for x in base]
    [p95] = [c for c in compare([make_series("s", cur)], [make_series("s", base)]).checks
             if c.metric == "latency.p95"]  # fmt: skip
    assert p95.p_raw == 0.0
    assert p95.verdict == "regression"
