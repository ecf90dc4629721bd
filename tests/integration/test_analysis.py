"""From "p95 went up" to "why", on generated pipelines where the cause is known."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from tests.integration.suites import CLOCK

PIPELINE = (
    CLOCK
    + """
import random
import pytest

tracer = TimedTracer("pipeline")
SEED, SLOW_STEP, QUALITY_DROP, DROP_TIER, ERROR_EVERY = {seed}, {slow}, {drop}, {tier!r}, {errors}

def pipeline(i):
    noise = random.Random(SEED * 1000 + i)
    tier = "pro" if i % 2 else "free"
    with tracer.start_as_current_span("llm_request") as request:
        request.set_attribute("request_id", f"req-{{i}}")
        request.set_attribute("user_tier", tier)
        request.set_attribute("gen_ai.prompt", f"secret prompt of jane{{i}}@example.com")
        with tracer.start_as_current_span("retrieve", ms=2 * noise.uniform(0.97, 1.03)):
            pass
        try:
            ms = (6 + i * 7 % 11) * SLOW_STEP * noise.uniform(0.97, 1.03)
            with tracer.start_as_current_span("llm_inference", ms=ms) as span:
                span.set_attribute("gen_ai.usage.output_tokens", 100 + i)
                if ERROR_EVERY and i % 10 < ERROR_EVERY:
                    raise TimeoutError("rate limited")
        except TimeoutError:
            return
        with tracer.start_as_current_span("evaluate_output") as span:
            drop = QUALITY_DROP if DROP_TIER in (None, tier) else 0.0
            score = 0.55 + (i * 13 % 40) / 100 + noise.uniform(-0.01, 0.01) - drop
            span.set_attribute("overall_score", score)

@pytest.mark.parametrize("i", range(60))
def test_prompt(i):
    pipeline(i)
"""
)


def write(
    pytester: pytest.Pytester,
    seed: int = 0,
    slow: float = 1.0,
    drop: float = 0.0,
    tier: str | None = None,
    errors: int = 0,
    group: bool = False,
) -> None:
    source = PIPELINE.format(seed=seed, slow=slow, drop=drop, tier=tier, errors=errors)
    pytester.makepyfile(test_pipeline=source)
    group_by = "group_by = ['user_tier']\n" if group else ""
    pytester.makepyprojecttoml(f"[tool.llmobs]\nquality_attributes = ['overall_score']\n{group_by}")


def record_then_run(
    pytester: pytest.Pytester, run_llmobs: Any, group: bool = False, **change: Any
) -> tuple[pytest.RunResult, dict[str, Any]]:
    write(pytester, group=group)
    result, _ = run_llmobs("--llmobs-update-baseline")
    assert result.ret == 0
    write(pytester, seed=1, group=group, **change)
    outputs = ("--llmobs-junitxml", "checks.xml", "--llmobs-markdown", "summary.md")
    result, report = run_llmobs(*outputs)
    return result, report


def alerts_of(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["type"], a["severity"]) for a in report["alerts"]]


def test_a_slowed_child_is_named_by_the_breakdown_and_the_attribution(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    result, report = record_then_run(pytester, run_llmobs, slow=1.8)
    assert report["verdict"] == "regression"
    [why] = [a for a in report["attributions"] if a["name"] == "llm_request"]
    parts = {p["name"]: p["change_ms"] for p in why["parts"]}
    assert set(parts) == {"retrieve", "llm_inference", "evaluate_output"}
    # the slowed step accounts for most of the request's change; the others for little
    assert parts["llm_inference"] > 0.7 * why["change_ms"] > 0
    assert abs(parts["retrieve"]) < 0.15 * why["change_ms"]
    assert why["change_ms"] == pytest.approx(sum(parts.values()) + why["self_change_ms"])
    slowest = [r for r in report["slowest_requests"] if r["name"] == "llm_request"]
    assert 1 <= len(slowest) <= 5
    for request in slowest:
        assert request["step"] == "llm_inference"  # the step that made it slow
        assert request["test"].startswith("test_pipeline.py::test_prompt[")
        assert request["request_id"] == "req-" + request["test"].split("[")[1].rstrip("]")
        assert request["baseline_case_ms"] < request["duration_ms"]
        names = [s["name"] for s in request["spans"]]
        assert names == ["llm_request", "retrieve", "llm_inference", "evaluate_output"]
        critical = {s["name"] for s in request["spans"] if s["critical"]}
        assert "llm_inference" in critical
        # strings are redacted: the prompt shows as its length, no address survives
        assert request["attributes"]["gen_ai.prompt"].endswith("characters withheld]")
    assert "example.com" not in (pytester.path / "report.json").read_text()
    assert alerts_of(report) == []  # quality held and errors did not rise
    result.stdout.fnmatch_lines(["why: llm_request +*% (*), of which llm_inference +*%*"])
    result.stdout.fnmatch_lines(["  slowest llm_request: * in test_pipeline.py::test_prompt*"])
    assert "of which llm\\_inference" in (pytester.path / "summary.md").read_text()
    failures = ET.parse(pytester.path / "checks.xml").getroot().iter("failure")
    assert any("of which llm_inference" in (f.text or "") for f in failures)


def test_a_quality_drop_in_one_cohort_names_it_and_no_other(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    result, report = record_then_run(pytester, run_llmobs, group=True, drop=0.15, tier="pro")
    assert alerts_of(report) == [("COHORT_QUALITY_DROP", "medium")]
    [alert] = report["alerts"]
    assert alert["cohort"] == {"user_tier": "pro"}
    assert alert["series"] == ["evaluate_output[user_tier=pro]"]
    assert alert["checks"][0]["metric"] == "quality.overall_score"
    assert all(r["test"] and r["request_id"] for r in alert["requests"])
    lowest = report["low_quality_requests"]
    assert lowest
    assert all(r["score"] < 0.6 for r in lowest)
    assert all(r["request_id"].startswith("req-") and r["test"] for r in lowest)
    assert {r["group"]["user_tier"] for r in lowest} == {"pro"}
    result.stdout.fnmatch_lines(["alert [[]medium[]] COHORT_QUALITY_DROP: *user_tier=pro only*"])
    assert "COHORT\\_QUALITY\\_DROP" in (pytester.path / "summary.md").read_text()
    suites = ET.parse(pytester.path / "checks.xml").getroot()
    [case] = [c for c in suites.iter("testcase") if c.get("classname") == "llmobs.alerts"]
    assert "user_tier=pro" in case.get("name", "")


def test_errors_rising_with_flat_latency_are_flagged_as_infrastructure(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    _, report = record_then_run(pytester, run_llmobs, errors=3)
    spikes = [a for a in report["alerts"] if a["type"] == "ERROR_SPIKE_NO_LATENCY"]
    assert [a["series"] for a in spikes] == [["llm_inference"]]
    assert "likely infrastructure" in spikes[0]["message"]
    assert all(a["type"] != "LATENCY_AND_QUALITY_DROP" for a in report["alerts"])


def test_latency_and_quality_regressing_together_is_a_high_alert(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    _, report = record_then_run(pytester, run_llmobs, slow=1.8, drop=0.15)
    together = [a for a in report["alerts"] if a["type"] == "LATENCY_AND_QUALITY_DROP"]
    [alert] = together
    assert alert["severity"] == "high"
    assert report["alerts"][0]["severity"] == "high"  # the most severe first
    metrics = {(c["name"], c["metric"].split(".")[0]) for c in alert["checks"]}
    assert ("evaluate_output", "quality") in metrics
    assert ("llm_inference", "latency") in metrics
    assert "in llm_request requests" in alert["message"]


def test_an_aa_run_raises_no_alert(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    result, report = record_then_run(pytester, run_llmobs, group=True)
    assert report["verdict"] == "pass", result.stdout.str()
    assert report["alerts"] == []
    assert report["attributions"] == []
    # the requests are listed all the same, for whoever wants to look
    assert {r["name"] for r in report["slowest_requests"]} >= {"llm_request", "llm_inference"}


def test_a_severity_can_fail_the_gate_on_tolerated_changes(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    write(pytester)
    pytester.makepyprojecttoml(
        "[tool.llmobs]\nquality_attributes = ['overall_score']\n"
        "[tool.llmobs.rules]\n'latency.*' = '+80%'\n'quality.*' = '-0.15'\n"
    )
    assert run_llmobs("--llmobs-update-baseline")[0].ret == 0
    source = PIPELINE.format(seed=1, slow=1.5, drop=0.1, tier=None, errors=0)
    pytester.makepyfile(test_pipeline=source)
    # both changes are within tolerance but beyond half of it: no check fails, together
    # they alert
    result, report = run_llmobs()
    assert report["verdict"] == "pass"
    assert ("LATENCY_AND_QUALITY_DROP", "high") in alerts_of(report)
    result, report = run_llmobs("--llmobs-fail-on-alert", "high")
    assert report["verdict"] == "fail"
    assert result.ret == 1
