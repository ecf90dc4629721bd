"""Under pytest-xdist, workers ship their spans and the controller alone decides."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import counts, verdicts
from tests.integration.suites import make_suite


@pytest.mark.parametrize("dist", ["load", "loadfile", "loadscope"])
def test_parallel_run_equals_the_serial_run(
    pytester: pytest.Pytester, run_llmobs: Any, dist: str
) -> None:
    make_suite(pytester)
    serial, serial_report = run_llmobs("--llmobs-update-baseline")
    assert serial.ret == 0
    parallel, report = run_llmobs("-n", "2", "--dist", dist)
    assert parallel.ret == 0
    assert (
        counts(report)
        == counts(serial_report)
        == {
            "llm_request": 60,
            "preprocess_prompt": 60,
            "llm_inference": 60,
            "evaluate_output": 60,
        }
    )
    assert report["verdict"] == "pass"
    # p99 needs 299 spans: with 60 it is inconclusive, in both runs alike
    assert set(verdicts(report).values()) == {"pass", "inconclusive"}
    assert report["errors"] == []


def test_parallel_baseline_and_regression(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    make_suite(pytester)
    recorded, report = run_llmobs("-n", "2", "--llmobs-update-baseline")
    assert recorded.ret == 0
    assert report["baseline"]["status"] == "updated"
    make_suite(pytester, slowdown=1.6)
    result, report = run_llmobs("-n", "2")
    assert result.ret == 1
    assert verdicts(report)[("llm_inference", "latency.p50")] == "regression"
    assert verdicts(report)[("preprocess_prompt", "latency.p50")] != "regression"


def test_a_crashed_worker_fails_the_gate_naming_it(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(
        """
        import os
        from opentelemetry import trace

        def test_spans():
            with trace.get_tracer("t").start_as_current_span("work"):
                pass

        def test_crash():
            os._exit(3)
        """
    )
    result, report = run_llmobs("-n", "2", "--max-worker-restart", "1")
    assert result.ret != 0
    assert report["verdict"] == "error"
    assert any("gw" in e and "sent no span data" in e for e in report["errors"])
    result.stdout.fnmatch_lines(["error: incomplete capture: gw* sent no span data*"])
