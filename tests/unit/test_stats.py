"""Statistical routines against known values: scipy references and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pytest_llmobs import stats


def test_mann_whitney_two_sided_matches_scipy_and_sees_a_shift() -> None:
    base = np.arange(30, dtype=np.float64)
    cur = base + 20
    expected = scipy_stats.mannwhitneyu(cur, base, alternative="two-sided").pvalue
    assert stats.mann_whitney_p(cur, base) == pytest.approx(expected)
    assert stats.mann_whitney_p(cur, base) < 1e-6
    assert stats.mann_whitney_p(base, base) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("cur", "base"),
    [([], [1.0, 2.0]), ([1.0, 1.0], [1.0, 1.0, 1.0])],
    ids=["empty", "all-tied"],
)
def test_mann_whitney_without_evidence_is_one(cur: list[float], base: list[float]) -> None:
    assert stats.mann_whitney_p(np.array(cur), np.array(base)) == 1.0


def test_min_p_of_mann_whitney_is_reached_by_the_exact_test() -> None:
    # 3 vs 3: 20 arrangements, two-sided minimum 2/20
    assert stats.mann_whitney_min_p(3, 3) == pytest.approx(0.1)
    assert stats.mann_whitney_p(np.array([4.0, 5, 6]), np.array([1.0, 2, 3])) == pytest.approx(0.1)
    assert stats.mann_whitney_min_p(0, 5) == 1.0


def test_wilcoxon_matches_scipy_and_hand_computed_exact_case() -> None:
    rng = np.random.default_rng(3)
    diffs = rng.normal(0.3, 1.0, 40)
    expected = scipy_stats.wilcoxon(diffs, alternative="two-sided").pvalue
    assert stats.wilcoxon_p(diffs) == pytest.approx(expected)
    # 5 positive differences: the exact two-sided p is 2 / 2**5
    assert stats.wilcoxon_p(np.array([1.0, 2, 3, 4, 5])) == pytest.approx(2 / 32)
    assert stats.wilcoxon_min_p(5) == pytest.approx(2 / 32)
    assert stats.wilcoxon_p(np.zeros(12)) == 1.0


def test_fisher_two_sided_matches_scipy() -> None:
    expected = scipy_stats.fisher_exact([[18, 42], [0, 60]]).pvalue
    assert stats.fisher_p(18, 60, 0, 60) == pytest.approx(expected)
    assert stats.fisher_p(1, 60, 0, 60) == pytest.approx(1.0)
    assert stats.fisher_min_p(3, 3) == pytest.approx(0.1)


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


def test_bootstrap_interval_is_seeded_and_covers_the_ratio() -> None:
    rng = np.random.default_rng(5)
    base = rng.lognormal(0, 0.3, 400)
    cur = base * 1.5
    first = stats.bootstrap_ratio_ci(cur, base, 0.95, seed=7)
    assert first == stats.bootstrap_ratio_ci(cur, base, 0.95, seed=7)
    low, high = first
    assert low < 1.5 < high
    assert low > 1.2


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339
    low, high = stats.newcombe_ci(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_minimum_detectable_effect() -> None:
    # two-sided alpha 0.05 and 80% power: (1.96 + 0.8416) standard errors
    assert stats.minimum_detectable(1.0, 0.05) == pytest.approx(2.8016, abs=1e-4)
