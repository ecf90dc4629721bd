"""Statistical routines against known values: scipy references and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pytest_llmobs import stats


def test_mann_whitney_matches_scipy_both_ways() -> None:
    base = np.arange(30, dtype=np.float64)
    cur = base + 20
    greater, less = stats.mann_whitney(cur, base)
    assert greater == pytest.approx(
        scipy_stats.mannwhitneyu(cur, base, alternative="greater").pvalue
    )
    assert less == pytest.approx(scipy_stats.mannwhitneyu(cur, base, alternative="less").pvalue)
    assert greater < 1e-6
    assert less > 0.99


@pytest.mark.parametrize(
    ("cur", "base"),
    [([], [1.0, 2.0]), ([1.0, 1.0], [1.0, 1.0, 1.0])],
    ids=["empty", "all-tied"],
)
def test_mann_whitney_without_evidence_is_one(cur: list[float], base: list[float]) -> None:
    assert stats.mann_whitney(np.array(cur), np.array(base)) == (1.0, 1.0)


def test_min_p_of_mann_whitney_is_reached_by_the_exact_test() -> None:
    # 3 vs 3: 20 arrangements, one-sided minimum 1/20
    assert stats.mann_whitney_min_p(3, 3) == pytest.approx(0.05)
    greater, _ = stats.mann_whitney(np.array([4.0, 5, 6]), np.array([1.0, 2, 3]))
    assert greater == pytest.approx(0.05)
    assert stats.mann_whitney_min_p(0, 5) == 1.0


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
def test_fast_paths_agree_with_scipy_on_random_tables_and_tied_samples(
    side: int, alternative: str
) -> None:
    rng = np.random.default_rng(side)
    for _ in range(40):
        n1, n2 = (int(n) for n in rng.integers(21, 300, 2))
        digits = int(rng.integers(0, 3))  # rounding makes ties
        a = np.round(rng.lognormal(0, 1, n1), digits)
        b = np.round(rng.lognormal(0.1, 1, n2), digits)
        reference = scipy_stats.mannwhitneyu(a, b, alternative=alternative).pvalue
        assert stats.mann_whitney(a, b)[side] == pytest.approx(reference, rel=1e-9)
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
