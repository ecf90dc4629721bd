"""The significance tests and the smallest p-value they can reach."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_llmobs import stats


def test_mann_whitney_sees_a_shift_in_the_direction_asked() -> None:
    base = np.arange(30, dtype=np.float64)
    cur = base + 20
    assert stats.mann_whitney_p(cur, base, "greater") < 1e-6
    assert stats.mann_whitney_p(cur, base, "less") > 0.99


@pytest.mark.parametrize(
    ("cur", "base"),
    [([], [1.0, 2.0]), ([1.0, 1.0], [1.0, 1.0, 1.0])],
    ids=["empty", "all-tied"],
)
def test_mann_whitney_without_evidence_is_one(cur: list[float], base: list[float]) -> None:
    assert stats.mann_whitney_p(np.array(cur), np.array(base), "greater") == 1.0


def test_min_p_of_mann_whitney_is_one_over_the_arrangements() -> None:
    assert stats.mann_whitney_min_p(3, 3) == 1 / 20
    assert stats.mann_whitney_min_p(0, 5) == 1.0
    # the exact test can really reach it
    low = stats.mann_whitney_p(np.array([4.0, 5, 6]), np.array([1.0, 2, 3]), "greater")
    assert low == pytest.approx(1 / 20)


def test_fisher_on_error_counts() -> None:
    assert stats.fisher_p(18, 60, 0, 60, "greater") < 1e-5
    assert stats.fisher_p(1, 60, 0, 60, "greater") == pytest.approx(0.5)
    assert stats.fisher_p(0, 60, 18, 60, "less") < 1e-5
    assert stats.fisher_min_p(3, 3) == pytest.approx(1 / 20)
