"""Odd spans never break a test run: each is recorded, or skipped with a counted warning."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import counts

ODD_SPANS = """
import math
import threading
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("odd")

def test_scores_that_are_not_numbers():
    for score in ("good", math.nan, math.inf, 0.5):
        with tracer.start_as_current_span("judge") as span:
            span.set_attribute("overall_score", score)

def test_zero_and_negative_durations():
    tracer.start_span("instant", start_time=1_000_000).end(end_time=1_000_000)
    tracer.start_span("backwards", start_time=2_000_000).end(end_time=1_000_000)

def test_huge_values():
    with tracer.start_as_current_span("huge") as span:
        span.set_attribute("overall_score", 2**80)
        span.set_attribute("prompt", "x" * 5_000_000)
        span.set_attribute("many", list(range(100_000)))

def test_a_span_that_never_ends():
    tracer.start_span("forgotten")

LATE = threading.Event()

def test_leaves_a_thread_running():
    def work():
        LATE.wait(10)
        with tracer.start_as_current_span("late"):
            pass
    threading.Thread(target=work, name="late-worker").start()
"""

# Lets the thread's span end after the test loop, before the reports are written.
CONFTEST = """
import threading
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    import test_odd
    test_odd.LATE.set()
    for thread in threading.enumerate():
        if thread.name == "late-worker":
            thread.join(10)
"""


def test_odd_spans_are_recorded_or_counted(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    pytester.makepyfile(test_odd=ODD_SPANS)
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nllmobs_quality_attributes = overall_score\n")
    result, report = run_llmobs("-W", "error::pytest.PytestUnhandledThreadExceptionWarning")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=5)
    assert counts(report) == {"judge": 4, "instant": 1, "huge": 1}
    series = {s["name"]: s for s in report["series"]}
    assert series["judge"]["quality"]["overall_score"] == {"count": 1, "mean": 0.5}
    assert series["huge"]["quality"]["overall_score"]["mean"] == pytest.approx(2.0**80, rel=1e-5)
    assert series["instant"]["latency_ms"]["p50"] == 0
    warnings = report["warnings"]
    assert "3 span(s) skipped: non-numeric or non-finite 'overall_score' attribute" in warnings
    assert "1 span(s) skipped: span ending before it started" in warnings
    assert "1 span(s) skipped: span not ended when the capture ended" in warnings
    assert "1 span(s) ended after the run was judged: not counted" in warnings
    for warning in warnings:
        result.stdout.fnmatch_lines([f"warning: {warning}"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "x" * 100 not in (pytester.path / "report.json").read_text()


def test_a_provider_shut_down_mid_run(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    pytester.makepyfile(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        provider = TracerProvider()
        exporter = ConsoleSpanExporter(out=open("/dev/null", "w"))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        tracer = trace.get_tracer("app")

        def test_before():
            with tracer.start_as_current_span("before"):
                pass

        def test_shuts_down():
            provider.shutdown()

        def test_after():
            with tracer.start_as_current_span("after"):
                pass
        """
    )
    result, report = run_llmobs()
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=3)
    # the app's provider stopped exporting; the capture, which the session owns, did not
    assert counts(report)["before"] == 1
    assert counts(report)["after"] == 1
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


FIXED_IDS = """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator


class Fixed(IdGenerator):
    # snapshot tests fix ids: every span of a trace gets the same one, so a child names
    # itself as its parent
    def generate_span_id(self):
        return 0x1234

    def generate_trace_id(self):
        return 0xABCD


PROVIDER = TracerProvider(id_generator=Fixed())


def test_spans_with_fixed_ids():
    tracer = PROVIDER.get_tracer("snapshot")
    for _ in range(3):
        with tracer.start_as_current_span("request"):
            with tracer.start_as_current_span("llm") as span:
                span.set_attribute("overall_score", 0.5)
"""


def test_a_span_that_is_its_own_parent_is_judged_and_reported(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(test_fixed=FIXED_IDS)
    pytester.makeini("[pytest]\nllmobs_quality_attributes = overall_score\n")
    assert run_llmobs("--llmobs-update-baseline")[0].ret == 0
    result, report = run_llmobs("--llmobs-slowest=3")
    out = result.stdout.str()
    assert result.ret == 0, out
    assert "INTERNALERROR" not in out
    assert "RecursionError" not in out
    assert report["verdict"] == "pass"
    assert counts(report) == {"request": 3, "llm": 3}


def test_a_failing_analysis_costs_neither_the_verdict_nor_the_report(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    # whatever odd span breaks the optional analysis next, the gate still judges
    pytester.makeconftest(
        """
        import pytest_llmobs.analysis.analyze as analysis

        def broken(*args, **kwargs):
            raise ValueError("an odd span")

        analysis.slowest = broken
        """
    )
    pytester.makepyfile(test_fixed=FIXED_IDS)
    assert run_llmobs("--llmobs-update-baseline")[0].ret == 0
    result, report = run_llmobs()
    assert result.ret == 0, result.stdout.str()
    assert report["verdict"] == "pass"
    assert counts(report) == {"request": 3, "llm": 3}
    assert any("the analysis failed" in w and "an odd span" in w for w in report["warnings"])
