"""The decision table of each check: tolerance first, then significance."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pytest_llmobs.gate import measure, stored, verdict
from pytest_llmobs.gate.compare import Check, compare
from pytest_llmobs.gate.model import SeriesKey, SeriesStats
from pytest_llmobs.gate.rule_config import rules_from_config
from pytest_llmobs.gate.rules import Rules
from tests.conftest import make_series

BASE = list(np.linspace(10.0, 20.0, 60))  # ms
WIDE = list(np.linspace(10.0, 20.0, 400))  # enough spans to see +10% on every percentile


def verdict_of(current: SeriesStats, baseline: SeriesStats, metric: str) -> str:
    return check_of(current, baseline, metric).verdict


def check_of(
    current: SeriesStats, baseline: SeriesStats, metric: str, rules: Rules | None = None
) -> Check:
    checks = compare([current], [baseline], rules=rules).checks
    [check] = [c for c in checks if c.metric == metric]
    return check


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (WIDE, "pass"),  # same behaviour
        ([x * 1.6 for x in WIDE], "regression"),
        ([x / 1.6 for x in WIDE], "improvement"),
        ([x * 1.02 for x in WIDE], "pass"),  # +2%: well within the relative tolerance
        ([x + 0.3 for x in WIDE], "pass"),  # +0.3 ms: within both bounds
    ],
    ids=["same", "1.6x-slower", "1.6x-faster", "plus-2-percent", "plus-0.3ms"],
)
@pytest.mark.parametrize("metric", ["latency.p50", "latency.p95", "latency.p99"])
def test_latency(current: list[float], expected: str, metric: str) -> None:
    assert verdict_of(make_series("s", current), make_series("s", WIDE), metric) == expected


def test_latency_needs_the_absolute_floor_too() -> None:
    base = [x / 1000 for x in WIDE]  # 10-20 microseconds
    slower = [x * 1.6 for x in base]  # +60%, but far below +1 ms
    assert verdict_of(make_series("s", slower), make_series("s", base), "latency.p50") == "pass"


def test_latency_beyond_tolerance_but_noise_is_inconclusive_with_its_reason() -> None:
    base = [10.0] * 55 + [30.0, 31.0, 32.0, 33.0, 34.0]
    cur = [10.0] * 54 + [50.0, 52.0, 54.0, 56.0, 58.0, 60.0]  # one tail request more
    check = check_of(make_series("s", cur), make_series("s", base), "latency.p95")
    assert check.verdict == "inconclusive"
    assert check.cause == "beyond-tolerance"
    assert check.reason.startswith("beyond +10% and +1ms but not significantly (p ")
    assert check.needed is not None
    assert check.needed > 60
    assert check.reason.endswith(f", about {check.needed} spans a side needed")
    assert check.p_value is not None
    assert check.p_value > 0.001


def test_latency_on_too_few_samples_is_inconclusive() -> None:
    check = compare([make_series("s", [10.5, 11, 11.5])], [make_series("s", [10.0, 11, 12])])
    [p50] = [c for c in check.checks if c.metric == "latency.p50"]
    assert p50.verdict == "inconclusive"
    assert p50.test == "median-test"  # Mood's, exact: 3 against 3 can reach p = 0.05 at best
    assert p50.cause == "too-few"
    assert p50.reason == "3 (baseline) and 3 (now) spans cannot reach p < 0.005"


def shifted_runs(change: float, n: int = 2000, seed: int = 0) -> tuple[SeriesStats, SeriesStats]:
    """Lognormal latencies, unpaired, the current ones `change` slower."""
    rng = np.random.default_rng(seed)
    base = rng.lognormal(np.log(200), 0.3, n)
    cur = rng.lognormal(np.log(200), 0.3, n) * (1 + change)
    return make_series("s", list(cur)), make_series("s", list(base))


@pytest.mark.parametrize("seed", range(6))
def test_a_change_within_tolerance_is_never_a_regression(seed: int) -> None:
    # +8% with a +10% tolerance at 2,000 spans a side: significantly non-zero, often
    # significantly above +5%, but a regression only beyond +10%
    cur, base = shifted_runs(0.08, seed=seed)
    checks = {c.metric: c for c in compare([cur], [base]).checks}
    assert all(c.verdict != "regression" for c in checks.values()), checks
    assert checks["latency.p50"].relative == pytest.approx(0.08, abs=0.03)


def test_the_p_value_is_of_the_change_beyond_the_tolerance() -> None:
    # the p50 test is Mood's on the current latencies scaled down by the tolerance
    cur, base = shifted_runs(0.20, n=500)
    check = check_of(cur, base, "latency.p50")
    scaled = cur.latency_samples / 1.1  # +10% (+1 ms is less at 200 ms)
    pooled = np.median(np.concatenate((scaled, base.latency_samples)))
    above = (int(np.sum(scaled > pooled)), int(np.sum(base.latency_samples > pooled)))
    table = [[above[0], 500 - above[0]], [above[1], 500 - above[1]]]
    expected = scipy_stats.fisher_exact(table, alternative="greater").pvalue
    assert check.p_raw == pytest.approx(expected, rel=1e-9)
    assert check.verdict == "regression"


@pytest.mark.parametrize(
    ("base_errors", "cur_errors", "n", "expected", "cause"),
    [
        (0, 180, 600, "regression", ""),  # 30% error rate
        (30, 60, 3000, "pass", ""),  # +1pp: within tolerance, and 3,000 spans can tell
        (6, 12, 600, "inconclusive", "low-power"),  # +1pp, but +2pp is not ruled out
        (6, 18, 600, "inconclusive", "low-power"),  # exactly +2pp: within, but only just
        (0, 1, 60, "inconclusive", "low-power"),  # within, but 60 spans cannot see +2pp
        (0, 3, 60, "inconclusive", "beyond-tolerance"),  # +5pp, not significant at this n
        (180, 0, 600, "improvement", ""),
    ],
)
def test_error_rate(base_errors: int, cur_errors: int, n: int, expected: str, cause: str) -> None:
    base = make_series("s", [10.0] * n, errors=base_errors)
    cur = make_series("s", [10.0] * n, errors=cur_errors)
    check = check_of(cur, base, "error_rate")
    assert (check.verdict, check.cause) == (expected, cause)


def test_an_error_rate_from_0_to_20_percent_on_few_spans_is_never_a_pass() -> None:
    base = make_series("s", [10.0] * 20, errors=0)
    cur = make_series("s", [10.0] * 20, errors=4)
    check = check_of(cur, base, "error_rate")
    assert check.verdict in ("regression", "inconclusive")
    assert check.cause == "beyond-tolerance"


@pytest.mark.parametrize(
    ("shift", "n", "expected"),
    [
        (-0.15, 60, "regression"),
        (-0.05, 60, "inconclusive"),  # on the tolerance: a change beyond is not ruled out
        (-0.01, 60, "pass"),
        (+0.15, 60, "improvement"),
        (-0.2, 2, "inconclusive"),
    ],
)
def test_quality(shift: float, n: int, expected: str) -> None:
    scores = list(np.linspace(0.6, 0.95, n))
    base = make_series("s", [10.0] * n, quality={"overall_score": scores})
    cur = make_series("s", [10.0] * n, quality={"overall_score": [s + shift for s in scores]})
    assert verdict_of(cur, base, "quality.overall_score") == expected


def test_the_three_words_at_their_boundaries() -> None:
    # paired quality on 40 test cases, per-case noise sd 0.02: the t-test against -0.05
    rng = np.random.default_rng(5)
    cases = [f"t.py::test[{i}]" for i in range(40)]
    scores = rng.uniform(0.6, 0.9, 40)
    noise = rng.normal(0, 0.02, 40)
    noise -= noise.mean()  # the mean change is exactly the shift

    def judged(shift: float, spread: float = 1.0) -> Check:
        base = make_series("s", [10.0] * 40, quality={"q": list(scores)}, cases=cases)
        now = list(scores + shift + spread * noise)
        cur = make_series("s", [10.0] * 40, quality={"q": now}, cases=cases)
        return check_of(cur, base, "quality.q")

    assert judged(-0.03).verdict == "pass"  # within, and 40 cases can tell
    near = judged(-0.045)  # within, but the interval reaches past -0.05
    assert (near.verdict, near.cause) == ("inconclusive", "low-power")
    assert near.reason.startswith("too few test cases to rule out a change beyond -0.05")
    on_bound = judged(-0.05)
    assert (on_bound.verdict, on_bound.cause) == ("inconclusive", "low-power")
    assert on_bound.p_raw == pytest.approx(0.5, abs=1e-6)  # H0's edge: p one half
    beyond = judged(-0.055)  # beyond, but not significantly at this n
    assert (beyond.verdict, beyond.cause) == ("inconclusive", "beyond-tolerance")
    assert judged(-0.09).verdict == "regression"  # significantly beyond
    assert judged(+0.09).verdict == "improvement"
    noisy = judged(-0.01, spread=10.0)  # within, but an interval of about +-0.06
    assert (noisy.verdict, noisy.cause) == ("inconclusive", "low-power")
    assert noisy.needed is not None
    assert noisy.needed > 40
    assert noisy.reason.endswith(f", about {noisy.needed} test cases needed")


def test_identical_deterministic_scores_give_p_one() -> None:
    # three different scores a case, summed in another order in each run: per-case means
    # that differ in their last bits, which a rank test would take for a change
    cases = [f"t.py::test[{i}]" for i in range(30)]
    scores = [[0.1, 0.7, 0.2 + i / 100] for i in range(30)]
    flat = [s for case in scores for s in case]
    now = [s for case in scores for s in reversed(case)]
    base = make_series(
        "s", [10.0] * 90, quality={"q": flat}, cases=[c for c in cases for _ in "abc"]
    )
    cur = make_series("s", [10.0] * 90, quality={"q": now}, cases=[c for c in cases for _ in "abc"])
    # written out: sum() compensates its rounding from Python 3.12 on, so its order is moot
    means = [(a + b + c) / 3 for a, b, c in scores]
    assert any((c + b + a) / 3 != m for (a, b, c), m in zip(scores, means, strict=True))
    strict = rules_from_config({"rules": {"quality.*": "-0"}}, "test")  # no change allowed
    check = check_of(cur, base, "quality.q", strict)
    assert check.p_raw == 1.0
    assert check.change == 0.0
    assert check.verdict == "pass"


def test_a_tolerance_that_allows_any_change_one_way_is_within_it() -> None:
    # -20 ms on a 5 ms span: no improvement can go beyond it; a report must still write
    rules = rules_from_config({"rules": {"latency.*": "-20ms"}}, "test")
    base = make_series("s", list(np.linspace(4.0, 6.0, 400)))
    cur = make_series("s", list(np.linspace(1.0, 2.0, 400)))
    check = check_of(cur, base, "latency.p50", rules)
    assert check.verdict == "pass"
    assert check.mde is None
    assert check.reason == "within tolerance (-20ms: any change this way)"


def test_p90_is_checked_when_a_rule_names_it() -> None:
    cur, base = make_series("s", [x * 1.6 for x in WIDE]), make_series("s", WIDE)
    assert "latency.p90" not in {c.metric for c in compare([cur], [base]).checks}
    rules = rules_from_config({"rules": {"latency.p90": "+20%"}}, "test")
    check = check_of(cur, base, "latency.p90", rules)
    assert (check.verdict, check.test, check.tolerance) == ("regression", "quantile-z", "+20%")
    few = check_of(make_series("s", BASE[:20]), make_series("s", BASE[:20]), "latency.p90", rules)
    assert few.reason == "need >= 29 spans on each side for p90 (baseline 20, now 20)"


def test_a_relative_tolerance_on_a_zero_or_negative_baseline() -> None:
    rules = rules_from_config({"rules": {"quality.*": "-10%"}}, "test")
    scores = list(np.linspace(-0.8, -0.4, 200))  # a negative score, as log-probs are
    base = make_series("s", [10.0] * 200, quality={"q": scores})
    worse = make_series("s", [10.0] * 200, quality={"q": [v - 0.03 for v in scores]})
    much_worse = make_series("s", [10.0] * 200, quality={"q": [v - 0.2 for v in scores]})
    # -10% of the magnitude 0.6 allows -0.06
    assert check_of(worse, base, "quality.q", rules).verdict == "pass"
    assert check_of(much_worse, base, "quality.q", rules).verdict == "regression"
    zero = make_series("s", [10.0] * 200, quality={"q": [0.0] * 200})
    dropped = make_series("s", [10.0] * 200, quality={"q": [-0.2] * 200})
    check = check_of(dropped, zero, "quality.q", rules)
    assert check.verdict == "regression"
    assert "-10% of a zero baseline, which allows no change" in check.reason
    assert check_of(zero, zero, "quality.q", rules).verdict == "pass"  # no change, no noise
    noisy = make_series("s", [10.0] * 200, quality={"q": [-0.1, 0.1] * 100})
    unchanged = check_of(noisy, noisy, "quality.q", rules)  # a mean of 0 with noise
    assert unchanged.verdict == "pass"  # only the estimate is judged: nothing is allowed
    assert unchanged.reason.endswith("allows no change: give it an absolute one)")
    lower = make_series("s", [10.0] * 200, quality={"q": [-0.12, 0.1] * 100})
    assert check_of(lower, noisy, "quality.q", rules).cause == "beyond-tolerance"


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
    # 0/1 scores: most prompts unchanged, fifteen of sixty drop from 1 to 0 (mean -0.25)
    cases = [f"t.py::test[{i}]" for i in range(60)]
    before = [1.0] * 60
    now = [0.0] * 15 + [1.0] * 45
    base = make_series("judge", [10.0] * 60, quality={"ok": before}, cases=cases)
    cur = make_series("judge", [10.0] * 60, quality={"ok": now}, cases=cases)
    [check] = [c for c in compare([cur], [base], ["ok"]).checks if c.metric == "quality.ok"]
    assert (check.test, check.verdict) == ("paired-t", "regression")
    assert check.change == pytest.approx(-15 / 60)
    assert check.ci_high is not None
    assert check.ci_high < 0


def test_latency_bounds_are_the_allowance_as_log_ratios_each_way() -> None:
    upper, lower = measure.latency_bounds(1.0, 10.0)  # 1 ms either way of 10 ms
    assert (upper, lower) == pytest.approx((np.log(1.1), np.log(0.9)))
    assert measure.latency_bounds(20.0, 5.0)[1] == -np.inf  # it cannot get 20 ms faster


def test_a_thinned_series_counts_every_span_it_stands_for() -> None:
    rng = np.random.default_rng(1)
    big = [make_series("s", list(rng.lognormal(3, 0.3, 5000))) for _ in range(2)]
    cur, base = stored.as_stored(big)
    assert len(cur.latency_samples) == stored.SAMPLE_LIMIT
    p95 = check_of(cur, base, "latency.p95")
    assert (p95.n_current, p95.n_baseline) == (5000, 5000)
    # what a check flags with 80% power: the tolerance plus what the noise hides
    assert p95.mde is not None
    assert 0.10 < p95.mde < 0.16
    cached = replace(make_series("s", WIDE), count=500, cache_hits=100)
    assert check_of(cached, cached, "latency.p95").n_current == 400  # timed spans only


def test_needed_scales_the_two_sided_n_by_the_square_of_the_ratio() -> None:
    two = Check(SeriesKey("s"), "latency.p95", "inconclusive", n_baseline=400, n_current=100)
    assert verdict._needed(two, 2.0) == 640  # 160 a side (harmonic) times 4
    paired = replace(two, paired=True, n_baseline=50, n_current=50)
    assert verdict._needed(paired, 1.5) == 113  # ceil(50 * 2.25)
    assert verdict._needed(paired, 0.5) == 51  # never fewer than it has
    assert verdict._needed(paired, 1e6) is None  # beyond any useful number
