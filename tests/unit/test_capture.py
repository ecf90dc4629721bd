"""SpanRecorder on a real SDK TracerProvider: what it keeps of each span."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from pytest_llmobs.capture import SpanRecorder


@pytest.fixture
def recorder() -> SpanRecorder:
    return SpanRecorder(["score"])


@pytest.fixture
def provider(recorder: SpanRecorder) -> TracerProvider:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    return provider


def test_records_name_duration_status_ids_and_parent(
    recorder: SpanRecorder, provider: TracerProvider
) -> None:
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("parent") as parent:
        child = tracer.start_span("child", start_time=1_000)
        child.set_status(Status(StatusCode.ERROR))
        child.end(end_time=3_500_000)
    table = recorder.snapshot()
    assert table.names == ("child", "parent")
    assert len(table) == 2
    assert table.duration_ns[0] == 3_499_000
    assert list(table.error) == [True, False]
    ctx = parent.get_span_context()
    assert table.span_id[1] == ctx.span_id
    assert table.parent_id[0] == ctx.span_id
    assert table.parent_id[1] == 0
    assert (int(table.trace_hi[1]) << 64) | int(table.trace_lo[1]) == ctx.trace_id


def test_keeps_numeric_attributes_and_counts_bad_ones(
    recorder: SpanRecorder, provider: TracerProvider
) -> None:
    tracer = provider.get_tracer("t")
    for value in (0.5, 1, "0.9", float("nan"), True):
        with tracer.start_as_current_span("eval") as span:
            span.set_attribute("score", value)
    with tracer.start_as_current_span("eval"):
        pass
    rows, values = recorder.snapshot().numeric["score"]
    assert list(rows) == [0, 1]
    assert list(values) == [0.5, 1.0]
    assert sum(recorder.skipped.values()) == 3


def test_attributes_spans_to_the_test_running_when_they_started(
    recorder: SpanRecorder, provider: TracerProvider
) -> None:
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("before"):
        pass
    recorder.mark_test("test_a")
    late = tracer.start_span("started_in_a")
    recorder.mark_test(None)
    recorder.mark_test("test_b")
    with tracer.start_as_current_span("in_b"):
        pass
    late.end()  # ends during test_b, but started in test_a
    recorder.mark_test(None)
    table = recorder.snapshot()
    tests = {
        table.names[n]: table.tests[t] for n, t in zip(table.name_idx, table.test_idx, strict=True)
    }
    assert tests == {"before": "", "started_in_a": "test_a", "in_b": "test_b"}


def test_spans_from_threads_are_all_recorded(
    recorder: SpanRecorder, provider: TracerProvider
) -> None:
    tracer = provider.get_tracer("t")

    def work() -> None:
        for _ in range(200):
            with tracer.start_as_current_span("threaded"):
                pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    table = recorder.snapshot()
    assert len(table) == 800
    assert len(np.unique(table.span_id)) == 800


def test_app_processor_still_receives_spans_and_stop_ends_capture(
    recorder: SpanRecorder, provider: TracerProvider
) -> None:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("one"):
        pass
    recorder.stop()
    with tracer.start_as_current_span("two"):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["one", "two"]
    assert recorder.snapshot().names == ("one",)


def test_a_broken_span_is_skipped_not_raised(recorder: SpanRecorder) -> None:
    class Broken:
        @property
        def context(self) -> object:
            raise RuntimeError("boom")

    recorder.on_end(Broken())  # type: ignore[arg-type]
    assert recorder.skipped == {"internal error (RuntimeError)": 1}
