"""SpanRecorder on a real SDK TracerProvider: what it keeps of each span."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from pytest_llmobs.capture import recorder as capture
from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.capture.sampling import WORST_KEPT
from pytest_llmobs.gate.model import RECEIVED_NO_TEST, CaptureSummary, Received, SpanTable


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


def test_a_broken_span_is_skipped_not_raised(
    recorder: SpanRecorder, provider: TracerProvider
) -> None:
    class Broken:
        @property
        def _context(self) -> object:
            raise RuntimeError("boom")

    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("before"):
        pass
    recorder.on_end(Broken())  # type: ignore[arg-type]
    with tracer.start_as_current_span("after"):
        pass
    table = recorder.snapshot()
    assert [table.names[i] for i in table.name_idx] == ["before", "after"]
    assert recorder.skipped == {"unreadable span (AttributeError)": 1}


def test_a_span_ending_before_it_started_is_skipped(
    recorder: SpanRecorder, provider: TracerProvider
) -> None:
    tracer = provider.get_tracer("t")
    tracer.start_span("backwards", start_time=5_000).end(end_time=1_000)
    tracer.start_span("zero", start_time=5_000).end(end_time=5_000)
    table = recorder.snapshot()
    assert table.names[table.name_idx[0]] == "zero"
    assert list(table.duration_ns) == [0]
    assert recorder.skipped == {"span ending before it started": 1}


def test_a_test_with_very_many_spans_is_sampled_as_it_goes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(capture, "SETTLE_AT", 100)
    recorder = SpanRecorder(["score"], sample_rate=0.0)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    recorder.mark_test("test_big")
    traces(provider.get_tracer("t"), 500, slow=set(), failing=set(), low=set())
    deadline = time.monotonic() + 30  # decided while the test ran, by the sampling thread
    while recorder.has_undecided_detail() >= 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.has_undecided_detail() < 100
    recorder.mark_test(None)
    table = recorder.snapshot()
    assert len(table) == 1000
    _, values = table.numeric["score"]
    assert values.tolist() == [0.9] * 500  # metrics keep every span
    assert table.has_detail.sum() < 1000


def test_keeps_string_attributes_and_events_as_detail(
    recorder: SpanRecorder, provider: TracerProvider
) -> None:
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("llm") as span:
        span.set_attribute("score", 0.5)
        span.set_attribute("gen_ai.request.model", "gpt-x")
        span.set_attribute("tags", ["a", "b"])
        span.add_event("retry", {"attempt": 2}, timestamp=123)
    table = recorder.snapshot()
    rows, models = table.detail["gen_ai.request.model"]
    assert (rows.tolist(), list(models)) == ([0], ["gpt-x"])
    assert list(table.detail["tags"][1]) == [("a", "b")]
    assert "score" not in table.detail  # a numeric attribute lives in `numeric` only
    assert [(e.row, e.name, e.time_ns, dict(e.attributes)) for e in table.events] == [
        (0, "retry", 123, {"attempt": 2})
    ]
    assert table.has_detail.tolist() == [True]


def traces(
    tracer: Any,
    count: int,
    slow: set[int],
    failing: set[int],
    low: set[int],
    first: int = 0,
    normal_ms: int | None = None,
) -> None:
    """`count` traces of a root with one child; some slow, failing or with a low score."""
    for i in range(first, first + count):
        with tracer.start_as_current_span("root", start_time=0, end_on_exit=False) as root:
            child = tracer.start_span("child", start_time=0)
            child.set_attribute("prompt", f"prompt {i}")
            child.set_attribute("score", 0.1 if i in low else 0.9)
            if i in failing:
                child.set_status(Status(StatusCode.ERROR))
            ms = 50 if i in slow else normal_ms or 1 + i % 3
            child.end(end_time=1_000_000 * ms)
            root.set_attribute("request", str(i))
            root.end(end_time=2_000_000)


def kept_prompts(table: SpanTable) -> set[str]:
    rows, values = table.detail.get("prompt", (np.empty(0), ()))
    assert table.has_detail[rows].all()
    return {str(v) for v in values}


def test_sample_rate_zero_keeps_detail_of_errors_and_outliers_only() -> None:
    recorder = SpanRecorder(["score"], sample_rate=0.0)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    tracer = provider.get_tracer("t")
    recorder.mark_test("test_warmup")
    traces(tracer, WORST_KEPT, slow=set(), failing=set(), low=set(), first=1000, normal_ms=3)
    recorder.mark_test(None)
    recorder.mark_test("test_main")
    traces(tracer, 300, slow={40}, failing={70, 71}, low={200})
    recorder.mark_test(None)
    table = recorder.snapshot()
    assert len(table) == 2 * (300 + WORST_KEPT)  # metrics use every span
    assert len(table.numeric["score"][0]) == 300 + WORST_KEPT
    warmup = {f"prompt {i}" for i in range(1000, 1000 + WORST_KEPT)}
    assert warmup <= kept_prompts(table)  # the first spans of a series are its slowest so far
    main = kept_prompts(table) - warmup
    assert main == {f"prompt {i}" for i in (40, 70, 71, 200)}
    # the whole trace keeps its detail: each kept prompt's root keeps its request id
    requests = set(table.detail["request"][1])
    assert {"40", "70", "71", "200"} <= requests
    assert table.has_detail.sum() == 2 * len(kept_prompts(table))


def test_sample_rate_keeps_about_that_share_of_traces_deterministically() -> None:
    def run() -> tuple[int, set[str]]:
        recorder = SpanRecorder([], sample_rate=0.25)
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(recorder)
        recorder.mark_test("test_x")
        traces(provider.get_tracer("t"), 2000, slow=set(), failing=set(), low=set())
        recorder.mark_test(None)
        table = recorder.snapshot()
        sampled = table.trace_lo < np.uint64(2**62)
        kept = table.has_detail
        assert kept[sampled].all()  # every sampled trace, plus the outliers
        return int(sampled.sum()), kept_prompts(table)

    sampled, prompts = run()
    assert 2 * 2000 * 0.2 < sampled < 2 * 2000 * 0.3
    assert len(prompts) < 2000 * 0.3 + 4 * WORST_KEPT


def test_grouping_attributes_are_kept_for_every_span_at_any_sample_rate() -> None:
    recorder = SpanRecorder([], sample_rate=0.0, always_kept=["user_tier"])
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    tracer = provider.get_tracer("t")
    recorder.mark_test("test_x")
    for i in range(50):
        with tracer.start_as_current_span("request") as span:
            span.set_attribute("user_tier", "gold" if i % 2 else "free")
            span.set_attribute("prompt", f"prompt {i}")
    recorder.mark_test(None)
    table = recorder.snapshot()
    assert len(table.detail["user_tier"][1]) == 50
    assert len(table.detail["prompt"][1]) < 50  # detail is sampled; grouping values are not


def test_received_spans_join_the_test_of_their_trace_and_are_counted_by_way(
    recorder: SpanRecorder, provider: TracerProvider
) -> None:
    tracer = provider.get_tracer("t")
    recorder.mark_test("test_a")
    with tracer.start_as_current_span("client") as client:
        context = client.get_span_context()
    recorder.mark_test("test_b")
    now = time.time_ns()

    def received(name: str, trace_id: int, span_id: int, start: int = now) -> Any:
        return (name, start, start + 1000, trace_id, span_id, 0, False, {}, [])

    recorder.receive([
        received("svc.late", context.trace_id, 11),  # test_a's trace, done during test_b
        received("svc.own", 0xABC, 12),  # no trace of this process: test_b, by time
    ])  # fmt: skip
    recorder.mark_test(None)
    recorder.receive([received("svc.after", 0xDEF, 13, time.time_ns())])  # between tests
    table = recorder.snapshot()
    pairs = zip(table.name_idx, table.test_idx, strict=True)
    tests = {table.names[n]: table.tests[t] for n, t in pairs}
    assert tests == {"client": "test_a", "svc.late": "test_a", "svc.own": "test_b", "svc.after": ""}
    assert CaptureSummary.of(table, 1.0).received == Received(1, 1, 1)


def test_a_capture_that_received_nothing_has_no_received_column(
    recorder: SpanRecorder, provider: TracerProvider
) -> None:
    with provider.get_tracer("t").start_as_current_span("own"):
        pass
    table = recorder.snapshot()
    assert table.received is None
    assert CaptureSummary.of(table, 1.0).received == Received()


def test_a_batch_being_received_when_the_capture_ends_is_marked_whole(
    recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """snapshot() waits for a batch under way: its spans are received spans or late ones,
    never spans that pass for this process's own."""
    slow, started = recorder._record, threading.Event()

    def record(*fields: Any) -> int:
        row = slow(*fields)
        started.set()  # a span of the batch is in: the capture may end now
        time.sleep(0.01)
        return row

    monkeypatch.setattr(recorder, "_record", record)
    now = time.time_ns()
    batch: list[Any] = [(f"svc{i}", now, now + 5, 0xAB, i + 1, 0, False, {}, []) for i in range(20)]
    receiving = threading.Thread(target=recorder.receive, args=(batch,))
    receiving.start()
    started.wait(5)
    table = recorder.snapshot()
    receiving.join()
    assert 0 < len(table) < 20  # the capture ended mid-batch
    assert table.received is not None
    assert table.received.tolist() == [RECEIVED_NO_TEST] * len(table)
    assert recorder.late == 20 - len(table)
    assert "span not ended when the capture ended" not in recorder.skipped


def test_an_evaluation_this_process_made_and_exported_back_counts_once(
    recorder: SpanRecorder, provider: TracerProvider
) -> None:
    with provider.get_tracer("t").start_as_current_span("chat") as span:
        context = span.get_span_context()
    score = {"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.9}
    recorder.add_evaluation_record(context.trace_id, context.span_id, score)
    recorder.add_evaluation_record(context.trace_id, context.span_id, score, received=True)
    other = {**score, "gen_ai.evaluation.score.value": 0.4}  # another judge's: kept
    recorder.add_evaluation_record(context.trace_id, context.span_id, other, received=True)
    table = recorder.snapshot()
    assert sorted(table.numeric["relevance"][1]) == [0.4, 0.9]
    assert any(
        "1 evaluation result(s) made in this process came back" in n for n in recorder.notes()
    )
