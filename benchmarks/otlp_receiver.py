"""What receiving costs: OTLP trace exports decoded and recorded, per span, on one core.

Run: python benchmarks/otlp_receiver.py [--spans N] [--batch B] [--rounds R]

Requests of B spans each (two attributes, as an exporter's batch of a service's spans)
are built once in both encodings, then each round decodes all of them
(`decode_traces`) and records the spans (`SpanRecorder.receive`), without HTTP: the
receiver's own cost. Reports spans per second (best round) for decoding alone and for
decoding and recording, and the bytes the recorder retains per received span, beside
the same for in-process spans (`benchmarks/overhead.py` measures those per span).
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider

from pytest_llmobs.capture.otlp import JSON, PROTOBUF, decode_traces
from pytest_llmobs.capture.recorder import SpanRecorder

# the resource attributes a run keeps, as --llmobs-otlp passes them: without group_by, none
KEPT = frozenset({"overall_score"})


def protobuf_request(batch: int, first: int) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attribute = resource_spans.resource.attributes.add(key="service.name")
    attribute.value.string_value = "svc"
    spans = resource_spans.scope_spans.add().spans
    for i in range(first, first + batch):
        span = spans.add(name="llm_inference", trace_id=(i + 1).to_bytes(16, "big"))
        span.span_id = (i + 1).to_bytes(8, "big")
        span.start_time_unix_nano, span.end_time_unix_nano = 10**18 + i, 10**18 + i + 5_000_000
        model = span.attributes.add(key="gen_ai.request.model")
        model.value.string_value = "m"
        score = span.attributes.add(key="overall_score")
        score.value.double_value = 0.5 + i % 2 / 4
    return bytes(request.SerializeToString())


def json_request(batch: int, first: int) -> bytes:
    spans = [
        {
            "traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": "llm_inference",
            "startTimeUnixNano": str(10**18 + i), "endTimeUnixNano": str(10**18 + i + 5_000_000),
            "attributes": [
                {"key": "gen_ai.request.model", "value": {"stringValue": "m"}},
                {"key": "overall_score", "value": {"doubleValue": 0.5 + i % 2 / 4}},
            ],
        }
        for i in range(first, first + batch)
    ]  # fmt: skip
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]}
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    return json.dumps(body).encode()


def best_rate(bodies: list[bytes], kind: str, record: bool, rounds: int, spans: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        recorder = SpanRecorder(["overall_score"])
        start = time.perf_counter()
        for body in bodies:
            decoded = decode_traces(body, kind, KEPT)
            if record:
                recorder.receive(decoded.spans)
        best = min(best, time.perf_counter() - start)
    return spans / best


def received_bytes(bodies: list[bytes], kind: str, spans: int) -> float:
    recorder = SpanRecorder(["overall_score"])
    decoded = [decode_traces(body, kind, KEPT).spans for body in bodies]  # transient
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for found in decoded:
        recorder.receive(found)
    del found
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / spans


def in_process_bytes(spans: int) -> float:
    recorder = SpanRecorder(["overall_score"])
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    tracer = provider.get_tracer("bench")
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(spans):
        with tracer.start_as_current_span("llm_inference") as span:
            span.set_attribute("gen_ai.request.model", "m")
            span.set_attribute("overall_score", 0.5 + i % 2 / 4)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=512, help="spans per request")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    spans = args.spans - args.spans % args.batch
    firsts = range(0, spans, args.batch)
    print(f"{spans} spans in requests of {args.batch}, best of {args.rounds} rounds")
    for label, kind, build in (
        ("protobuf", PROTOBUF, protobuf_request),
        ("JSON", JSON, json_request),
    ):
        bodies = [build(args.batch, first) for first in firsts]
        decode = best_rate(bodies, kind, False, args.rounds, spans)
        both = best_rate(bodies, kind, True, args.rounds, spans)
        kept = received_bytes(bodies, kind, spans)
        print(
            f"  {label:8} decoded {decode:9,.0f} spans/s   decoded and recorded {both:9,.0f} "
            f"spans/s   {kept:5.0f} B retained a span"
        )
    print(
        f"  in-process spans (SDK + SpanRecorder): {in_process_bytes(spans):5.0f} B retained a span"
    )


if __name__ == "__main__":
    main()
