"""Coverage of the baseline: what it holds that this run did not measure, and why.

A series (or a quality, token or cost metric of one) that the baseline's test cases
produced is lost when those test cases ran again without it: the code that made it is
gone or broken. Spans can be conditional (a retry, a cache miss, a tool call), so "lost"
is decided on the test cases that ran in both runs, by an exact McNemar test on those
whose presence changed, in the run's family of checks. Test cases that did not run in
this run (-k, -m, a narrower path) say nothing: what only they produced is "not run".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from pytest_llmobs import stats
from pytest_llmobs.model import SeriesKey, SeriesStats
from pytest_llmobs.semconv import metric_of

Status = Literal["lost", "absent", "not-run", "outside-tests"]
SHOWN = 5  # test ids named in a sentence; the run report lists every one


@dataclass(frozen=True)
class RanTests:
    """The test ids that ran in this run and in the baseline's run."""

    now: frozenset[str]
    before: frozenset[str]

    @property
    def both(self) -> frozenset[str]:
        return self.now & self.before


@dataclass(frozen=True)
class Absence:
    """A series (metric None) or metric of the baseline that this run measured less.

    `before` and `now` count the test cases that ran in both runs and produced it then
    and now; `tests` are those that produced it then and not now.
    """

    series: SeriesKey
    metric: str | None
    status: Status
    missing: bool  # not measured at all in this run, rather than in fewer test cases
    before: int = 0
    now: int = 0
    tests: tuple[str, ...] = ()
    p_raw: float | None = None
    p_value: float | None = None

    @property
    def subject(self) -> str:
        return (
            f"{self.series.label} {self.metric}" if self.metric else f"series {self.series.label}"
        )

    @property
    def reason(self) -> str:
        """Why it is not measured, and whether that fails the gate."""
        if self.status == "not-run":
            return "not measured: the test cases that produced it did not run"
        if self.status == "outside-tests":
            return "not measured: it was made outside any test, so no test case vouches for it"
        if self.before == 0:
            return "not measured: its series ran in other test cases than in the baseline"
        where = f"in {self.now} of the {self.before} test cases that produced it in the baseline"
        p = f"p = {self.p_value:.2g}" if self.p_value is not None else "p -"
        if self.status == "lost":
            return f"lost: measured {where} ({p}), e.g. {_names(self.tests)}"
        return f"measured {where}, as a conditional span may be ({p}): not a loss"


def survey(
    current: Sequence[SeriesStats],
    baseline: Sequence[SeriesStats],
    tests: RanTests,
    checked: Callable[[SeriesKey, str], bool],
    series_metrics: Sequence[str],
) -> list[Absence]:
    """The baseline's series and metrics this run measured in fewer of its test cases.

    Args:
        current: this run's series.
        baseline: the baseline's series.
        tests: the test ids that ran in each run.
        checked: whether a metric of a series is checked at all (its rule is not `off`).
        series_metrics: the metrics every series has (latency, error rate).

    Returns:
        Absences with their raw p-value (None when no test case can tell): every series
        or metric not measured at all, and every one measured in fewer test cases.
    """
    now = {s.key: s for s in current}
    found = []
    for base in baseline:
        cur = now.get(base.key)
        metrics = [*series_metrics, *(metric_of(a) for a in base.quality)]
        if not any(checked(base.key, m) for m in metrics):
            continue  # every check of the series is off: its absence is accepted
        before, after = present(base), present(cur)
        found.append(_absence(base.key, None, before, after, tests, tests.both))
        # a metric is judged where its series ran in both runs: a loss of the series
        # explains the metric's absence elsewhere
        scope = tests.both & before & after
        for attribute in sorted(base.quality):
            metric = metric_of(attribute)
            if cur is not None and checked(base.key, metric):
                had, has = present(base, attribute), present(cur, attribute)
                found.append(_absence(base.key, metric, had, has, tests, scope))
    return [a for a in found if a.missing or a.p_raw is not None]


def settle(absences: Sequence[Absence], adjusted: Sequence[float], alpha: float) -> list[Absence]:
    """Absences with their Holm-adjusted p-values (in the order of `tested(absences)`):
    lost where it is below alpha. Those measured in fewer test cases but not lost are
    dropped: a conditional span's share varies."""
    p_of = dict(zip(map(id, tested(absences)), adjusted, strict=True))
    result = []
    for absence in absences:
        p = p_of.get(id(absence))
        if p is not None:
            absence = replace(absence, p_value=p, status="lost" if p < alpha else "absent")
        if absence.missing or absence.status == "lost":
            result.append(absence)
    return result


def tested(absences: Sequence[Absence]) -> list[Absence]:
    """The absences with a test to adjust: those lost in at least one test case."""
    return [a for a in absences if a.p_raw is not None]


def shares_none(tests: RanTests) -> str | None:
    """A sentence when this run ran tests but shares no test id with the baseline."""
    if not tests.now or not tests.before or tests.both:
        return None
    return (
        f"this run shares no test id with the baseline (it has e.g. {min(tests.before)!r}, "
        f"this run {min(tests.now)!r}): it was recorded from another rootdir, or the tests "
        "were renamed; run from the folder it was recorded in, or re-record it with "
        "--llmobs-update-baseline"
    )


def present(series: SeriesStats | None, attribute: str | None = None) -> frozenset[str]:
    """The test ids in which a series had spans (or, given an attribute, values of it)."""
    if series is None:
        return frozenset()
    if attribute is None:
        index = series.present
    else:
        index = series.quality_case.get(attribute)
        if index is None or len(index) != len(series.quality_samples.get(attribute, ())):
            return frozenset()
    names = series.cases if index is None else [series.cases[i] for i in np.unique(index)]
    return frozenset(names) - {""}


def _absence(
    key: SeriesKey, metric: str | None, had: Set[str], has: Set[str], tests: RanTests,
    scope: Set[str],
) -> Absence:  # fmt: skip
    """How a series or metric fared in the test cases of `scope` (that ran in both)."""
    missing = not has
    if not had:
        return Absence(key, metric, "outside-tests", missing)
    if not had & tests.now:
        return Absence(key, metric, "not-run", missing)
    lost = sorted((had - has) & scope)
    gained = (has - had) & scope
    p = stats.sign_test(len(lost), len(lost) + len(gained)) if lost else None
    before, now = len(had & scope), len(has & scope)
    return Absence(key, metric, "absent", missing, before, now, tuple(lost), p)


def _names(tests: Sequence[str]) -> str:
    shown = ", ".join(tests[:SHOWN])
    return shown + (f" and {len(tests) - SHOWN} more" if len(tests) > SHOWN else "")
