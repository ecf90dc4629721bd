"""What exporting a run's spans costs: SpanTable to SDK spans, then sent over OTLP/HTTP.

Run: python benchmarks/otlp_export.py [--spans N] [--rounds R]

A run of N captured spans (requests of four spans: pipeline, retrieval, a model call with
its model, tokens, score and a 2,000-character prompt, and a judge; a test every 100
requests) is captured once by the real SpanRecorder. Each round converts the table
(`spans_for_export`, the redactor included, every span read once) and, apart, converts
and sends it (`send_spans`, the official OTLP/HTTP exporter, 512 a request) to a local
server that reads each request and answers 200, as a backend that keeps up would.
Reports spans per second (best round) for the conversion alone and for both, then the
peak memory (tracemalloc) that one conversion and send took above the captured table.
"""

from __future__ import annotations

import argparse
import threading
import time
import tracemalloc
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.sdk.trace import TracerProvider

from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.export.otlp_send import send_spans
from pytest_llmobs.export.otlp_spans import spans_for_export
from pytest_llmobs.gate.model import SpanTable
from pytest_llmobs.gate.redact import Redactor

RESOURCE = {"service.name": "llmobs", "llmobs.run.id": "bench", "llmobs.run.verdict": "pass"}
PROMPT = "Answer from the context: " + "lorem ipsum " * 165


class Backend(BaseHTTPRequestHandler):
    """Reads an export request whole and accepts it (an empty ExportTraceServiceResponse)."""

    received = 0  # bytes, over all requests

    def do_POST(self) -> None:
        Backend.received += len(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def captured(spans: int) -> SpanTable:
    recorder = SpanRecorder(["gen_ai.usage.input_tokens", "score"])
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    tracer = provider.get_tracer("bench")
    for i in range(spans // 4):
        if i % 100 == 0:
            recorder.mark_test(f"tests/test_rag.py::test_answer[{i // 100}]")
        with tracer.start_as_current_span("pipeline", attributes={"request_id": f"r{i}"}):
            with tracer.start_as_current_span("retrieve"):
                pass
            attributes: dict[str, str | float] = {
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 812,
                "score": 0.5 + i % 2 / 4,
                "gen_ai.prompt": PROMPT,
            }
            with tracer.start_as_current_span("llm", attributes=attributes):
                pass
            with tracer.start_as_current_span("judge"):
                pass
    recorder.mark_test(None)
    return recorder.snapshot()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    table = captured(args.spans)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def convert() -> None:
        for _ in spans_for_export(table, Redactor(), RESOURCE):
            pass

    def both() -> None:
        send_spans(url, spans_for_export(table, Redactor(), RESOURCE), timeout=300.0)

    best = [min(_seconds(step) for _ in range(args.rounds)) for step in (convert, both)]
    sent_bytes = Backend.received
    peak = _peak(both)
    server.shutdown()
    n = len(table)
    print(f"{n} spans, best of {args.rounds} rounds, {sent_bytes / args.rounds / n:.0f} B a span")
    for label, seconds in zip(("converted", "both"), best, strict=True):
        print(f"  {label:9} {n / seconds:9,.0f} spans/s   ({seconds:.2f} s)")
    print(f"  peak      {peak / 2**20:9,.1f} MiB       ({peak / n:,.0f} B a span, above the table)")


def _seconds(step: Callable[[], None]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def _peak(step: Callable[[], None]) -> int:
    """The most memory the step held at once above what was held before it (bytes)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        step()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


if __name__ == "__main__":
    main()
