"""What the baseline holds that a run did not measure: lost, conditional, or not run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from scipy import stats as scipy_stats

from pytest_llmobs.gate import presence
from pytest_llmobs.gate.compare import compare
from pytest_llmobs.gate.model import SeriesKey, SeriesStats
from pytest_llmobs.gate.rule_config import rules_from_config
from pytest_llmobs.gate.selection import RanTests
from tests.conftest import make_series

CASES = [f"t.py::test[{i}]" for i in range(60)]
ALL = frozenset(CASES)


def series(name: str, cases: Sequence[str], scored: bool = True) -> SeriesStats:
    quality = {"score": [0.8] * len(cases)} if scored else None
    return make_series(name, [10.0] * len(cases), quality=quality, cases=list(cases))


def test_a_metric_gone_from_every_test_case_that_ran_is_lost() -> None:
    result = compare(
        [series("evaluate", CASES, scored=False)], [series("evaluate", CASES)], ["score"],
        tests=RanTests(ALL, ALL),
    )  # fmt: skip
    (lost,) = result.lost
    assert (lost.series.name, lost.metric, lost.before, lost.now) == (
        "evaluate", "quality.score", 60, 0
    )  # fmt: skip
    assert lost.p_raw == 2 * 4.0**-60  # gone from every one of them: the stronger bound
    assert lost.tests == tuple(sorted(CASES))
    assert result.failures == (f"evaluate quality.score: {lost.reason}",)
    [check] = [c for c in result.checks if c.metric == "quality.score"]
    assert (check.verdict, check.test, check.n_baseline, check.n_current) == (
        "missing", "loss-exact", 60, 0
    )  # fmt: skip
    assert check.reason.startswith("lost: measured in 0 of the 60 test cases")


def test_a_series_gone_from_the_test_cases_that_ran_is_lost() -> None:
    result = compare([series("a", CASES)], [series("a", CASES), series("b", CASES[:20])],
                     tests=RanTests(ALL, ALL))  # fmt: skip
    assert [(a.subject, a.status) for a in result.lost] == [("series b", "lost")]
    missing = {c.metric for c in result.checks if c.series.name == "b"}
    assert missing == {"latency.p50", "latency.p95", "latency.p99", "error_rate", "quality.score"}
    assert all(c.reason.startswith("lost") for c in result.checks if c.series.name == "b")


def test_a_conditional_span_absent_now_is_listed_not_lost() -> None:
    result = compare([series("a", CASES)], [series("a", CASES), series("retry", CASES[:3])],
                     tests=RanTests(ALL, ALL))  # fmt: skip
    assert result.failures == ()
    assert result.absences is not None
    (absent,) = result.absences
    assert (absent.subject, absent.status, absent.before, absent.now) == (
        "series retry", "absent", 3, 0
    )  # fmt: skip
    assert absent.p_raw == pytest.approx(2 / 8)  # McNemar, doubled for the two tests
    assert absent.p_value is not None
    assert absent.p_value > 0.01
    assert "as something conditional may be" in absent.reason


def test_what_only_unselected_tests_made_is_not_run_and_never_fails() -> None:
    selected = frozenset(CASES[:30])
    result = compare(
        [series("a", CASES[:30])], [series("a", CASES), series("tool", CASES[40:])],
        tests=RanTests(selected, ALL),
    )  # fmt: skip
    assert result.failures == ()
    assert result.absences is not None
    assert [(a.subject, a.status) for a in result.absences] == [("series tool", "not-run")]
    # series a lost the cases that did not run: that is no loss either
    assert not [a for a in result.absences if a.series.name == "a"]


def test_a_partial_drop_fails_only_when_significant() -> None:
    # produced in 60 test cases before, in 20 now although all 60 ran: lost
    result = compare([series("a", CASES[:20])], [series("a", CASES)], tests=RanTests(ALL, ALL))
    assert [(a.subject, a.before, a.now) for a in result.lost] == [("series a", 60, 20)]
    # in 58 now: a conditional span's share varies, nothing listed
    result = compare([series("a", CASES[:58])], [series("a", CASES)], tests=RanTests(ALL, ALL))
    assert result.failures == ()
    assert result.absences == ()


def test_off_accepts_an_absence() -> None:
    rules = rules_from_config({"rules": {"quality": {"score": "off"}}}, "t")
    result = compare(
        [series("e", CASES, scored=False)], [series("e", CASES)], ["score"], rules,
        tests=RanTests(ALL, ALL),
    )  # fmt: skip
    assert result.failures == ()
    everything_off = {
        "overrides": [
            {"series": "retry", "latency": {"*": "off"}, "error_rate": "off",
             "quality": {"*": "off"}},
        ]
    }  # fmt: skip
    rules = rules_from_config(everything_off, "t")
    result = compare(
        [series("a", CASES)], [series("a", CASES), series("retry", CASES)], rules=rules,
        tests=RanTests(ALL, ALL),
    )  # fmt: skip
    assert result.failures == ()


def test_losses_join_the_runs_family_of_checks() -> None:
    # 12 of 60 lost: p = 2 * 2**-12 raw, but Holm across the run's other checks too
    lost = compare([series("a", CASES[12:])], [series("a", CASES)], tests=RanTests(ALL, ALL))
    (absence,) = lost.lost
    tested = [c for c in lost.checks if c.p_raw is not None]
    assert absence.p_value == pytest.approx(2 * 0.5**12 * (len(tested) + 1))


@pytest.mark.parametrize(("cases", "status"), [(8, "lost"), (4, "absent")])
def test_a_small_suite_loses_what_every_test_case_had(cases: int, status: str) -> None:
    # every one of 8 test cases had the score and none has it now: at most 4**-8 by chance
    few = frozenset(CASES[:cases])
    result = compare(
        [series("e", CASES[:cases], scored=False)], [series("e", CASES[:cases])], ["score"],
        tests=RanTests(few, few),
    )  # fmt: skip
    assert result.absences is not None
    assert [a.status for a in result.absences] == [status]


def test_no_shared_test_id_fails() -> None:
    renamed = [c.replace("t.py", "suite/t.py") for c in CASES]
    result = compare([series("a", renamed)], [series("a", CASES)],
                     tests=RanTests(frozenset(renamed), ALL))  # fmt: skip
    (unshared,) = result.selection
    assert unshared.startswith("this run shares no test id with the baseline")
    assert "'suite/t.py::test[0]'" in unshared
    assert "'t.py::test[0]'" in unshared
    assert result.failures == (unshared,)


def test_without_the_tests_that_ran_missing_is_only_reported() -> None:
    result = compare([], [series("a", CASES)])
    assert result.absences is None
    assert result.failures == ()
    assert {c.verdict for c in result.checks} == {"missing"}


@pytest.mark.parametrize(("k", "n"), [(0, 0), (0, 5), (1, 1), (3, 3), (5, 9), (12, 12), (40, 70)])
def test_sign_test_matches_scipy(k: int, n: int) -> None:
    expected = scipy_stats.binomtest(k, n, 0.5, alternative="greater").pvalue if n else 1.0
    assert presence.sign_test(k, n) == pytest.approx(expected, rel=1e-9)


def cohort(name: str, tier: str, cases: Sequence[str], scored: bool = True) -> SeriesStats:
    return replace(series(name, cases, scored), key=SeriesKey(name, (("user_tier", tier),)))


def test_a_loss_spread_over_small_cohorts_is_judged_with_all_of_them() -> None:
    # five cohorts of eight test cases: each alone too small to show a loss (2**-8)
    tiers = [f"tier{i}" for i in range(5)]
    base = [cohort("e", t, CASES[i * 8 : i * 8 + 8]) for i, t in enumerate(tiers)]
    now = [cohort("e", t, CASES[i * 8 : i * 8 + 8], scored=False) for i, t in enumerate(tiers)]
    result = compare(now, base, ["score"], tests=RanTests(ALL, ALL))
    assert [(a.subject, a.before, a.now, a.pooled) for a in result.lost] == [
        ("e[*] quality.score", 40, 0, True)
    ]
    assert result.absences == result.lost  # the loss explains each cohort's absence
    [check] = [c for c in result.checks if c.series == base[0].key and c.metric == "quality.score"]
    assert check.reason.startswith("lost: measured in 0 of the 40 test cases")


def test_cohorts_that_move_between_test_cases_are_no_loss() -> None:
    # the same test cases produce the span, in another cohort now
    base = [cohort("e", "free", CASES[:30]), cohort("e", "pro", CASES[30:])]
    now = [cohort("e", "free", CASES[30:]), cohort("e", "pro", CASES[:30])]
    result = compare(now, base, ["score"], tests=RanTests(ALL, ALL))
    assert [a for a in result.lost if a.pooled] == []


def test_a_loss_from_thousands_of_test_cases_is_still_a_loss() -> None:
    # p-values below what a float holds must not turn into "no evidence"
    many = [f"t.py::test[{i}]" for i in range(1100)]
    ran = frozenset(many)
    result = compare([series("a", many)], [series("a", many), series("b", many)],
                     tests=RanTests(ran, ran))  # fmt: skip
    assert [(a.subject, a.status) for a in result.lost] == [("series b", "lost")]
    assert result.lost[0].p_raw is not None
    assert result.lost[0].p_raw > 0


def test_a_series_gone_from_every_case_of_its_test_function_is_lost() -> None:
    # eight cases of test_eval made it, among 40: gone from all eight is no chance
    evals = [f"e.py::test_eval[{i}]" for i in range(8)]
    ran = frozenset(CASES[:32] + evals)
    result = compare(
        [series("answer", CASES[:32])],
        [series("answer", CASES[:32]), series("evaluate", evals)],
        tests=RanTests(ran, ran),
    )  # fmt: skip
    assert [(a.subject, a.before, a.now) for a in result.lost] == [("series evaluate", 8, 0)]
