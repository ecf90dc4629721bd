"""The decision table of each check: tolerance first, then significance."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_llmobs.compare import compare
from pytest_llmobs.model import SeriesStats
from pytest_llmobs.rule_config import rules_from_config
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
    assert p50.test == "median-test"  # Mood's, exact: 3 against 3 can reach p = 0.05 at best
    assert p50.reason.endswith("but 3 (baseline) and 3 (now) samples cannot reach p < 0.005")


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
    assert first.test == "median-test"
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


def paired_runs(
    shift: float, quality_shift: float = 0.0, seed: int = 0
) -> tuple[SeriesStats, SeriesStats]:
    """60 test cases with a wide spread between prompts and little noise within each."""
    rng = np.random.default_rng(seed)
    case_ms = rng.lognormal(np.log(200), 0.8, 60)  # prompts differ a lot
    case_q = rng.uniform(0.5, 0.95, 60)
    cases = [f"test_x[{i}]" for i in range(60)]

    def run(factor: float, dq: float) -> SeriesStats:
        noise = rng.lognormal(0, 0.05, 60)
        scores = np.clip(case_q + dq + rng.normal(0, 0.02, 60), 0, 1)
        return make_series("llm", list(case_ms * factor * noise), quality={"q": list(scores)},
                           cases=cases)  # fmt: skip

    return run(shift, quality_shift), run(1.0, 0.0)


def test_pairing_by_test_case_finds_what_prompt_spread_hides() -> None:
    cur, base = paired_runs(1.15, quality_shift=-0.06)
    checks = {c.metric: c for c in compare([cur], [base]).checks}
    p50, quality = checks["latency.p50"], checks["quality.q"]
    assert (p50.test, p50.paired, p50.n_current) == ("wilcoxon", True, 60)
    assert p50.verdict == "regression"
    assert (quality.test, quality.paired, quality.verdict) == ("paired-t", True, "regression")

    # without case ids the same numbers are compared unpaired, and the spread hides the change
    def without_cases(s: SeriesStats) -> SeriesStats:
        quality = {"q": list(s.quality_samples["q"])}
        return make_series("llm", list(s.latency_samples), quality=quality)

    unpaired = {c.metric: c for c in compare([without_cases(cur)], [without_cases(base)]).checks}
    assert unpaired["latency.p50"].test == "median-test"
    assert unpaired["latency.p50"].verdict != "regression"
    assert unpaired["quality.q"].verdict != "regression"


def test_every_row_explains_itself() -> None:
    cur, base = paired_runs(1.15)
    p50 = next(c for c in compare([cur], [base]).checks if c.metric == "latency.p50")
    assert p50.ci_low is not None and p50.ci_high is not None  # noqa: PT018
    # paired: the interval is of the typical per-case change, which is +15% here
    assert p50.ci_low < 0.15 < p50.ci_high
    assert p50.p_raw is not None and p50.p_value is not None  # noqa: PT018
    assert p50.p_value >= p50.p_raw
    assert p50.mde is not None
    assert 0 < p50.mde < 0.15
    assert p50.tolerance == "+10% and +1ms"


def test_holm_keeps_an_a_a_run_of_50_series_by_5_metrics_green() -> None:
    rng = np.random.default_rng(11)

    def series(i: int) -> SeriesStats:
        return make_series(
            f"s{i}", list(rng.lognormal(3, 0.8, 300)), errors=int(rng.binomial(300, 0.02)),
            quality={"q": list(rng.normal(0.8, 0.15, 300))},
        )  # fmt: skip

    alarms = 0
    for _ in range(20):
        comparison = compare(
            [series(i) for i in range(50)], [series(i) for i in range(50)], intervals=False
        )
        assert len([c for c in comparison.checks if c.p_raw is not None]) == 250
        alarms += comparison.verdict == "regression"
    assert alarms == 0


def test_tail_percentiles_need_enough_spans() -> None:
    base = make_series("s", list(np.linspace(10, 20, 100)))
    cur = make_series("s", list(np.linspace(10, 20, 100) * 2))
    checks = {c.metric: c for c in compare([cur], [base]).checks}
    assert checks["latency.p95"].verdict == "regression"  # 100 >= 59
    assert checks["latency.p99"].verdict == "inconclusive"
    assert checks["latency.p99"].reason == (
        "need >= 299 spans on each side for p99 (baseline 100, now 100)"
    )
    assert checks["latency.p99"].p_value is None


def test_rules_turn_checks_off_and_loosen_them() -> None:
    cur, base = paired_runs(1.15)
    rules = rules_from_config(
        {"rules": {"latency.p99": "off"}, "overrides": [{"series": "ll*", "latency.p50": "+50%"}]},
        "test",
    )
    checks = {c.metric: c for c in compare([cur], [base], rules=rules).checks}
    assert "latency.p99" not in checks
    assert checks["latency.p50"].verdict == "pass"
    assert checks["latency.p50"].tolerance == "+50%"
    assert checks["latency.p50"].reason == "within tolerance (+50%)"


def test_a_judge_score_that_drops_on_a_few_prompts_moves_the_mean() -> None:
    # 0/1 scores: most prompts unchanged, ten of sixty drop from 1 to 0 (mean -0.17)
    cases = [f"t.py::test[{i}]" for i in range(60)]
    before = [1.0] * 60
    now = [0.0] * 10 + [1.0] * 50
    base = make_series("judge", [10.0] * 60, quality={"ok": before}, cases=cases)
    cur = make_series("judge", [10.0] * 60, quality={"ok": now}, cases=cases)
    [check] = [c for c in compare([cur], [base], ["ok"]).checks if c.metric == "quality.ok"]
    assert (check.test, check.verdict) == ("paired-t", "regression")
    assert check.change == pytest.approx(-10 / 60)
    assert check.ci_high is not None
    assert check.ci_high < 0
