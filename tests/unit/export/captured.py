"""A run's spans captured for real, to export: the SpanRecorder on an SDK TracerProvider
in a test, and a service's spans received over OTLP as the receiver decodes them."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, set_span_in_context
from opentelemetry.trace.span import NonRecordingSpan

from pytest_llmobs.capture.otlp import PROTOBUF, decode_traces
from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.gate.model import SpanTable

TEST_ID = "tests/test_app.py::test_answer[what is a span?]"
KEY = "sk-" + "a1B2" * 10  # an API key, as a careless span attribute holds one
PROMPT = "Answer from the context: " + "lorem ipsum " * 400
SCORE = "answer_relevance"
SERVICE = "retriever"  # the service under test whose spans arrive over OTLP
RESOURCE = {
    "service.name": "llmobs",
    "llmobs.run.id": "0123456789abcdef0123456789abcdef",
    "llmobs.run.verdict": "regression",
    "vcs.ref.head.revision": "4f1c2e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
}


@dataclass(frozen=True)
class Captured:
    """The captured table, and every span as the SDK ended it, by span id."""

    table: SpanTable
    made: dict[int, ReadableSpan]
    received: frozenset[int]  # span ids of the spans the service made


def capture() -> Captured:
    """A test's pipeline (retrieval over OTLP from a service, a model call, a failing
    tool), and a span outside any test."""
    recorder = SpanRecorder(["gen_ai.usage.input_tokens", SCORE], always_kept=["service.name"])
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app")
    recorder.mark_test(TEST_ID)
    with tracer.start_as_current_span("pipeline", attributes={"request_id": "r-1"}) as top:
        received = _service_call(recorder, top.get_span_context())
        llm_attributes: dict[str, str | int | float] = {
            "gen_ai.request.model": f"gpt-4o key={KEY}",
            "gen_ai.prompt": PROMPT,
            "gen_ai.usage.input_tokens": 812,
            SCORE: 0.25,  # a low score: the report lists the request
        }
        with tracer.start_as_current_span("llm", attributes=llm_attributes) as llm:
            llm.add_event("gen_ai.first_token", {"gen_ai.response.model": "gpt-4o"})
        try:
            with tracer.start_as_current_span("tool"):
                raise ValueError(f"the tool failed with {KEY}")
        except ValueError:
            pass  # recorded on the span: its status and an exception event
    recorder.mark_test(None)
    with tracer.start_as_current_span("session teardown"):
        pass
    made = {s.context.span_id: s for s in (*memory.get_finished_spans(), *received) if s.context}
    ids = frozenset(s.context.span_id for s in received if s.context)
    return Captured(recorder.snapshot(), made, ids)


def _service_call(recorder: SpanRecorder, parent: SpanContext) -> tuple[ReadableSpan, ...]:
    """The service's spans under `parent`, exported as OTLP protobuf and decoded as the
    receiver does, then recorded as received."""
    memory = InMemorySpanExporter()
    service = TracerProvider(resource=Resource({"service.name": SERVICE}))
    service.add_span_processor(SimpleSpanProcessor(memory))
    tracer = service.get_tracer("service")
    context = set_span_in_context(NonRecordingSpan(parent))
    with (
        tracer.start_as_current_span("retrieve", context=context, attributes={"k": 3}),
        tracer.start_as_current_span("vector search"),
    ):
        pass
    spans = memory.get_finished_spans()
    body = encode_spans(spans).SerializeToString()
    recorder.receive(decode_traces(body, PROTOBUF, recorder.named).spans)
    return spans
