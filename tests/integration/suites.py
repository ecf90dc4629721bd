"""The generated pipeline suite that several integration tests gate on, and the span clock
that the generated suites time their spans with."""

from __future__ import annotations

import pytest

# Source for a generated suite (no braces: suites are str.format templates). A span timed
# by the wall clock around a sleep is as long as the scheduler makes it: on a busy machine
# a 10 ms sleep takes 11 or 15 ms, an A/A run looks slower than its baseline and a 1.3x
# slowdown looks like 1.5x. A span of a TimedTracer lasts exactly what the suite says.
CLOCK = '''
import time
from contextlib import contextmanager
from opentelemetry import trace

class TimedTracer:
    """Spans timed by a clock of their own: it starts at the wall time when a request
    (a span with none of its spans open) starts, and moves only by the time each span is
    meant to take. A span sleeps that time first, so the clock never runs ahead of the
    wall clock, by which the plugin finds the test that was running when a span started."""

    def __init__(self, name):
        self.tracer, self.ns, self.open = trace.get_tracer(name), 0, 0

    @contextmanager
    def start_as_current_span(self, name, ms=0.01):
        """A span, current in the block, lasting its children's time and `ms` more
        (by default 10 microseconds: a step that only computes)."""
        if not self.open:
            self.ns = time.time_ns()
        span = self.tracer.start_span(name, start_time=self.ns)
        self.open += 1
        try:
            with trace.use_span(span):  # an exception sets the error status, as usual
                time.sleep(ms / 1000)
                yield span
        finally:
            self.open -= 1
            self.ns += round(ms * 1e6)
            span.end(end_time=self.ns)
'''

SUITE = (
    CLOCK
    + """
import random
import pytest

tracer = TimedTracer("generated")
SLOWDOWN, QUALITY_DROP, ERROR_EVERY = {slowdown}, {quality_drop}, {error_every}

def jitter():
    # Each run's own noise, as real timings have, but bounded (a busy machine adds 10% or
    # more to a sleep): no A/A run can look slower by as much as a tolerance.
    return random.uniform(0.98, 1.02)

def pipeline(i):
    with tracer.start_as_current_span("llm_request"):
        with tracer.start_as_current_span("preprocess_prompt"):
            sum(range(100))
        try:
            ms = (10 + i % 7) * SLOWDOWN * jitter()
            with tracer.start_as_current_span("llm_inference", ms=ms):
                if ERROR_EVERY and i % 10 < ERROR_EVERY:
                    raise TimeoutError("model timed out")
        except TimeoutError:
            return "fallback"  # the app copes: the test passes, the gate must not
        with tracer.start_as_current_span("evaluate_output") as span:
            span.set_attribute("overall_score", 0.6 + (i % 30) / 100 - QUALITY_DROP)
        return "answer"

@pytest.mark.parametrize("i", range(60))
def test_prompt(i):
    assert pipeline(i) in ("answer", "fallback")
"""
)


def make_suite(
    pytester: pytest.Pytester,
    slowdown: float = 1.0,
    quality_drop: float = 0.0,
    error_every: int = 0,
) -> None:
    pytester.makepyfile(
        test_suite=SUITE.format(
            slowdown=slowdown, quality_drop=quality_drop, error_every=error_every
        )
    )
    pytester.makeini("[pytest]\nllmobs_quality_attributes = overall_score\n")
