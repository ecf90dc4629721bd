"""Per-span cost and retained memory of capture, against a bare SDK span and the naive exporter.

Run: python benchmarks/bench_capture.py [SPANS]
Prints microseconds per span (best of 5 rounds) and bytes retained per span.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from collections.abc import Callable

from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_llmobs.capture import SpanRecorder


def make_spans(processor: SpanProcessor | None, n: int) -> Callable[[], None]:
    provider = TracerProvider(shutdown_on_exit=False)
    if processor is not None:
        provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")

    def run() -> None:
        for i in range(n):
            with tracer.start_as_current_span("llm_inference") as span:
                span.set_attribute("gen_ai.request.model", "m")
                span.set_attribute("overall_score", 0.5 + i % 2 / 4)

    return run


def per_span_us(factory: Callable[[], SpanProcessor | None], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        run = make_spans(factory(), n)
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def retained_bytes(factory: Callable[[], SpanProcessor | None], n: int) -> float:
    processor = factory()
    run = make_spans(processor, n)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del processor
    return (after - before) / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    cases: dict[str, Callable[[], SpanProcessor | None]] = {
        "bare SDK span": lambda: None,
        "SpanRecorder": lambda: SpanRecorder(["overall_score"]),
        "SimpleSpanProcessor(InMemorySpanExporter())": lambda: SimpleSpanProcessor(
            InMemorySpanExporter()
        ),
    }
    bare = per_span_us(cases["bare SDK span"], n)
    print(f"{n} spans, best of 5")
    for name, factory in cases.items():
        us = bare if name == "bare SDK span" else per_span_us(factory, n)
        print(
            f"{name:45} {us:6.2f} us/span ({us / bare:4.2f}x)  "
            f"{retained_bytes(factory, n):7.0f} B/span retained"
        )


if __name__ == "__main__":
    main()
