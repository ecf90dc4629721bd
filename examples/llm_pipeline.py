"""The source article's LLM pipeline, with a deterministic fake model in place of a real one.

The app sets up its own TracerProvider at import time, as real apps do; pytest-llmobs
observes the spans without taking them away from the app's own exporter.
Two environment variables let you watch the gate fail:
LLMOBS_EXAMPLE_SLOWDOWN=1.6 makes the model 1.6x slower, LLMOBS_EXAMPLE_QUALITY_DROP=0.15
lowers every quality score by 0.15.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()  # stands in for the app's real exporter (OTLP, console ...)
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("example.llm_pipeline")


@dataclass(frozen=True)
class Response:
    text: str
    prompt_tokens: int
    completion_tokens: int


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def preprocess(prompt: str) -> str:
    return " ".join(prompt.strip().split())


def fake_model(prompt: str) -> Response:
    """A model that answers the same prompt the same way, in the same time."""
    slowdown = float(os.environ.get("LLMOBS_EXAMPLE_SLOWDOWN", "1"))
    time.sleep((8 + _digest(prompt) % 8) / 1000 * slowdown)
    answer = f"Here is what I know about {prompt.rstrip('?').lower()}."
    return Response(answer, len(prompt.split()), len(answer.split()))


def evaluate_quality(prompt: str, response: Response) -> dict[str, float]:
    """Deterministic scores in [0, 1]; a few prompts score low on purpose."""
    drop = float(os.environ.get("LLMOBS_EXAMPLE_QUALITY_DROP", "0"))
    relevance = 0.70 + (_digest(prompt + "r") % 28) / 100
    overall = 0.62 + (_digest(prompt + "o") % 35) / 100
    if "quantum" in prompt:
        overall -= 0.1
    return {"relevance": round(relevance - drop, 3), "overall_score": round(overall - drop, 3)}


def process_llm_request(prompt: str, user_id: str) -> str:
    """Handle one request: preprocess, call the model, evaluate the answer."""
    with tracer.start_as_current_span("llm_request") as span:
        span.set_attribute("user_id", user_id)
        span.set_attribute("prompt_length", len(prompt))
        with tracer.start_as_current_span("preprocess_prompt"):
            processed = preprocess(prompt)
        with tracer.start_as_current_span("llm_inference") as inference:
            inference.set_attribute("gen_ai.request.model", "fake-model-1")
            response = fake_model(processed)
            inference.set_attribute("gen_ai.usage.input_tokens", response.prompt_tokens)
            inference.set_attribute("gen_ai.usage.output_tokens", response.completion_tokens)
        with tracer.start_as_current_span("evaluate_output") as evaluation:
            scores = evaluate_quality(prompt, response)
            evaluation.set_attribute("relevance", scores["relevance"])
            evaluation.set_attribute("overall_score", scores["overall_score"])
        span.set_attribute("overall_score", scores["overall_score"])
        if scores["overall_score"] < 0.6:
            span.add_event("low_quality_output", {"overall_score": scores["overall_score"]})
        return response.text
