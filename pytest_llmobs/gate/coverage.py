"""Coverage of the baseline: what it holds that this run did not measure, and why.

A series (or a quality, token or cost metric of one) that the baseline's test cases
produced is lost when those test cases ran again without it: the code that made it is
gone or broken. Spans can be conditional (a retry, a cache miss, a tool call), so "lost"
is decided on the test cases that ran in both runs, by an exact McNemar test on those
whose presence changed, or a bound on its vanishing from every case of a test function,
in the run's family of checks. Test cases that did not run in this run (-k, -m, a
narrower path) say nothing: what only they produced is "not run".
With `group_by`, each span name is also judged with all its groups together, so a loss
spread over small cohorts is not hidden by their size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence, Set
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from pytest_llmobs.gate import presence
from pytest_llmobs.gate.model import TEST_GROUP, SeriesKey, SeriesStats
from pytest_llmobs.gate.selection import RanTests, listed
from pytest_llmobs.gate.semconv import metric_of
from pytest_llmobs.gate.shape import function_of

Status = Literal["lost", "absent", "not-run", "outside-tests"]


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
    pooled: bool = False  # the span name with all its group_by values together

    @property
    def label(self) -> str:
        """The series key; `name[*]` (or `name[test=...,*]`) for all its groups together."""
        if not self.pooled:
            return self.series.label
        return self.series.label.removesuffix("]") + ",*]" if self.series.group else (
            self.series.name + "[*]"
        )  # fmt: skip

    @property
    def subject(self) -> str:
        return f"{self.label} {self.metric}" if self.metric else f"series {self.label}"

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
        if self.status == "lost":
            return f"lost: measured {where} (p = {self.p_value:.2g}); e.g. in {listed(self.tests)}"
        p = f"p = {self.p_value:.2g}" if self.p_value is not None else "not tested"
        return f"measured {where}, as something conditional may be ({p}): not a loss"


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
    found = []
    for key, base, cur, pooled in _units(current, baseline):
        attributes = sorted({a for s in base for a in s.quality})
        metrics = [*series_metrics, *(metric_of(a) for a in attributes)]
        if not any(checked(key, m) for m in metrics):
            continue  # every check of the series is off: its absence is accepted
        before, after = _present(base), _present(cur)
        found.append(_absence(key, None, before, after, tests, tests.both, pooled))
        # a metric is judged where its series ran in both runs: a loss of the series
        # explains the metric's absence elsewhere
        scope = tests.both & before & after
        for attribute in attributes:
            metric = metric_of(attribute)
            if cur and checked(key, metric):
                had, has = _present(base, attribute), _present(cur, attribute)
                found.append(_absence(key, metric, had, has, tests, scope, pooled))
    return [a for a in found if (a.missing and not a.pooled) or a.p_raw is not None]


def _units(
    current: Sequence[SeriesStats], baseline: Sequence[SeriesStats]
) -> Iterator[tuple[SeriesKey, list[SeriesStats], list[SeriesStats], bool]]:
    """Each baseline series with its current one, then each span name whose series
    group_by split, with all its groups together (pooled)."""
    now = {s.key: s for s in current}
    for one in baseline:
        yield one.key, [one], [now[one.key]] if one.key in now else [], False
    groups: dict[SeriesKey, tuple[list[SeriesStats], list[SeriesStats]]] = defaultdict(
        lambda: ([], [])
    )
    for index, series in enumerate((baseline, current)):
        for one in series:
            groups[_pooled(one.key)][index].append(one)
    for key, (base, cur) in sorted(groups.items(), key=lambda item: item[0]):
        if base and [s.key for s in base] != [key]:
            yield key, base, cur, True


def _pooled(key: SeriesKey) -> SeriesKey:
    """A series key without its group_by values (a marked test's series stays apart)."""
    return SeriesKey(key.name, tuple(g for g in key.group if g[0] == TEST_GROUP))


def settle(absences: Sequence[Absence], adjusted: Sequence[float], alpha: float) -> list[Absence]:
    """Judge the absences once the run's family is adjusted.

    Args:
        absences: as `survey` found them.
        adjusted: the Holm-adjusted p-values of `tested(absences)`, in its order.
        alpha: the family-wise false alarm rate.

    Returns:
        The absences to report, lost where their adjusted p is below alpha: every loss,
        and every series or metric missing altogether, unless a loss of its span name
        with all groups together explains it.
    """
    p_of = dict(zip(map(id, tested(absences)), adjusted, strict=True))
    judged = []
    for absence in absences:
        p = p_of.get(id(absence))
        if p is not None:
            absence = replace(absence, p_value=p, status="lost" if p < alpha else "absent")
        judged.append(absence)
    lost = {(a.series, a.metric) for a in judged if a.pooled and a.status == "lost"}
    return [
        a for a in judged
        if a.status == "lost" or (a.missing and not a.pooled)
        if a.pooled or (_pooled(a.series), a.metric) not in lost
    ]  # fmt: skip


def explainer(absences: Sequence[Absence]) -> Callable[[SeriesKey, str], Absence | None]:
    """The absence that explains a missing check (its metric's own, else its series',
    else that of its span name with all groups together), the absences indexed once for
    the many checks of a run."""
    own = {(a.series, a.metric): a for a in absences if not a.pooled}
    pooled = {(a.series, a.metric): a for a in absences if a.pooled}

    def explaining(series: SeriesKey, metric: str) -> Absence | None:
        together = _pooled(series)
        return (
            own.get((series, metric))
            or own.get((series, None))
            or pooled.get((together, metric))
            or pooled.get((together, None))
        )

    return explaining


def tested(absences: Sequence[Absence]) -> list[Absence]:
    """The absences whose test joins the run's family: those lost in some test case."""
    return [a for a in absences if a.p_raw is not None]


def _present(series: Sequence[SeriesStats], attribute: str | None = None) -> frozenset[str]:
    """The test ids in which any of the series had spans (or values of an attribute)."""
    return frozenset().union(*(present(s, attribute) for s in series))


def present(series: SeriesStats, attribute: str | None = None) -> frozenset[str]:
    """The test ids in which a series had spans (or, given an attribute, values of it).

    Args:
        series: a series of either run.
        attribute: a quality attribute (a score, tokens, cost); None for the series.

    Returns:
        The test ids; spans outside any test ("") are left out.
    """
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
    scope: Set[str], pooled: bool,
) -> Absence:  # fmt: skip
    """How a series or metric fared in the test cases of `scope` (that ran in both)."""
    missing = not has
    if not had:
        return Absence(key, metric, "outside-tests", missing, pooled=pooled)
    if not had & tests.now:
        return Absence(key, metric, "not-run", missing, pooled=pooled)
    lost = sorted((had - has) & scope)
    gained = (has - had) & scope
    p = None
    if lost:
        groups = _groups(scope)  # fixed by what ran, before looking at what was lost
        flipped = max((len(g) for g in groups if g <= set(lost)), default=0)
        p = presence.loss_test(len(lost), len(gained), [len(g) for g in groups], flipped)
    before, now = len(had & scope), len(has & scope)
    return Absence(key, metric, "absent", missing, before, now, tuple(lost), p, pooled=pooled)


def _groups(cases: Set[str]) -> list[frozenset[str]]:
    """The test cases of each test function, and all of them: the groups a loss in every
    case of is judged on (a span an evaluation test makes in all its cases, say)."""
    by_function: dict[str, set[str]] = defaultdict(set)
    for case in cases:
        by_function[function_of(case)].add(case)
    groups = {frozenset(g) for g in by_function.values()} | {frozenset(cases)}
    return [g for g in groups if g]
