"""End to end on a generated suite: record a baseline, then gate changed behaviour on it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import read_report, verdicts
from tests.integration.suites import make_suite


@pytest.mark.usefixtures("recorded")
def test_same_behaviour_passes(run_llmobs: Any) -> None:
    result, report = run_llmobs()
    assert result.ret == 0
    assert report["verdict"] == "pass"
    assert "regression" not in verdicts(report).values()
    result.stdout.fnmatch_lines(["*llmobs: PASS*"])


@pytest.mark.usefixtures("recorded")
def test_slower_inference_fails_on_its_latency_only(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    make_suite(pytester, slowdown=1.6)
    result, report = run_llmobs()
    assert result.ret == 1
    result.assert_outcomes(passed=60)
    assert report["verdict"] == "regression"
    found = verdicts(report)
    assert found[("llm_inference", "latency.p50")] == "regression"
    assert found[("llm_inference", "latency.p95")] == "regression"
    for sibling in ("preprocess_prompt", "evaluate_output"):
        assert found[(sibling, "latency.p50")] != "regression"
        assert found[(sibling, "latency.p95")] != "regression"
    result.stdout.fnmatch_lines(
        ["*llmobs: REGRESSION in *", "llm_inference*latency.p50*REGRESSION"]
    )


@pytest.mark.usefixtures("recorded")
def test_quality_drop_fails_on_that_attribute(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    make_suite(pytester, quality_drop=0.15)
    result, report = run_llmobs()
    assert result.ret == 1
    found = verdicts(report)
    assert found[("evaluate_output", "quality.overall_score")] == "regression"
    assert [c["metric"] for c in report["checks"] if c["verdict"] == "regression"] == [
        "quality.overall_score"
    ]


@pytest.mark.usefixtures("recorded")
def test_error_rate_of_30_percent_fails(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    make_suite(pytester, error_every=3)
    result, report = run_llmobs()
    result.assert_outcomes(passed=60)  # every test passed, the gate still fails
    assert result.ret == 1
    assert verdicts(report)[("llm_inference", "error_rate")] == "regression"
    [inference] = [s for s in report["series"] if s["name"] == "llm_inference"]
    assert (inference["count"], inference["errors"]) == (60, 18)


def test_no_baseline_passes_with_the_hint(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    make_suite(pytester)
    result, report = run_llmobs()
    assert result.ret == 0
    assert report["verdict"] == "pass"
    assert report["baseline"]["status"] == "missing"
    assert report["checks"] == []
    result.stdout.fnmatch_lines(
        ["no baseline at *: record one with `pytest --llmobs --llmobs-update-baseline` and*"]
    )
    # a baseline of another name: the command that records it names it
    result, report = run_llmobs("--llmobs-baseline=gates/main.json")
    assert result.ret == 0
    where = pytester.path / "gates" / "main.json"
    assert report["baseline"]["message"] == (
        f"no baseline at {where}: record one with `pytest --llmobs --llmobs-update-baseline"
        f" --llmobs-baseline={where}` and commit it"
    )


def test_baseline_is_not_updated_by_a_failing_run(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    make_suite(pytester)
    pytester.makepyfile(test_broken="def test_broken():\n    assert False\n")
    result, report = run_llmobs("--llmobs-update-baseline")
    assert result.ret == 1
    assert report["baseline"]["status"] == "not-updated"
    assert not (pytester.path / ".llmobs" / "baseline.json").exists()
    result.stdout.fnmatch_lines(["baseline not updated: 1 test(s) failed"])


@pytest.mark.usefixtures("recorded")
def test_corrupt_baseline_fails_closed_with_one_line(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    path = pytester.path / ".llmobs" / "baseline.json"
    path.write_text('{"schema": "pytest-llmobs/baseline", "version": 1, "seri')
    result, report = run_llmobs()
    assert result.ret == 1
    assert report["verdict"] == "error"
    assert report["baseline"]["status"] == "error"
    result.stdout.fnmatch_lines([f"{path}: not valid JSON*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_bad_config_is_a_usage_error_naming_the_file(pytester: pytest.Pytester) -> None:
    make_suite(pytester)
    pytester.makepyprojecttoml("[tool.llmobs]\nquality_attributes = 7\n")
    result = pytester.runpytest_subprocess("--llmobs", "--llmobs-json", "report.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: llmobs: quality_attributes = 7 ([[]tool.llmobs[]] in *pyproject.toml): *"]
    )
    assert "Traceback" not in result.stderr.str()
    report = read_report(pytester)  # still written, saying why nothing ran
    assert report["verdict"] == "error"
    assert report["errors"][0].startswith("quality_attributes = 7 ([tool.llmobs] in ")


@pytest.mark.parametrize(
    ("body", "args", "status"),
    [
        ("raise KeyboardInterrupt", (), pytest.ExitCode.INTERRUPTED),
        ("assert False", ("-x",), pytest.ExitCode.TESTS_FAILED),
    ],
    ids=["ctrl-c", "stop-on-first-failure"],
)
def test_run_report_is_written_when_the_session_stops_early(
    pytester: pytest.Pytester, run_llmobs: Any, body: str, args: tuple[str, ...], status: int
) -> None:
    pytester.makepyfile(
        f"""
        from opentelemetry import trace

        def test_first():
            with trace.get_tracer("t").start_as_current_span("before_stop"):
                pass

        def test_stops():
            {body}

        def test_never_runs():
            pass
        """
    )
    result, report = run_llmobs(*args)
    assert result.ret == status
    assert [(s["name"], s["count"]) for s in report["series"]] == [("before_stop", 1)]
