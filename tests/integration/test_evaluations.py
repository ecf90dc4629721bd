"""gen_ai.evaluation.result, as a span event or as a log record, becomes a quality metric."""

from __future__ import annotations

from typing import Any

import pytest

SUITE = """
import inspect

from opentelemetry import _logs, trace
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
_logs.set_logger_provider(LoggerProvider())  # the app's own log pipeline
tracer = trace.get_tracer("app")
logger = _logs.get_logger("judge")

def evaluation(name, score, span_context=None):
    attributes = {"gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": score}
    fields = {"attributes": attributes}
    if "event_name" in inspect.signature(LogRecord).parameters:
        fields["event_name"] = "gen_ai.evaluation.result"
    else:  # before OpenTelemetry 1.35, as its Events API wrote it: ids from the current span
        attributes["event.name"] = "gen_ai.evaluation.result"
        span_context = span_context or trace.get_current_span().get_span_context()
    if span_context is not None:
        fields.update(trace_id=span_context.trace_id, span_id=span_context.span_id)
    logger.emit(LogRecord(**fields))

def test_event_on_the_span():
    with tracer.start_as_current_span("chat") as span:
        span.add_event("gen_ai.evaluation.result", {
            "gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.8})

def test_log_record_inside_the_span():
    with tracer.start_as_current_span("chat"):
        evaluation("relevance", 0.6)  # trace and span ids from the current span

def test_log_record_after_the_span_ended():
    with tracer.start_as_current_span("chat") as span:
        pass
    evaluation("faithfulness", 0.9, span.get_span_context())

def test_bad_and_orphan_results_are_counted_not_raised():
    evaluation("relevance", 0.5, trace.SpanContext(1, 2, False))  # a span never captured
    with tracer.start_as_current_span("chat") as span:
        span.add_event("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "relevance"})
"""


def test_evaluation_results_become_quality_of_the_evaluated_span(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(test_judged=SUITE)
    result, report = run_llmobs()
    result.assert_outcomes(passed=4)
    [chat] = [s for s in report["series"] if s["name"] == "chat"]
    assert chat["quality"]["relevance"] == {"count": 2, "mean": 0.7}
    assert chat["quality"]["faithfulness"] == {"count": 1, "mean": 0.9}
    warnings = "\n".join(report["warnings"])
    assert "1 evaluation result(s) for a span that was not captured: not counted" in warnings
    assert "1 evaluation result(s) without a name or a finite score: not counted" in warnings
    assert "span(s) skipped" not in warnings  # no span was


def test_an_evaluation_that_arrives_after_the_run_was_judged_is_counted(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(test_judged=SUITE)
    pytester.makeconftest(
        """
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):  # after the gate judged, before the report is written
    import test_judged
    with test_judged.tracer.start_as_current_span("chat") as span:
        pass
    test_judged.evaluation("relevance", 0.1, span.get_span_context())
"""
    )
    result, report = run_llmobs()
    result.assert_outcomes(passed=4)
    [chat] = [s for s in report["series"] if s["name"] == "chat"]
    assert chat["quality"]["relevance"] == {"count": 2, "mean": 0.7}  # as without it
    assert (
        "1 evaluation result(s) arrived after the run was judged: not counted" in report["warnings"]
    )
