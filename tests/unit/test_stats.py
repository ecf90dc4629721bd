"""Statistical routines against known values: scipy references and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pytest_llmobs import presence, stats


def test_wilcoxon_matches_scipy_and_hand_computed_exact_case() -> None:
    rng = np.random.default_rng(3)
    diffs = rng.normal(0.3, 1.0, 40)
    greater, less = stats.wilcoxon(diffs)
    assert greater == pytest.approx(scipy_stats.wilcoxon(diffs, alternative="greater").pvalue)
    assert less == pytest.approx(scipy_stats.wilcoxon(diffs, alternative="less").pvalue)
    # 5 positive differences: the exact one-sided p is 1 / 2**5
    assert stats.wilcoxon(np.array([1.0, 2, 3, 4, 5]))[0] == pytest.approx(1 / 32)
    assert stats.wilcoxon_min_p(5) == pytest.approx(1 / 32)
    assert stats.wilcoxon(np.zeros(12)) == (1.0, 1.0)


def test_fisher_matches_scipy_both_ways() -> None:
    table = [[18, 42], [0, 60]]
    greater, less = stats.fisher(18, 60, 0, 60)
    assert greater == pytest.approx(scipy_stats.fisher_exact(table, alternative="greater").pvalue)
    assert less == pytest.approx(1.0)
    assert stats.fisher(1, 60, 0, 60)[0] == pytest.approx(0.5)
    assert stats.fisher_min_p(3, 3) == pytest.approx(0.05)
    assert stats.fisher(3, 3, 0, 3)[0] == pytest.approx(stats.fisher_min_p(3, 3))


@pytest.mark.parametrize(("q", "n"), [(0.95, 59), (0.99, 299), (0.9, 29), (0.5, 5)])
def test_tail_min_samples_is_the_distribution_free_bound(q: float, n: int) -> None:
    assert stats.tail_min_samples(q) == n
    assert 1 - q**n >= 0.95 > 1 - q ** (n - 1)


@pytest.mark.parametrize(("n", "q"), [(300, 0.5), (300, 0.95), (3000, 0.95), (299, 0.99)])
def test_log_quantile_se_matches_the_spread_of_the_quantile_or_errs_wide(n: int, q: float) -> None:
    rng = np.random.default_rng(2)
    samples = rng.lognormal(0, 0.3, (300, n))
    spread = np.std(np.log(np.quantile(samples, q, axis=1)))
    mean_se = np.mean([stats.log_quantile_se(row, q) for row in samples])
    assert 0.9 * spread < mean_se < 2.0 * spread
    assert stats.log_quantile_se(np.array([1.0]), q) == math.inf


def test_holm_adjustment_by_hand() -> None:
    # sorted p: 0.01 (x4), 0.02 (x3 -> 0.06), 0.03 (x2 -> 0.06), 0.5 (x1)
    assert stats.holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert stats.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339
    low, high = stats.newcombe_ci(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_minimum_detectable_effect() -> None:
    # one-sided alpha 0.025 and 80% power: (1.96 + 0.8416) standard errors
    assert stats.minimum_detectable(1.0, 0.025) == pytest.approx(2.8016, abs=1e-4)


def test_normal_tails_stay_exact_far_out() -> None:
    greater, less = stats.normal_sided(10.0)
    assert greater == pytest.approx(scipy_stats.norm.sf(10.0), rel=1e-9)
    assert less == pytest.approx(1.0)
    assert stats.z_for(scipy_stats.norm.sf(5.0)) == pytest.approx(5.0)


@pytest.mark.parametrize(("side", "alternative"), [(0, "greater"), (1, "less")])
def test_fast_paths_agree_with_scipy_on_random_tables(side: int, alternative: str) -> None:
    rng = np.random.default_rng(side)
    for _ in range(40):
        nc, nb = (int(n) for n in rng.integers(1, 400, 2))
        ec, eb = int(rng.integers(0, nc + 1)), int(rng.integers(0, nb + 1))
        table = [[ec, nc - ec], [eb, nb - eb]]
        reference = scipy_stats.fisher_exact(table, alternative=alternative).pvalue
        assert stats.fisher(ec, nc, eb, nb)[side] == pytest.approx(reference, rel=1e-9)


def test_wilcoxon_normal_approximation_agrees_with_scipy() -> None:
    rng = np.random.default_rng(4)
    for _ in range(30):
        n = int(rng.integers(51, 300))
        diffs = np.round(rng.normal(0.2, 1.0, n), int(rng.integers(1, 3)))
        for side, alternative in enumerate(("greater", "less")):
            reference = scipy_stats.wilcoxon(diffs, alternative=alternative, method="approx")
            assert stats.wilcoxon(diffs)[side] == pytest.approx(reference.pvalue, rel=1e-9)


@pytest.mark.parametrize("n", [1, 6, 21, 37, 50])
def test_wilcoxon_exact_distribution_agrees_with_scipy(n: int) -> None:
    rng = np.random.default_rng(n)
    for shift in (0.0, 0.4, 1.5):
        diffs = rng.normal(shift, 1.0, n)  # continuous: no ties, so the exact test applies
        for side, alternative in enumerate(("greater", "less")):
            reference = scipy_stats.wilcoxon(diffs, alternative=alternative, method="exact")
            assert stats.wilcoxon(diffs)[side] == pytest.approx(reference.pvalue, rel=1e-9)


@pytest.mark.parametrize("n", [6, 10, 30, 50, 51, 200])
def test_hodges_lehmann_interval_is_the_inverted_signed_rank_test(n: int) -> None:
    rng = np.random.default_rng(n)
    diffs = rng.normal(0.2, 1.0, n)
    estimate, (low, high) = stats.hodges_lehmann(diffs)
    walsh = [(diffs[i] + diffs[j]) / 2 for i in range(n) for j in range(i, n)]
    assert estimate == pytest.approx(float(np.median(walsh)))
    assert low <= estimate <= high
    # the interval leaves out a shift just when the test (two-sided, 5%) rejects it
    for shift in np.linspace(low - 0.5, high + 0.5, 41):
        if abs(shift - low) < 1e-9 or abs(shift - high) < 1e-9:
            continue
        greater, less = stats.wilcoxon(diffs - shift)
        rejected = min(greater, less) < 0.025
        assert rejected == (not low < shift < high), shift


def test_hodges_lehmann_of_many_pairs_stays_bounded() -> None:
    diffs = np.random.default_rng(1).normal(0.1, 1.0, 20_000)
    estimate, (low, high) = stats.hodges_lehmann(diffs)
    assert low < estimate < high
    assert estimate == pytest.approx(0.1, abs=0.05)


@pytest.mark.parametrize("seed", range(5))
def test_welch_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.7, 0.1, 12), rng.normal(0.75, 0.2, 30)
    result = stats.welch(a, b)
    assert result is not None
    (greater, less), _, (low, high) = result
    reference = scipy_stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    assert greater == pytest.approx(reference.pvalue, rel=1e-9)
    assert less == pytest.approx(1 - reference.pvalue, rel=1e-9)
    interval = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (low, high) == pytest.approx((interval.low, interval.high), rel=1e-9)
    assert stats.welch(a[:1], b) is None


def test_hodges_lehmann_of_too_few_pairs_has_no_bound() -> None:
    # five pairs: the signed-rank test cannot reject at 5% two-sided (2 * 2**-5 > 0.05)
    estimate, bounds = stats.hodges_lehmann(np.array([0.1, 0.2, 0.3, 0.4, 0.5]))
    assert estimate == pytest.approx(0.3)
    assert bounds == (-math.inf, math.inf)


def test_sign_test_and_min_p_of_thousands_of_pairs_do_not_break() -> None:
    assert 0 < presence.sign_test(1100, 1100) < 1e-300
    assert stats.wilcoxon_min_p(1100) == math.ldexp(1.0, -1100)  # no OverflowError


@pytest.mark.parametrize("seed", range(4))
def test_paired_t_matches_scipy(seed: int) -> None:
    diffs = np.random.default_rng(seed).normal(-0.05, 0.2, 25)
    (greater, less), _, (low, high) = stats.paired_t(diffs)
    reference = scipy_stats.ttest_1samp(diffs, 0.0)
    assert less == pytest.approx(scipy_stats.ttest_1samp(diffs, 0.0, alternative="less").pvalue)
    assert greater == pytest.approx(1 - less)
    interval = reference.confidence_interval(0.95)
    assert (low, high) == pytest.approx((interval.low, interval.high))


def test_median_test_is_fishers_on_counts_above_the_pooled_median() -> None:
    base = np.arange(1.0, 21.0)
    cur = base + 6.0
    (greater, _), min_p = stats.median_test(cur, base)
    pooled = np.median(np.concatenate((cur, base)))
    table = [[int(np.sum(cur > pooled)), int(np.sum(cur <= pooled))],
             [int(np.sum(base > pooled)), int(np.sum(base <= pooled))]]  # fmt: skip
    assert greater == pytest.approx(
        scipy_stats.fisher_exact(table, alternative="greater").pvalue, rel=1e-9
    )
    assert greater > min_p > 0
    # three against three: twenty arrangements, one of them most lopsided
    (greater, less), min_p = stats.median_test(np.array([4.0, 5, 6]), np.array([1.0, 2, 3]))
    assert (greater, less, min_p) == pytest.approx((0.05, 1.0, 0.05))
