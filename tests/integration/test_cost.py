"""A span's own cost (OpenInference's llm.cost.total) wins over tokens times price, for real."""

from __future__ import annotations

from typing import Any

import pytest

SUITE = """
from opentelemetry import trace

def test_priced():
    with trace.get_tracer("app").start_as_current_span("chat") as span:
        span.set_attribute("gen_ai.request.model", "gpt-4o")
        span.set_attribute("gen_ai.usage.input_tokens", 1000)
        span.set_attribute("llm.cost.total", 0.5)  # what the instrumentation worked out
    with trace.get_tracer("app").start_as_current_span("chat") as span:
        span.set_attribute("gen_ai.request.model", "gpt-4o")
        span.set_attribute("gen_ai.usage.input_tokens", 1000)  # priced from the table
"""


def test_a_spans_own_cost_is_used(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    pytester.makepyfile(test_priced=SUITE)
    result, report = run_llmobs()
    assert result.ret == 0
    [chat] = report["series"]
    assert chat["quality"]["llmobs.cost_usd"]["count"] == 2
    assert chat["quality"]["llmobs.cost_usd"]["mean"] == pytest.approx((0.5 + 0.0025) / 2)
