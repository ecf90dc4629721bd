"""Capture that cannot fail open, in real runs: a provider that passes spans on twice,
an SDK whose private span fields moved, spans nothing can read, values beyond a float,
scores added after later spans."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import counts

# The app sets a provider of another library at import; it forwards processors to an SDK
# provider, as Logfire's ProxyTracerProvider does.
FORWARDING = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

class Forwarding(trace.TracerProvider):
    def __init__(self):
        self.inner = TracerProvider()

    def get_tracer(self, *args, **kwargs):
        return self.inner.get_tracer(*args, **kwargs)

    def add_span_processor(self, processor):
        self.inner.add_span_processor(processor)

trace.set_tracer_provider(Forwarding())
tracer = trace.get_tracer("app")

def test_calls():
    for _ in range(5):
        with tracer.start_as_current_span("chat"):
            pass
"""


def test_a_provider_that_forwards_to_another_counts_each_span_once(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(test_app=FORWARDING)
    result, report = run_llmobs()
    assert result.ret == 0, result.stdout.str()
    assert counts(report) == {"chat": 5}
    assert report["capture"]["spans"] == 5
    assert any("reached the capture twice" in w for w in report["warnings"])
    assert not any("not ended" in w for w in report["warnings"])


SUITE = """
from opentelemetry import trace

tracer = trace.get_tracer("app")

def test_calls():
    for i in range(4):
        with tracer.start_as_current_span("chat") as span:
            span.set_attribute("overall_score", 0.5 + i / 10)
            span.add_event("retry")
"""

# A future SDK that renamed the private fields the fast path reads; its own code and
# the public properties use the new names.
RENAMED = """
import sys
from opentelemetry.sdk.trace import ReadableSpan

class Renamed:
    def __init__(self, field):
        self.field = field

    def __get__(self, span, owner=None):
        if span is None:
            return self
        if sys._getframe(1).f_globals.get("__name__", "").startswith("pytest_llmobs."):
            raise AttributeError(self.field)
        return span.__dict__["renamed" + self.field]

    def __set__(self, span, value):
        span.__dict__["renamed" + self.field] = value

for private, public in (("_name", "name"), ("_status", "status"), ("_events", "events")):
    setattr(ReadableSpan, private, Renamed(private))
    setattr(ReadableSpan, public, property(lambda span, f=private: span.__dict__["renamed" + f]))
"""


def test_renamed_private_span_fields_are_read_through_public_properties(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(test_app=SUITE)
    pytester.makeconftest(RENAMED)
    pytester.makeini("[pytest]\nllmobs_quality_attributes = overall_score\n")
    assert run_llmobs("--llmobs-update-baseline")[0].ret == 0
    result, report = run_llmobs()
    assert result.ret == 0, result.stdout.str()
    assert report["verdict"] == "pass"
    assert counts(report) == {"chat": 4}
    series = report["series"][0]
    assert series["quality"]["overall_score"]["mean"] == pytest.approx(0.65)
    assert any("public properties" in w for w in report["warnings"])


# Spans this capture cannot read at all, by either path (the app's own code can).
UNREADABLE = """
import sys
from opentelemetry.sdk.trace import ReadableSpan

class Unreadable:
    def __init__(self, field):
        self.field = field

    def __get__(self, span, owner=None):
        if span is None:
            return self
        if sys._getframe(1).f_globals.get("__name__", "").startswith("pytest_llmobs."):
            raise RuntimeError("no name")
        return span.__dict__["hidden" + self.field]

    def __set__(self, span, value):
        span.__dict__["hidden" + self.field] = value

ReadableSpan._name = Unreadable("_name")
ReadableSpan.name = Unreadable("_name")
"""


@pytest.mark.parametrize("ci", ["false", "true"])
def test_spans_that_cannot_be_read_fail_the_gate(
    pytester: pytest.Pytester, run_llmobs: Any, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    pytester.makepyfile(test_app=SUITE)
    assert run_llmobs("--llmobs-update-baseline")[0].ret == 0
    pytester.makeconftest(UNREADABLE)
    monkeypatch.setenv("CI", ci)
    result, report = run_llmobs()
    out = result.stdout.str()
    assert result.ret == 1, out  # not a pass with every series "missing"
    assert report["verdict"] == "error"
    assert report["errors"] == [
        "4 span(s) could not be read (4 unreadable span (RuntimeError)): the series they "
        "belong to cannot be judged"
    ]
    assert "Traceback" not in out
    result.stdout.fnmatch_lines(["*4 span(s) could not be read*"])


SCORED = """
from opentelemetry import trace

tracer = trace.get_tracer("app")

def test_scored(llmobs):
    with tracer.start_as_current_span("request") as request:
        request.set_attribute("budget", 10**400)  # beyond a float: that value only is lost
        request.set_attribute("user", "u1")
        with tracer.start_as_current_span("retrieve"):
            pass
        with tracer.start_as_current_span("judge") as judge:
            judge.add_event(
                "gen_ai.evaluation.result",
                {"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.8},
            )
    # scored after the judge's own relevance was recorded, for a span that ended before
    llmobs.score("relevance", 0.7, series="retrieve")
"""


def test_a_late_score_and_an_odd_value_keep_the_request_whole(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(test_app=SCORED)
    pytester.makeini("[pytest]\nllmobs_quality_attributes = budget\n")
    assert run_llmobs("--llmobs-update-baseline")[0].ret == 0
    result, report = run_llmobs("--llmobs-slowest=1")
    assert result.ret == 0, result.stdout.str()
    assert counts(report) == {"request": 1, "retrieve": 1, "judge": 1}
    slowest = {r["name"]: r for r in report["slowest_requests"]}
    assert slowest["retrieve"]["attributes"] == {"relevance": 0.7}
    assert slowest["judge"]["attributes"] == {"relevance": 0.8}
    assert "user" in slowest["request"]["attributes"]  # the span was kept whole
    assert "1 span(s) skipped: non-numeric or non-finite 'budget' attribute" in report["warnings"]
