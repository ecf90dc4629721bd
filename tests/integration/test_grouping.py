"""llmobs_group_by: a cohort set on the root span splits its children's series, in a real run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.suites import CLOCK

SUITE = (
    CLOCK
    + """
import pytest

tracer = TimedTracer("cohorts")
FREE_SLOWDOWN = {slowdown}

@pytest.mark.parametrize("i", range(60))
def test_request(i):
    tier = "free" if i % 2 else "gold"
    with tracer.start_as_current_span("request") as root:
        root.set_attribute("user_tier", tier)  # set once, on the root only
        factor = FREE_SLOWDOWN if tier == "free" else 1.0
        with tracer.start_as_current_span("llm_inference", ms=(8 + i % 5) * factor):
            pass
"""
)


def write_suite(pytester: pytest.Pytester, slowdown: float) -> None:
    pytester.makepyfile(test_cohorts=SUITE.format(slowdown=slowdown))
    pytester.makeini("[pytest]\nllmobs_group_by = user_tier\n")


def regressions(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["series"], c["metric"]) for c in report["checks"] if c["verdict"] == "regression"}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_slowdown_in_one_cohort_fails_that_cohort_only(
    pytester: pytest.Pytester, run_llmobs: Any, workers: list[str]
) -> None:
    write_suite(pytester, slowdown=1.0)
    result, report = run_llmobs("--llmobs-update-baseline", *workers)
    assert result.ret == 0
    counts = {s["key"]: s["count"] for s in report["series"]}
    assert counts == {
        "llm_inference[user_tier=free]": 30,
        "llm_inference[user_tier=gold]": 30,
        "request[user_tier=free]": 30,
        "request[user_tier=gold]": 30,
    }
    [series] = [s for s in report["series"] if s["key"] == "llm_inference[user_tier=gold]"]
    assert (series["name"], series["group"]) == ("llm_inference", {"user_tier": "gold"})

    write_suite(pytester, slowdown=1.6)
    result, report = run_llmobs(*workers)
    assert result.ret == 1
    found = regressions(report)
    assert ("llm_inference[user_tier=free]", "latency.p50") in found
    assert not {series for series, _ in found} & {
        "llm_inference[user_tier=gold]",
        "request[user_tier=gold]",
    }
    # at 80 columns the key does not fit beside its rows: a line of its own, whole
    result.stdout.fnmatch_lines(
        ["llm_inference[[]user_tier=free[]]", "  latency.p50 *REGRESSION"], consecutive=True
    )


def test_configured_aliases_are_read_in_a_real_run(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyprojecttoml(
        '[tool.llmobs]\ngroup_by = ["cohort"]\n\n[tool.llmobs.aliases]\ncohort = ["tier"]\n'
    )
    pytester.makepyfile(
        test_alias="""
        from opentelemetry import trace

        def test_one():
            with trace.get_tracer("t").start_as_current_span("ask") as span:
                span.set_attribute("tier", "gold")
        """
    )
    result, report = run_llmobs()
    assert result.ret == 0
    assert [s["key"] for s in report["series"]] == ["ask[cohort=gold]"]


def test_group_by_from_the_command_line_with_commas_or_cleared(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(test_cohorts=SUITE.format(slowdown=1.0))
    pytester.makepyprojecttoml('[tool.llmobs]\ngroup_by = ["user_tier"]\n')
    _, report = run_llmobs("--llmobs-group-by=user_tier,gen_ai.request.model")
    assert {s["key"] for s in report["series"]} == {
        "request[user_tier=free]", "request[user_tier=gold]",
        "llm_inference[user_tier=free]", "llm_inference[user_tier=gold]",
    }  # fmt: skip
    assert report["settings"]["group_by"] == ["user_tier", "gen_ai.request.model"]
    result, report = run_llmobs("--llmobs-group-by=", "--llmobs-history=runs.sqlite")
    assert result.ret == 0, result.stdout.str()
    assert {s["key"] for s in report["series"]} == {"request", "llm_inference"}
    result.stdout.fnmatch_lines(["reports: *runs.sqlite*report.json*"])
