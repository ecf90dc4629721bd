"""The `llmobs` fixture in real tests: spans, tree, tokens and scores of the running test."""

from __future__ import annotations

from typing import Any

import pytest

SUITE = """
import time
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("fixture")

def pipeline():
    with tracer.start_as_current_span("request") as root:
        root.set_attribute("user_tier", "gold")
        with tracer.start_as_current_span("chat") as chat:
            chat.set_attribute("gen_ai.request.model", "m1")
            chat.set_attribute("gen_ai.usage.input_tokens", 10)
            chat.set_attribute("gen_ai.usage.output_tokens", 4)
            time.sleep(0.01)
        with tracer.start_as_current_span("chat") as chat:
            chat.set_attribute("llm.model_name", "m2")  # OpenInference's names
            chat.set_attribute("llm.token_count.prompt", 5)
            chat.set_attribute("llm.token_count.completion", 7)

def test_spans_tree_and_tokens(llmobs):
    pipeline()
    chats = llmobs.spans("chat")
    assert [s.name for s in chats] == ["chat", "chat"]
    assert chats[0].duration_ms >= 10  # real timings
    assert chats[0].attributes["gen_ai.request.model"] == "m1"
    by_model = llmobs.spans(**{"gen_ai.request.model": "m2"})  # any of its names
    assert [s.attributes["llm.model_name"] for s in by_model] == ["m2"]
    assert llmobs.spans(user_tier="gold")[0].name == "request"
    [root] = llmobs.tree()
    assert root["name"] == "request"
    assert [c["name"] for c in root["children"]] == ["chat", "chat"]
    assert root["children"][1]["children"] == []
    assert llmobs.tokens() == {"input": 15, "output": 11, "total": 26}
    assert llmobs.tokens(model="m2") == {"input": 5, "output": 7, "total": 12}

def test_scores_become_quality_metrics(llmobs):
    pipeline()
    llmobs.score("relevance", 0.9)  # on the root span: request
    llmobs.score("faithfulness", 0.5, series="chat")  # on the latest chat span
    with pytest.raises(LookupError, match="no span named 'nope'"):
        llmobs.score("relevance", 0.1, series="nope")
    with pytest.raises(ValueError, match="must be finite"):
        llmobs.score("relevance", float("nan"))

def test_only_this_tests_spans_are_seen(llmobs):
    assert llmobs.spans() == []
    assert llmobs.tree() == []
    with pytest.raises(LookupError, match="no span has ended"):
        llmobs.score("relevance", 0.5)
"""


def test_fixture_methods_in_a_real_run(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    pytester.makepyfile(test_fixture_suite=SUITE)
    result, report = run_llmobs()
    result.assert_outcomes(passed=3)
    quality = {s["key"]: s["quality"] for s in report["series"]}
    assert quality["request"]["relevance"] == {"count": 1, "mean": 0.9}
    assert quality["chat"]["faithfulness"] == {"count": 1, "mean": 0.5}
    chat = next(s for s in report["series"] if s["key"] == "chat")
    assert chat["tokens"]["output"]["mean"] == 5.5  # token counts under their own key


def test_the_fixture_without_llmobs_says_what_is_needed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_uses_it(llmobs):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the llmobs fixture needs `pytest --llmobs`*"])
