"""The gate's statistics on real runs: quiet on noise, sharp on real change, honest on tails."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import verdicts
from tests.integration.suites import CLOCK

SUITE = (
    CLOCK
    + """
import random
import pytest

tracer = TimedTracer("generated")
SEED, SLOWDOWN, QUALITY_SHIFT = {seed}, {slowdown}, {quality_shift}

@pytest.mark.parametrize("i", range(60))
def test_prompt(i):
    noise = random.Random(SEED * 1000 + i)
    case_ms = 4 + (i * 37) % 17          # prompts differ a lot from one another...
    with tracer.start_as_current_span("llm_request"):
        ms = case_ms / 4 * noise.uniform(0.97, 1.03)
        with tracer.start_as_current_span("retrieve", ms=ms):
            pass
        ms = case_ms * SLOWDOWN * noise.uniform(0.97, 1.03)  # ...than one does run to run
        with tracer.start_as_current_span("llm_inference", ms=ms):
            pass
        with tracer.start_as_current_span("judge") as span:
            score = 0.5 + (i * 13 % 40) / 100 + noise.uniform(-0.02, 0.02) + QUALITY_SHIFT
            span.set_attribute("overall_score", score)
"""
)


def make_suite(
    pytester: pytest.Pytester, seed: int, slowdown: float = 1.0, quality_shift: float = 0.0
) -> None:
    source = SUITE.format(seed=seed, slowdown=slowdown, quality_shift=quality_shift)
    pytester.makepyfile(test_suite=source)
    pytester.makepyprojecttoml("[tool.llmobs]\nquality_attributes = ['overall_score']\n")


@pytest.fixture
def recorded_seed_0(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    make_suite(pytester, seed=0)
    result, _ = run_llmobs("--llmobs-update-baseline")
    assert result.ret == 0


@pytest.mark.usefixtures("recorded_seed_0")
def test_a_a_runs_stay_green_across_noise_seeds(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    for seed in (1, 2, 3):
        make_suite(pytester, seed=seed)
        result, report = run_llmobs()
        assert result.ret == 0, result.stdout.str()
        assert report["verdict"] == "pass"
        assert "regression" not in verdicts(report).values()


@pytest.mark.usefixtures("recorded_seed_0")
def test_a_1_3x_slowdown_of_one_span_is_caught_there_only(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    make_suite(pytester, seed=1, slowdown=1.3)
    result, report = run_llmobs()
    assert result.ret == 1
    found = verdicts(report)
    assert found[("llm_inference", "latency.p50")] == "regression"
    assert found[("retrieve", "latency.p50")] != "regression"
    assert found[("judge", "latency.p50")] != "regression"
    [p50] = [c for c in report["checks"] if c["series"] == "llm_inference"
             and c["metric"] == "latency.p50"]  # fmt: skip
    assert (p50["test"], p50["paired"], p50["n_current"]) == ("wilcoxon", True, 60)
    # The paired interval is of the typical per-case change (each case 1.3x, within its
    # 3% noise), not of the ratio of the two medians (`relative_change`).
    assert 0.25 < p50["ci_low"] < p50["ci_high"] < 0.35
    assert p50["p_value"] < 0.01
    assert p50["mde"] < 0.3


@pytest.mark.usefixtures("recorded_seed_0")
def test_a_quality_shift_of_0_08_is_caught_on_its_series(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    make_suite(pytester, seed=1, quality_shift=-0.08)
    result, report = run_llmobs()
    assert result.ret == 1
    regressions = {(c["series"], c["metric"]) for c in report["checks"]
                   if c["verdict"] == "regression"}  # fmt: skip
    assert regressions == {("judge", "quality.overall_score")}


@pytest.mark.usefixtures("recorded_seed_0")
def test_p99_on_60_spans_is_inconclusive_and_can_fail_the_run(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    make_suite(pytester, seed=1)
    result, report = run_llmobs()
    assert result.ret == 0
    [p99] = [c for c in report["checks"] if c["series"] == "llm_inference"
             and c["metric"] == "latency.p99"]  # fmt: skip
    assert p99["verdict"] == "inconclusive"
    assert p99["reason"] == "need >= 299 spans on each side for p99 (baseline 60, now 60)"
    strict, report = run_llmobs("--llmobs-fail-on-inconclusive")
    assert strict.ret == 1
    assert report["verdict"] == "fail"


def test_slos_warn_and_fail_without_any_baseline(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    make_suite(pytester, seed=1)
    pytester.makepyprojecttoml(
        """
        [tool.llmobs]
        quality_attributes = ["overall_score"]
        [tool.llmobs.slo]
        "latency.p95" = { warn = "5ms", fail = "1s" }
        "quality.overall_score" = { warn = 0.7, fail = 0.6 }
        """
    )
    result, report = run_llmobs()
    assert result.ret == 0  # warnings never fail
    statuses = {(s["series"], s["metric"]): s["status"] for s in report["slos"]}
    assert statuses[("llm_inference", "latency.p95")] == "warn"
    assert statuses[("judge", "quality.overall_score")] == "ok"
    result.stdout.fnmatch_lines(
        ["*WARN: llm_inference latency.p95 = *(warn 5.0 ms, fail 1000.0 ms)"]
    )
    make_suite(pytester, seed=1, quality_shift=-0.2)
    pytester.makepyprojecttoml(
        '[tool.llmobs]\nquality_attributes = ["overall_score"]\n'
        '[tool.llmobs.slo]\n"quality.overall_score" = { warn = 0.7, fail = 0.6 }\n'
    )
    result, report = run_llmobs()
    assert result.ret == 1
    assert report["verdict"] == "fail"


def test_rules_from_pyproject_loosen_a_series(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    make_suite(pytester, seed=0)
    assert run_llmobs("--llmobs-update-baseline")[0].ret == 0
    make_suite(pytester, seed=1, slowdown=1.3)
    pytester.makepyprojecttoml(
        """
        [tool.llmobs]
        quality_attributes = ["overall_score"]
        [[tool.llmobs.overrides]]
        series = "llm_*"
        latency.p50 = "+50%"
        latency.p95 = "+50%"
        latency.p99 = "off"
        [[tool.llmobs.overrides]]
        series = "llm_request"
        latency."*" = "+50%"
        """
    )
    result, report = run_llmobs()
    assert result.ret == 0, result.stdout.str()
    [p50] = [c for c in report["checks"] if c["series"] == "llm_inference"
             and c["metric"] == "latency.p50"]  # fmt: skip
    assert p50["tolerance"] == "+50%"
    assert ("llm_inference", "latency.p99") not in verdicts(report)


def test_bad_rule_is_a_usage_error_quoting_it(pytester: pytest.Pytester) -> None:
    make_suite(pytester, seed=0)
    pytester.makepyprojecttoml('[tool.llmobs.rules]\n"latency.p95" = "15%"\n')
    result = pytester.runpytest_subprocess("--llmobs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ['ERROR: llmobs: rules.latency.p95 = "15%" ([[]tool.llmobs[]] in *pyproject.toml): *']
    )


MARKED_SUITE = (
    CLOCK
    + """
import pytest

tracer = TimedTracer("generated")
LONG_SLOWDOWN = {slowdown}

def call(ms):
    with tracer.start_as_current_span("llm_inference", ms=ms):
        pass

@pytest.mark.parametrize("i", range(30))
def test_short(i):
    call(3 + i % 5)

@pytest.mark.llmobs(latency_p50="+100%", latency_p95="+100%")
@pytest.mark.parametrize("i", range(30))
def test_long_document(i):
    call((10 + i % 5) * LONG_SLOWDOWN)
"""
)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_marked_test_is_judged_on_its_own_with_its_rules(
    pytester: pytest.Pytester, run_llmobs: Any, workers: list[str]
) -> None:
    pytester.makepyfile(test_suite=MARKED_SUITE.format(slowdown=1.0))
    assert run_llmobs("--llmobs-update-baseline", *workers)[0].ret == 0
    pytester.makepyfile(test_suite=MARKED_SUITE.format(slowdown=1.5))
    result, report = run_llmobs(*workers)
    assert result.ret == 0, result.stdout.str()
    own = "llm_inference[test=test_suite.py::test_long_document]"
    counts = {s["key"]: s["count"] for s in report["series"]}
    assert counts == {"llm_inference": 30, own: 30}
    [p50] = [c for c in report["checks"] if c["series"] == own and c["metric"] == "latency.p50"]
    assert p50["tolerance"] == "+100%"
    assert p50["relative_change"] > 0.4  # slower, but within what its marker allows
    assert p50["verdict"] == "pass"
    # without the marker the same slowdown is a regression of that series
    pytester.makepyfile(
        test_suite=MARKED_SUITE.format(slowdown=1.5).replace(
            '@pytest.mark.llmobs(latency_p50="+100%", latency_p95="+100%")',
            '@pytest.mark.llmobs(latency_p50="+10%")',
        )
    )
    result, report = run_llmobs(*workers)
    assert result.ret == 1
    assert verdicts(report)[(own, "latency.p50")] == "regression"
    assert verdicts(report)[("llm_inference", "latency.p50")] != "regression"


def test_a_bad_marker_is_a_usage_error_naming_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llmobs(latency_p95="50%")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--llmobs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: llmobs: @pytest.mark.llmobs on *::test_x: latency.p95 = '50%': cannot read*"]
    )
