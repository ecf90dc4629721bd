"""Contextual alerts: patterns across checks that point at a cause.

- LATENCY_AND_QUALITY_DROP (high): a latency regression and a quality regression in the
  same request path (series whose spans belong to requests of the same name, in the
  same cohort): the model got slower and worse together.
- ERROR_SPIKE_NO_LATENCY (medium): a series' error rate rose while its latency did not
  change beyond its tolerance: likely infrastructure (rate limits, an outage) rather
  than the model.
- COHORT_QUALITY_DROP (medium): a quality regression in one cohort of a grouping
  attribute while the other cohorts of the same span held: a problem of that cohort.

A check counts as worse when it regressed, or when its interval at the run's family
level (the 95% interval widened to alpha over the number of tested checks) lies wholly
beyond half its tolerance the bad way: two tolerated changes that happen together are the
signal these alerts exist for, while the small drift of a machine's speed between two
runs is not. An A/A run raises none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_llmobs.analysis.findings import Alert, RequestDetail, Structure
from pytest_llmobs.gate import stats
from pytest_llmobs.gate.compare import Check, Comparison
from pytest_llmobs.gate.model import TEST_GROUP, SeriesKey
from pytest_llmobs.gate.rules import Rules
from pytest_llmobs.gate.severity import SEVERITIES
from pytest_llmobs.gate.units import change

LATENCY_AND_QUALITY_DROP = "LATENCY_AND_QUALITY_DROP"
ERROR_SPIKE_NO_LATENCY = "ERROR_SPIKE_NO_LATENCY"
COHORT_QUALITY_DROP = "COHORT_QUALITY_DROP"
REQUESTS_PER_ALERT = 3


def find_alerts(
    comparison: Comparison | None,
    structure: Structure,
    slowest: Sequence[RequestDetail] = (),
    lowest: Sequence[RequestDetail] = (),
    rules: Rules | None = None,
) -> tuple[Alert, ...]:
    """Every alert the checks support, most severe first."""
    if comparison is None:
        return ()
    checks = comparison.checks
    tested = sum(c.p_raw is not None for c in checks)
    worse = [c for c in checks if worsened(c, rules or Rules(), tested)]
    # latency "changed" only beyond its tolerance: two runs on one machine drift a little
    changed = {
        c.series
        for c in checks
        if c.metric.startswith("latency") and c.verdict in ("regression", "improvement")
    }
    alerts = [
        *_latency_and_quality(worse, structure, slowest, lowest),
        *_error_spikes(worse, changed, slowest),
        *_cohort_drops(checks, worse, lowest),
    ]
    return tuple(sorted(alerts, key=lambda a: -SEVERITIES.index(a.severity)))


def worsened(check: Check, rules: Rules, tested: int = 1) -> bool:
    """Regressed, or surely worse by more than half its tolerance: its interval, widened
    from 95% to the run's family level (Bonferroni over the `tested` checks), lies wholly
    beyond that, the worse way."""
    if check.verdict == "regression":
        return True
    if check.verdict not in ("pass", "inconclusive"):
        return False
    if check.baseline is None or check.ci_low is None or check.ci_high is None:
        return False
    tolerance = rules.tolerance(
        check.series.name, check.metric, dict(check.series.group).get(TEST_GROUP)
    )
    if tolerance is None:
        return False
    latency = check.metric.startswith("latency")
    estimate = check.relative if latency else check.change
    if estimate is None or (latency and (check.baseline <= 0 or check.ci_low <= -1)):
        return False
    half = tolerance.allowance(check.baseline) / 2  # in the metric's unit
    scale = math.log1p if latency else float  # latency intervals are even on the log scale
    if latency:  # the bound half the tolerance comes to, each way, as a log ratio
        relative = half / check.baseline
        half = math.log1p(relative) if tolerance.direction > 0 else -math.log1p(-relative)
        if math.isnan(half):
            return False
    widen = _widening(check, rules.alpha / max(tested, 1))
    centre = scale(estimate)
    if tolerance.direction > 0:
        return centre - (centre - scale(check.ci_low)) * widen > half
    return centre + (scale(check.ci_high) - centre) * widen < -half


def _widening(check: Check, alpha: float) -> float:
    """How much wider than its 95% interval a check's interval is at one-sided level
    alpha: a ratio of t quantiles for t-tests (at their smallest degrees of freedom),
    of normal ones otherwise."""
    df = {"paired-t": check.n_current - 1, "welch-t": min(check.n_current, check.n_baseline) - 1}
    if check.test in df and df[check.test] >= 1:
        from scipy import special  # the t distribution; cheap beside scipy.stats

        k = df[check.test]
        return float(special.stdtrit(k, 1 - alpha)) / float(special.stdtrit(k, 0.975))
    return stats.z_for(alpha) / stats.Z_95


def _of(checks: Sequence[Check], prefix: str) -> list[Check]:
    return [c for c in checks if c.metric.startswith(prefix)]


def _latency_and_quality(
    worse: Sequence[Check],
    structure: Structure,
    slowest: Sequence[RequestDetail],
    lowest: Sequence[RequestDetail],
) -> list[Alert]:
    paths: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[list[Check], list[Check]]] = {}
    for index, prefix in ((0, "latency"), (1, "quality.")):
        for check in _of(worse, prefix):
            # without structure (a saved run of an older version) the run is one path
            for request in structure.requests.get(check.series, ("",)):
                paths.setdefault((request, check.series.group), ([], []))[index].append(check)
    alerts = []
    for (request, cohort), (slower, worse) in sorted(paths.items()):
        if not slower or not worse:
            continue
        where = f"in {request} requests" if request else "in this run"
        message = (
            f"latency and quality got worse together {where}{_cohort_text(cohort)}: "
            f"{_list(slower)}; {_list(worse)}"
        )
        involved = _unique([c.series for c in (*slower, *worse)])
        alerts.append(
            Alert(
                LATENCY_AND_QUALITY_DROP,
                "high",
                message,
                involved,
                _ids(slower + worse),
                cohort,
                _requests(slowest, involved) + _requests(lowest, involved),
            )
        )
    return alerts


def _error_spikes(
    worse: Sequence[Check], latency_changed: set[SeriesKey], slowest: Sequence[RequestDetail]
) -> list[Alert]:
    alerts = []
    for check in _of(worse, "error_rate"):
        if check.series in latency_changed:
            continue
        message = (
            f"error rate of {check.series.label} rose {change(check)} while its latency "
            "did not change: likely infrastructure (rate limits, timeouts, an outage) "
            "rather than the model"
        )
        alerts.append(
            Alert(
                ERROR_SPIKE_NO_LATENCY,
                "medium",
                message,
                (check.series,),
                _ids([check]),
                check.series.group,
                _requests(slowest, (check.series,)),
            )
        )
    return alerts


def _cohort_drops(
    checks: Sequence[Check], worse: Sequence[Check], lowest: Sequence[RequestDetail]
) -> list[Alert]:
    judged: dict[tuple[str, str], list[Check]] = {}
    for check in checks:
        if check.metric.startswith("quality.") and check.series.group:
            judged.setdefault((check.series.name, check.metric), []).append(check)
    worse_ids = {id(c) for c in worse}
    alerts = []
    for check in _of(worse, "quality."):
        if not check.series.group:
            continue
        siblings = [c for c in judged.get((check.series.name, check.metric), []) if c is not check]
        for attribute, value in check.series.group:
            # the same span and metric in the other cohorts of this attribute
            others = [c for c in siblings if _differs_only_in(c.series, check.series, attribute)]
            if not others or any(id(c) in worse_ids for c in others):
                continue
            message = (
                f"{check.metric} of {check.series.name} dropped {change(check)} for "
                f"{attribute}={value} only; its {len(others)} other {attribute} "
                f"cohort(s) held"
            )
            alerts.append(
                Alert(
                    COHORT_QUALITY_DROP,
                    "medium",
                    message,
                    (check.series,),
                    _ids([check]),
                    ((attribute, value),),
                    _requests(lowest, (check.series,)),
                )
            )
            break
    return alerts


def _differs_only_in(a: SeriesKey, b: SeriesKey, attribute: str) -> bool:
    rest_a = {k: v for k, v in a.group if k != attribute}
    rest_b = {k: v for k, v in b.group if k != attribute}
    return rest_a == rest_b and dict(a.group).get(attribute) != dict(b.group).get(attribute)


def _cohort_text(cohort: tuple[tuple[str, str], ...]) -> str:
    return f" for {','.join(f'{k}={v}' for k, v in cohort)}" if cohort else ""


def _list(checks: Sequence[Check]) -> str:
    return ", ".join(f"{c.series.label} {c.metric} {change(c)}" for c in checks)


def _ids(checks: Sequence[Check]) -> tuple[tuple[SeriesKey, str], ...]:
    return tuple((c.series, c.metric) for c in checks)


def _unique(keys: Sequence[SeriesKey]) -> tuple[SeriesKey, ...]:
    return tuple(dict.fromkeys(keys))


def _requests(
    details: Sequence[RequestDetail], series: Sequence[SeriesKey]
) -> tuple[tuple[str | None, str | None], ...]:
    """The (test, request id) of the first few listed requests of these series."""
    wanted = set(series)
    found = [(d.test, d.request_id) for d in details if d.series in wanted]
    return tuple(dict.fromkeys(found))[:REQUESTS_PER_ALERT]
