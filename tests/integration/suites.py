"""The generated pipeline suite that several integration tests gate on."""

from __future__ import annotations

import pytest

SUITE = """
import time
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("generated")
SLOWDOWN, QUALITY_DROP, ERROR_EVERY = {slowdown}, {quality_drop}, {error_every}

def pipeline(i):
    with tracer.start_as_current_span("llm_request"):
        with tracer.start_as_current_span("preprocess_prompt"):
            sum(range(100))
        try:
            with tracer.start_as_current_span("llm_inference"):
                time.sleep((10 + i % 7) / 1000 * SLOWDOWN)
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
