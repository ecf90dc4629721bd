"""Contextual alerts and the attribution of a change, from hand-made checks and series."""

from __future__ import annotations

import pytest

from pytest_llmobs.analysis.alerts import find_alerts
from pytest_llmobs.analysis.attribution import attribute
from pytest_llmobs.analysis.findings import Structure, fails
from pytest_llmobs.gate.compare import Check, Comparison
from pytest_llmobs.gate.model import SeriesKey
from pytest_llmobs.gate.rules import Rules, parse_tolerance
from tests.conftest import make_series

PRO = SeriesKey("judge", (("tier", "pro"),))
FREE = SeriesKey("judge", (("tier", "free"),))
LLM, JUDGE = SeriesKey("llm"), SeriesKey("judge")


def check(key: SeriesKey, metric: str, verdict: str, change: float = 0.0,
          p: float | None = 0.5, width: float | None = None) -> Check:  # fmt: skip
    """A check moved by change: relative for latency (of 100 ms), absolute otherwise, with
    a 95% interval of change +- width (on the same scale) when width is given."""
    before = 100.0 if metric.startswith("latency") else 0.5
    after = before * (1 + change) if metric.startswith("latency") else before + change
    low, high = (None, None) if width is None else (change - width, change + width)
    return Check(key, metric, verdict, baseline=before, current=after,  # type: ignore[arg-type]
                 change=after - before, relative=change, p_value=p, ci_low=low,
                 ci_high=high)  # fmt: skip


def types(*checks: Check, structure: Structure | None = None) -> list[str]:
    return [a.type for a in find_alerts(Comparison(checks), structure or Structure())]


def test_a_run_without_changes_raises_nothing() -> None:
    checks = [check(k, m, "pass") for k in (LLM, JUDGE) for m in ("latency.p50", "error_rate")]
    assert types(*checks) == []
    assert find_alerts(None, Structure()) == ()


def test_cohort_drop_only_when_the_other_cohorts_held() -> None:
    drop = check(PRO, "quality.score", "regression", -0.1, 0.001)
    [alert] = find_alerts(Comparison((drop, check(FREE, "quality.score", "pass"))), Structure())
    assert alert.type == "COHORT_QUALITY_DROP"
    assert alert.cohort == (("tier", "pro"),)
    assert "tier=pro only" in alert.message
    both = check(FREE, "quality.score", "regression", -0.1, 0.001)
    assert types(drop, both) == []  # every cohort dropped: not a cohort's problem
    assert types(drop) == []  # no other cohort to compare with


def test_error_spike_needs_flat_latency() -> None:
    errors = check(LLM, "error_rate", "regression", 0.05, 0.001)
    assert types(errors, check(LLM, "latency.p50", "pass")) == ["ERROR_SPIKE_NO_LATENCY"]
    assert types(errors, check(LLM, "latency.p50", "regression", 0.5, 0.001)) == []
    assert types(errors, check(LLM, "latency.p50", "improvement", -0.5, 0.001)) == []
    # a significant drift within tolerance is not a change of latency
    assert types(errors, check(LLM, "latency.p95", "pass", 0.05, 0.001)) == [
        "ERROR_SPIKE_NO_LATENCY"
    ]


def test_latency_and_quality_together_in_the_same_request_path() -> None:
    slower = check(LLM, "latency.p95", "regression", 0.4, 0.001)
    worse = check(JUDGE, "quality.score", "regression", -0.1, 0.001)
    same = Structure(requests={LLM: ("chat",), JUDGE: ("chat",)})
    [alert] = find_alerts(Comparison((slower, worse)), same)
    assert (alert.type, alert.severity) == ("LATENCY_AND_QUALITY_DROP", "high")
    assert alert.series == (LLM, JUDGE)
    assert "in chat requests" in alert.message
    apart = Structure(requests={LLM: ("chat",), JUDGE: ("batch",)})
    assert types(slower, worse, structure=apart) == []


def test_tolerated_but_sure_changes_count_together() -> None:
    slower = check(LLM, "latency.p95", "pass", 0.08, width=0.02)  # tolerance +10% and +1ms
    worse = check(JUDGE, "quality.score", "pass", -0.03, width=0.004)  # tolerance -0.05
    assert types(slower, worse) == ["LATENCY_AND_QUALITY_DROP"]
    # beyond half the tolerance, but the interval reaches back under it: not sure
    assert types(slower, check(JUDGE, "quality.score", "pass", -0.03, width=0.2)) == []
    unsure = check(LLM, "latency.p95", "inconclusive", 0.08, width=0.05)
    assert types(unsure, worse) == []
    # sure, but under half the tolerance: a machine's drift, not a signal
    drift = check(LLM, "latency.p95", "pass", 0.03, width=0.001)
    assert types(drift, worse) == []
    assert types(slower, check(JUDGE, "quality.score", "pass", -0.02, width=0.001)) == []
    loose = Rules({"latency.*": parse_tolerance("latency.*", "+20%")})
    found = find_alerts(Comparison((slower, worse)), Structure(), rules=loose)
    assert found == ()  # +6%..+10% is under half of +20%
    better = check(JUDGE, "quality.score", "pass", 0.03, width=0.001)  # the good way
    assert types(slower, better) == []


@pytest.mark.parametrize(
    ("threshold", "failing"),
    [(None, []), ("high", ["high"]), ("medium", ["high", "medium"]), ("low", ["high", "medium"])],
)
def test_fail_on_alert_severity(threshold: str | None, failing: list[str]) -> None:
    slower = check(SeriesKey("llm", PRO.group), "latency.p95", "regression", 0.4, 0.001)
    worse = check(PRO, "quality.score", "regression", -0.1, 0.001)  # same cohort: together
    held = check(FREE, "quality.score", "pass")
    alerts = find_alerts(Comparison((slower, worse, held)), Structure())
    assert [a.severity for a in alerts] == ["high", "medium"]  # most severe first
    assert [a.severity for a in alerts if fails(a, threshold)] == failing  # type: ignore[arg-type]


def test_attribution_splits_a_parent_change_among_its_children() -> None:
    cases = [f"t[{i}]" for i in range(6)]
    twice = [c for c in cases for _ in range(2)]  # two llm calls per request

    def run(llm_ms: float, tool_ms: float) -> dict[SeriesKey, object]:
        request = [5.0 + 2 * llm_ms + tool_ms] * 6
        return {
            SeriesKey("request"): make_series("request", request, cases=cases),
            LLM: make_series("llm", [llm_ms] * 12, cases=twice),
            SeriesKey("tool"): make_series("tool", [tool_ms] * 6, cases=cases),
        }

    structure = Structure(children={SeriesKey("request"): (LLM, SeriesKey("tool"))})
    before, after = run(10.0, 4.0), run(25.0, 5.0)
    found = attribute(SeriesKey("request"), after, before, structure)  # type: ignore[arg-type]
    assert found is not None
    assert found.baseline_ms == 29.0
    assert found.change_ms == 31.0
    assert found.parts == ((LLM, 30.0), (SeriesKey("tool"), 1.0))  # both calls counted
    assert found.self_change_ms == 0.0
    assert found.cases == 6
    few = {k: make_series(k.name, [1.0, 2.0], cases=["a", "b"]) for k in before}
    assert attribute(SeriesKey("request"), few, few, structure) is None
