"""Statistical routines against known values: scipy references and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pytest_llmobs.gate import presence, quantiles, rates, stats


def test_wilcoxon_matches_scipy_and_hand_computed_exact_case() -> None:
    rng = np.random.default_rng(3)
    diffs = rng.normal(0.3, 1.0, 40)
    greater, less = stats.wilcoxon(diffs)
    assert greater == pytest.approx(scipy_stats.wilcoxon(diffs, alternative="greater").pvalue)
    assert less == pytest.approx(scipy_stats.wilcoxon(diffs, alternative="less").pvalue)
    # 5 positive differences: the exact one-sided p is 1 / 2**5
    assert stats.wilcoxon(np.array([1.0, 2, 3, 4, 5]))[0] == pytest.approx(1 / 32)
    assert stats.wilcoxon(np.zeros(12)) == (1.0, 1.0)


def test_fisher_matches_scipy_both_ways() -> None:
    table = [[18, 42], [0, 60]]
    greater, less = rates.fisher(18, 60, 0, 60)
    assert greater == pytest.approx(scipy_stats.fisher_exact(table, alternative="greater").pvalue)
    assert less == pytest.approx(1.0)
    assert rates.fisher(1, 60, 0, 60)[0] == pytest.approx(0.5)


@pytest.mark.parametrize(("q", "n"), [(0.95, 59), (0.99, 299), (0.9, 29), (0.5, 5)])
def test_tail_min_samples_is_the_distribution_free_bound(q: float, n: int) -> None:
    assert quantiles.tail_min_samples(q) == n
    assert 1 - q**n >= 0.95 > 1 - q ** (n - 1)


@pytest.mark.parametrize(("n", "q"), [(300, 0.5), (300, 0.95), (3000, 0.95), (299, 0.99)])
def test_log_quantile_se_matches_the_spread_of_the_quantile_or_errs_wide(n: int, q: float) -> None:
    rng = np.random.default_rng(2)
    samples = rng.lognormal(0, 0.3, (300, n))
    spread = np.std(np.log(np.quantile(samples, q, axis=1)))
    mean_se = np.mean([quantiles.log_quantile_se(row, q) for row in samples])
    assert 0.9 * spread < mean_se < 2.0 * spread
    assert quantiles.log_quantile_se(np.array([1.0]), q) == math.inf


def test_holm_adjustment_by_hand() -> None:
    # sorted p: 0.01 (x4), 0.02 (x3 -> 0.06), 0.03 (x2 -> 0.06), 0.5 (x1)
    assert stats.holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert stats.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339
    low, high = rates.newcombe_ci(56, 70, 48, 80)
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
        assert rates.fisher(ec, nc, eb, nb)[side] == pytest.approx(reference, rel=1e-9)


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
    result = stats.welch(sample(a), sample(b))
    assert result is not None
    (greater, less), _, (low, high) = result
    reference = scipy_stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    assert greater == pytest.approx(reference.pvalue, rel=1e-9)
    assert less == pytest.approx(1 - reference.pvalue, rel=1e-9)
    # the 95% interval's ends are where a one-sided test of the shifted sample gives 0.025
    # (scipy's confidence_interval is newer than the floor, 1.10, which inverts the t
    # distribution to about 1e-8)
    at_low = scipy_stats.ttest_ind(a - low, b, equal_var=False, alternative="greater")
    at_high = scipy_stats.ttest_ind(a - high, b, equal_var=False, alternative="less")
    assert (at_low.pvalue, at_high.pvalue) == pytest.approx((0.025, 0.025), rel=1e-7)
    assert stats.welch(sample(a[:1]), sample(b)) is None


def sample(values: np.ndarray) -> stats.Sample:
    return stats.Sample(values, len(values), float(np.mean(values)))


@pytest.mark.parametrize("seed", range(4))
def test_welch_against_bounds_is_welch_on_shifted_values(seed: int) -> None:
    # H0: mean difference <= +0.05 (above) and >= -0.05 (below), by hand: shift one side
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.70, 0.1, 15), rng.normal(0.72, 0.2, 25)
    result = stats.welch(sample(a), sample(b), (0.05, -0.05))
    assert result is not None
    (above, below), _, _ = result
    greater = scipy_stats.ttest_ind(a - 0.05, b, equal_var=False, alternative="greater")
    less = scipy_stats.ttest_ind(a + 0.05, b, equal_var=False, alternative="less")
    assert (above, below) == pytest.approx((greater.pvalue, less.pvalue), rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_paired_t_against_bounds_matches_scipy_with_a_population_mean(seed: int) -> None:
    diffs = np.random.default_rng(seed).normal(-0.04, 0.1, 30)
    (above, below), _, _ = stats.paired_t(diffs, (0.05, -0.05))
    greater = scipy_stats.ttest_1samp(diffs, 0.05, alternative="greater").pvalue
    less = scipy_stats.ttest_1samp(diffs, -0.05, alternative="less").pvalue
    assert (above, below) == pytest.approx((greater, less), rel=1e-9)


def test_a_change_on_its_bound_or_within_rounding_of_zero_is_no_evidence() -> None:
    # identical per-case means, summed in another order: differences of ~1e-17
    base = np.array([0.1, 0.2, 0.3] * 10)
    noise = stats.denoised((base + 1e-17) - base, base)
    assert not noise.any()
    assert stats.paired_t(noise)[0] == (1.0, 1.0)  # no spread, no change: p = 1
    assert stats.wilcoxon(noise) == (1.0, 1.0)
    # every case exactly +0.05 with a +0.05 bound: on it, not beyond
    (above, _), _, _ = stats.paired_t(np.full(20, 0.1 + 0.05) - 0.1, (0.05, -0.05))
    assert above == 1.0
    (above, _), _, _ = stats.paired_t(np.full(20, 0.06), (0.05, -0.05))
    assert above == 0.0  # no spread and beyond the bound: certain


def test_wilcoxon_min_p_matches_scipy_on_each_branch_and_drops_zeros() -> None:
    rng = np.random.default_rng(7)
    cases = [
        rng.uniform(0.1, 1, 12),  # exact: no ties, at most 50
        rng.uniform(0.1, 1, 50),
        np.round(rng.uniform(0.1, 1, 30), 1),  # ties: the normal branch with tie correction
        rng.uniform(0.1, 1, 120),  # more than 50: the normal branch
    ]
    for diffs in cases:
        exact = len(diffs) <= 50 and len(np.unique(diffs)) == len(diffs)
        method = "exact" if exact else "approx"  # scipy 1.15 added "asymptotic" for it
        reference = scipy_stats.wilcoxon(diffs, alternative="greater", method=method).pvalue
        assert stats.wilcoxon_min_p(diffs) == pytest.approx(reference, rel=1e-9)
        assert stats.wilcoxon(diffs)[0] == pytest.approx(reference, rel=1e-9)
        assert stats.wilcoxon_min_p(-diffs) == stats.wilcoxon_min_p(diffs)
    # 0/1 judge scores: zero differences are dropped by the test, so by its reach too
    with_zeros = np.array([0.0] * 20 + [1.0, 1.0, 1.0])
    assert stats.wilcoxon_min_p(with_zeros) == pytest.approx(
        scipy_stats.wilcoxon(with_zeros, alternative="greater", method="approx").pvalue
    )
    assert stats.wilcoxon_min_p(np.zeros(5)) == 1.0
    assert stats.wilcoxon_min_p(np.arange(1.0, 1101.0)) < 1e-100  # no overflow


def test_shifted_signed_rank_tests_the_bound() -> None:
    diffs = np.random.default_rng(2).normal(0.12, 0.05, 40)
    bound = np.log1p(0.10)
    reference = scipy_stats.wilcoxon(diffs - bound, alternative="greater", method="exact")
    assert stats.wilcoxon(diffs - bound)[0] == pytest.approx(reference.pvalue, rel=1e-9)


def brute_force_score_p(x1: int, n1: int, x0: int, n0: int, bound: float) -> float:
    """The score test by hand: the restricted likelihood maximised on a fine grid."""
    grid = np.linspace(max(0.0, -bound) + 1e-9, min(1.0, 1 - bound) - 1e-9, 200_001)
    p1 = grid + bound
    loglik = (
        x1 * np.log(p1) + (n1 - x1) * np.log(1 - p1) + x0 * np.log(grid)
        + (n0 - x0) * np.log(1 - grid)
    )  # fmt: skip
    p0 = grid[int(np.argmax(loglik))]
    se = math.sqrt((p0 + bound) * (1 - p0 - bound) / n1 + p0 * (1 - p0) / n0)
    corrected = x1 / n1 - x0 / n0 - bound - (1 / n1 + 1 / n0) / 2  # continuity
    return float(scipy_stats.norm.sf(corrected / se))


@pytest.mark.parametrize(
    ("x1", "n1", "x0", "n0", "bound"),
    [(30, 500, 10, 500, 0.02), (8, 60, 1, 80, 0.02), (50, 1000, 30, 1000, 0.0),
     (5, 40, 5, 50, 0.1), (12, 500, 10, 500, 0.02)],
)  # fmt: skip
def test_rate_score_test_matches_the_restricted_likelihood_by_hand(
    x1: int, n1: int, x0: int, n0: int, bound: float
) -> None:
    grid = np.linspace(max(0.0, -bound) + 1e-9, min(1.0, 1 - bound) - 1e-9, 200_001)
    loglik = (
        x1 * np.log(grid + bound) + (n1 - x1) * np.log(1 - grid - bound)
        + x0 * np.log(grid) + (n0 - x0) * np.log(1 - grid)
    )  # fmt: skip
    assert rates._restricted([x1], n1, [x0], n0, bound)[0] == pytest.approx(
        grid[int(np.argmax(loglik))], abs=1e-5
    )
    by_hand = brute_force_score_p(x1, n1, x0, n0, bound)
    if by_hand > rates.REFINE_BELOW:  # the normal law's p-value (small ones: exact tail)
        assert rates.rate_beyond(x1, n1, x0, n0, bound) == pytest.approx(by_hand, rel=1e-3)


def test_rate_score_test_at_bound_zero_is_the_pooled_z_test() -> None:
    x1, n1, x0, n0 = 45, 1000, 35, 1000
    pooled = (x1 + x0) / (n1 + n0)
    corrected = x1 / n1 - x0 / n0 - (1 / n1 + 1 / n0) / 2
    z = corrected / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    assert scipy_stats.norm.sf(z) > rates.REFINE_BELOW
    assert rates.rate_beyond(x1, n1, x0, n0, 0.0) == pytest.approx(scipy_stats.norm.sf(z))


def test_a_small_rate_p_value_is_the_exact_tail_at_the_restricted_rates() -> None:
    # 40 spans a side: every table enumerated by hand, each scored as the test scores it
    n, bound, x1, x0 = 40, 0.02, 6, 0
    p0 = rates._restricted_by_bisection(x1, n, x0, n, bound, 0.0, 1 - bound)

    def score(a: int, b: int) -> float:
        q0 = rates._restricted_by_bisection(a, n, b, n, bound, 0.0, 1 - bound)
        q1 = q0 + bound
        variance = q1 * (1 - q1) / n + q0 * (1 - q0) / n
        return (a / n - b / n - bound) / math.sqrt(variance)

    observed = score(x1, x0)
    tail = sum(
        scipy_stats.binom.pmf(a, n, p0 + bound) * scipy_stats.binom.pmf(b, n, p0)
        for a in range(n + 1)
        for b in range(n + 1)
        if score(a, b) >= observed - 1e-9
    )
    assert tail < rates.REFINE_BELOW
    assert rates.rate_beyond(x1, n, x0, n, bound) == pytest.approx(tail, rel=1e-6)


@pytest.mark.parametrize(("p0", "n"), [(0.0, 1000), (0.001, 3000), (0.001, 500), (0.01, 1000)])
def test_rate_test_keeps_its_size_at_the_bound(p0: float, n: int) -> None:
    # exact: the chance of p < alpha when the change is exactly the +2pp bound, at the
    # levels the gate decides at (Holm's first step of 250 checks, up to alpha itself)
    p1 = p0 + 0.02
    x1s = np.arange(int(n * p1 + 8 * math.sqrt(n * p1) + 10))
    x0s = np.arange(int(n * p0 + 8 * math.sqrt(n * p0) + 10))
    w1, w0 = scipy_stats.binom.pmf(x1s, n, p1), scipy_stats.binom.pmf(x0s, n, p0)
    found = [
        (w1[i] * w0[j], rates.rate_beyond(i, n, j, n, 0.02))
        for i in range(len(x1s))
        for j in range(len(x0s))
        if w1[i] * w0[j] > 1e-13
    ]
    for alpha in (4e-5, 4e-4, 0.01):
        size = sum(weight for weight, p in found if p < alpha)
        assert size <= alpha, (alpha, size)


def test_rate_tests_are_never_kinder_than_fishers_exact_test() -> None:
    # 0 of 10 errors, then 3 of 10: Fisher's exact test of no change says 0.105
    above, _ = rates.rates_beyond(3, 10, 0, 10, (0.0, 0.0))
    reference = scipy_stats.fisher_exact([[3, 7], [0, 10]], alternative="greater").pvalue
    assert above == pytest.approx(reference)
    # and never below the bound's own test
    above, below = rates.rates_beyond(60, 1000, 20, 1000, (0.02, -0.02))
    assert above == pytest.approx(rates.rate_beyond(60, 1000, 20, 1000, 0.02))
    assert below == pytest.approx(1.0)
    # the reach: every span of one side an error
    reach = rates.rates_reach(3, 3, (0.02, -0.02))
    assert reach[0] <= rates.rates_beyond(3, 3, 0, 3, (0.02, -0.02))[0]  # never above it
    exact = scipy_stats.fisher_exact([[3, 0], [0, 3]], alternative="greater").pvalue
    assert reach[0] >= exact - 1e-12  # never kinder than Fisher's, here the score test's


def test_a_thinned_sample_stands_for_the_values_it_was_kept_from() -> None:
    # evenly spaced order statistics of 5,000 values, kept as 1,000, stand for 5,000
    full = np.sort(np.random.default_rng(3).lognormal(0, 0.3, 5000))
    kept = full[np.round(np.linspace(0, 4999, 1000)).astype(int)]
    for q in (0.5, 0.95):
        assert quantiles.log_quantile_se(kept, q, 5000) == pytest.approx(
            quantiles.log_quantile_se(full, q), rel=0.15
        )
        assert quantiles.log_quantile_se(kept, q, 5000) < 0.6 * quantiles.log_quantile_se(kept, q)
    other = np.sort(np.random.default_rng(4).lognormal(0.05, 0.3, 5000))
    other_kept = other[np.round(np.linspace(0, 4999, 1000)).astype(int)]
    (full_p, _), _ = quantiles.median_test(stats.Sample(other, 5000), stats.Sample(full, 5000))
    (kept_p, _), _ = quantiles.median_test(stats.Sample(other_kept, 5000), stats.Sample(kept, 5000))
    assert math.log(kept_p) == pytest.approx(math.log(full_p), rel=0.1)
    (counted_as_kept, _), _ = quantiles.median_test(
        stats.Sample(other_kept, 1000), stats.Sample(kept, 1000)
    )
    assert counted_as_kept > 100 * kept_p  # what the old code did: power capped


def test_hodges_lehmann_of_too_few_pairs_has_no_bound() -> None:
    # five pairs: the signed-rank test cannot reject at 5% two-sided (2 * 2**-5 > 0.05)
    estimate, bounds = stats.hodges_lehmann(np.array([0.1, 0.2, 0.3, 0.4, 0.5]))
    assert estimate == pytest.approx(0.3)
    assert bounds == (-math.inf, math.inf)


def test_sign_test_of_thousands_of_pairs_does_not_break() -> None:
    assert 0 < presence.sign_test(1100, 1100) < 1e-300


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
    (greater, _), (reach, _) = quantiles.median_test(stats.Sample(cur, 20), stats.Sample(base, 20))
    pooled = np.median(np.concatenate((cur, base)))
    above = (int(np.sum(cur > pooled)), int(np.sum(base > pooled)))
    table = [[above[0], 20 - above[0]], [above[1], 20 - above[1]]]
    assert greater == pytest.approx(
        scipy_stats.fisher_exact(table, alternative="greater").pvalue, rel=1e-9
    )
    total = sum(above)  # the most lopsided table with these margins, each way
    lopsided = [[total, 20 - total], [0, 20]]
    assert reach == pytest.approx(
        scipy_stats.fisher_exact(lopsided, alternative="greater").pvalue, rel=1e-9
    )
    assert greater > reach > 0
    # three against three: twenty arrangements, one of them most lopsided
    (greater, less), reach_both = quantiles.median_test(
        stats.Sample(np.array([4.0, 5, 6]), 3), stats.Sample(np.array([1.0, 2, 3]), 3)
    )
    assert (greater, less) == pytest.approx((0.05, 1.0))
    assert reach_both == pytest.approx((0.05, 0.05))


def test_welch_takes_its_n_from_the_count_a_sample_stands_for() -> None:
    a, b = np.linspace(0.5, 0.9, 100), np.linspace(0.4, 0.8, 100)
    thinned = stats.welch(
        stats.Sample(a, 400, float(a.mean())), stats.Sample(b, 400, float(b.mean()))
    )
    assert thinned is not None
    _, se, _ = thinned
    by_hand = math.sqrt(np.var(a, ddof=1) / 400 + np.var(b, ddof=1) / 400)
    assert se == pytest.approx(by_hand)


def test_median_test_reach_each_way_on_unequal_sides() -> None:
    cur, base = np.array([1.0, 2, 3, 4]), np.arange(5.0, 15.0)
    (greater, less), (reach_greater, reach_less) = quantiles.median_test(
        stats.Sample(cur, 4), stats.Sample(base, 10)
    )
    pooled = np.median(np.concatenate((cur, base)))
    total = int(np.sum(cur > pooled) + np.sum(base > pooled))
    most, least = min(4, total), max(0, total - 10)
    most_table = [[most, 4 - most], [total - most, 10 - total + most]]
    least_table = [[least, 4 - least], [total - least, 10 - total + least]]
    assert reach_greater == pytest.approx(
        scipy_stats.fisher_exact(most_table, alternative="greater").pvalue
    )
    assert reach_less == pytest.approx(
        scipy_stats.fisher_exact(least_table, alternative="less").pvalue
    )
    assert less == pytest.approx(reach_less)  # every current value below: most lopsided
    assert greater == pytest.approx(1.0)
