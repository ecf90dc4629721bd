"""A span's own cost (OpenInference's llm.cost.total) wins over tokens times price, for real."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmobs.cli import main

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
    assert chat["cost_usd"]["count"] == 2
    assert chat["cost_usd"]["mean"] == pytest.approx((0.5 + 0.0025) / 2)
    assert chat["tokens"]["input"] == {"count": 2, "mean": 1000}
    assert chat["quality"] == {}  # quality scores only: this run has none


CHEAP = """
from opentelemetry import trace

def test_cheap():
    for _ in range(3):
        with trace.get_tracer("app").start_as_current_span("chat") as span:
            span.set_attribute("gen_ai.request.model", "tiny-model")
            span.set_attribute("gen_ai.usage.input_tokens", 15)
            span.set_attribute("gen_ai.usage.output_tokens", 2)
"""


def test_baseline_show_and_history_print_a_cheap_calls_cost_in_dollars(
    pytester: pytest.Pytester, run_llmobs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyprojecttoml(
        '[tool.llmobs.prices]\n"tiny-model" = {input = 0.1, output = 0.35}\n'
    )
    pytester.makepyfile(test_cheap=CHEAP)  # 15 x $0.1 + 2 x $0.35 a million: $0.0000022
    result, report = run_llmobs("--llmobs-update-baseline", "--llmobs-history=runs.sqlite")
    assert result.ret == 0, result.stdout.str()
    [chat] = report["series"]
    assert chat["cost_usd"]["mean"] == pytest.approx(2.2e-6)
    assert main(["baseline", "show", ".llmobs/baseline.json"]) == 0
    shown = [line.split() for line in capsys.readouterr().out.splitlines()[-3:]]
    assert shown == [
        ["tokens.input", "mean", "15.0", "tok", "over", "3"],
        ["tokens.output", "mean", "2.0", "tok", "over", "3"],
        ["cost", "mean", "$0.0000022", "over", "3"],
    ]
    assert main(["history", "runs.sqlite"]) == 0
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.endswith("tokens.input 15.0 tok  tokens.output 2.0 tok  cost $0.0000022"), row


def test_a_model_without_a_price_is_named_when_its_cost_goes_missing(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyprojecttoml(
        '[tool.llmobs.prices]\n"tiny-model" = {input = 0.1, output = 0.35}\n'
    )
    pytester.makepyfile(test_cheap=CHEAP)
    result, report = run_llmobs("--llmobs-update-baseline")
    assert result.ret == 0, result.stdout.str()
    assert not [w for w in report["warnings"] if "no price" in w]
    pytester.makepyfile(test_cheap=CHEAP.replace("tiny-model", "new-model"))
    result, report = run_llmobs()
    assert result.ret == 0, result.stdout.str()  # one test case: too few to call it lost
    missing = [c["metric"] for c in report["checks"] if c["verdict"] == "missing"]
    assert missing == ["cost"]  # the baseline's, not measured now
    assert report["warnings"] == [
        "no price for model 'new-model' (3 span(s) with tokens have no cost): add it under"
        " [tool.llmobs.prices] as { input = USD per 1M tokens, output = ... }"
    ]
    pytester.makepyprojecttoml("")  # no cost measured anywhere: an unpriced model is fine
    (pytester.path / ".llmobs" / "baseline.json").unlink()
    result, report = run_llmobs()
    assert not [w for w in report["warnings"] if "no price" in w]
