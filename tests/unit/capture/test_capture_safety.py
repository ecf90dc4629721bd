"""SpanRecorder where spans are odd: renamed SDK fields, spans passed on twice, values
that cannot be kept, scores added late, and sampling over very many span names."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import Status, StatusCode

from pytest_llmobs.analysis.breakdown import _attributes
from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.capture.sampling import WORST_KEPT, Largest
from pytest_llmobs.capture.span_fields import PUBLIC_READ
from pytest_llmobs.gate.semconv import EVALUATION_EVENT, EVALUATION_NAME, EVALUATION_SCORE


class Renamed:
    """A private span field a future SDK renamed: the SDK's own code still works (it
    would use the new name), reading the old name from the capture fails."""

    def __init__(self, field: str) -> None:
        self.field = field

    def __get__(self, span: object, owner: object = None) -> Any:
        if span is None:
            return self
        if sys._getframe(1).f_globals.get("__name__", "").startswith("pytest_llmobs."):
            raise AttributeError(f"'{self.field}' was renamed in this SDK")
        return span.__dict__["renamed" + self.field]

    def __set__(self, span: object, value: object) -> None:
        span.__dict__["renamed" + self.field] = value


def rename(monkeypatch: pytest.MonkeyPatch, private: str, public: str) -> None:
    """Move a private field of every span aside; its public property reads it there."""
    monkeypatch.setattr(ReadableSpan, private, Renamed(private), raising=False)
    moved = property(lambda span: span.__dict__["renamed" + private])
    monkeypatch.setattr(ReadableSpan, public, moved)


def recorded(recorder: SpanRecorder) -> tuple[TracerProvider, trace_api.Tracer]:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    return provider, provider.get_tracer("t")


@pytest.mark.parametrize(
    ("private", "public"), [("_name", "name"), ("_status", "status"), ("_events", "events")]
)
def test_a_renamed_private_field_switches_to_the_public_properties(
    monkeypatch: pytest.MonkeyPatch, private: str, public: str
) -> None:
    rename(monkeypatch, private, public)
    recorder = SpanRecorder(["score"])
    _, tracer = recorded(recorder)
    for i in range(3):
        with tracer.start_as_current_span("chat") as span:
            span.set_attribute("score", i / 4)
            span.set_attribute("prompt", f"p{i}")
            span.add_event("retry", {"attempt": i})
            if i == 1:
                span.set_status(Status(StatusCode.ERROR))
    table = recorder.snapshot()
    assert recorder.skipped == {}
    assert table.names == ("chat",)
    assert table.error.tolist() == [False, True, False]
    assert table.numeric["score"][1].tolist() == [0.0, 0.25, 0.5]
    assert list(table.detail["prompt"][1]) == ["p0", "p1", "p2"]
    assert [e.attributes["attempt"] for e in table.events] == [0, 1, 2]
    assert recorder.notes() == [PUBLIC_READ]


def test_a_span_no_reader_can_read_is_counted_unreadable_not_guessed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = SpanRecorder()
    _, tracer = recorded(recorder)
    with tracer.start_as_current_span("readable"):
        pass
    monkeypatch.setattr(ReadableSpan, "_name", Renamed("_name"), raising=False)
    monkeypatch.setattr(ReadableSpan, "name", property(lambda span: 1 / 0))
    with tracer.start_as_current_span("lost"):
        pass
    table = recorder.snapshot()
    assert len(table) == 1
    assert recorder.skipped == {"unreadable span (ZeroDivisionError)": 1}


class Forwarding(trace_api.TracerProvider):
    """A provider of another library that forwards to an SDK provider (as Logfire's
    ProxyTracerProvider does): adding a processor to it adds it to the inner one."""

    def __init__(self, inner: TracerProvider) -> None:
        self.inner = inner

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace_api.Tracer:
        return self.inner.get_tracer(*args, **kwargs)

    def add_span_processor(self, processor: Any) -> None:
        self.inner.add_span_processor(processor)


def test_a_span_passed_on_twice_is_recorded_once() -> None:
    recorder = SpanRecorder()
    inner, _ = recorded(recorder)
    outer = Forwarding(inner)
    outer.add_span_processor(recorder)  # the recorder is now on `inner` twice
    tracer = outer.get_tracer("t")
    for _ in range(3):
        with tracer.start_as_current_span("chat"):
            pass
    tracer.start_span("never ended")
    table = recorder.snapshot()
    assert len(table) == 3
    assert recorder.twice == 3
    assert recorder.skipped == {"span not ended when the capture ended": 1}
    assert "3 span(s) reached the capture twice" in recorder.notes()[0]


def test_spans_of_two_threads_passed_on_twice_are_recorded_once() -> None:
    import threading

    recorder = SpanRecorder()
    inner, _ = recorded(recorder)
    Forwarding(inner).add_span_processor(recorder)
    tracer = inner.get_tracer("t")

    def work() -> None:
        for _ in range(2000):
            with tracer.start_as_current_span("chat"):
                pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(recorder.snapshot()) == 8000
    assert recorder.twice == 8000
    assert recorder.skipped == {}


def test_a_value_beyond_a_float_costs_that_value_only() -> None:
    recorder = SpanRecorder(["score"])
    _, tracer = recorded(recorder)
    with tracer.start_as_current_span("huge") as span:
        span.set_attribute("score", 10**400)
        span.set_attribute("prompt", "kept")
        span.set_attribute("big", 10**400)
    with tracer.start_as_current_span("fine") as span:
        span.set_attribute("score", 0.5)
    table = recorder.snapshot()
    assert [table.names[i] for i in table.name_idx] == ["huge", "fine"]
    assert table.numeric["score"][0].tolist() == [1]
    assert list(table.detail["prompt"][1]) == ["kept"]
    assert list(table.detail["big"][1]) == [10**400]
    assert recorder.skipped == {"non-numeric or non-finite 'score' attribute": 1}


def test_scores_added_out_of_order_stay_in_row_order_and_are_found() -> None:
    recorder = SpanRecorder(["score"])
    _, tracer = recorded(recorder)
    for i in range(3):
        with tracer.start_as_current_span("chat") as span:
            span.add_event(EVALUATION_EVENT, {EVALUATION_NAME: "judge", EVALUATION_SCORE: i})
    recorder.add_score(2, "relevance", 0.3)
    recorder.add_score(0, "relevance", 0.1)
    recorder.add_score(1, "judge", 9.0)  # a second score of the same name for row 1
    recorder.add_evaluation_record(0, 0, {})  # resolved at the end: for no captured span
    table = recorder.snapshot()
    for rows, _ in table.numeric.values():
        assert np.all(np.diff(rows) >= 0)
    assert table.numeric["relevance"][0].tolist() == [0, 2]
    assert table.numeric["relevance"][1].tolist() == [0.1, 0.3]
    assert _attributes(table, 0) == {"judge": 0.0, "relevance": 0.1}
    assert _attributes(table, 2) == {"judge": 2.0, "relevance": 0.3}
    views = {v.row: v.attributes for v in recorder.test_spans()}
    assert views[0] == {"judge": 0.0, "relevance": 0.1}


def test_scores_from_log_records_in_any_order_are_sorted_in() -> None:
    recorder = SpanRecorder()
    _, tracer = recorded(recorder)
    contexts = []
    for _ in range(4):
        with tracer.start_as_current_span("chat") as span:
            contexts.append(span.get_span_context())
    for i in (3, 0, 2, 1):  # the evaluations arrive in another order than the spans
        ctx = contexts[i]
        recorder.add_evaluation_record(
            ctx.trace_id, ctx.span_id, {EVALUATION_NAME: "judge", EVALUATION_SCORE: i / 10}
        )
    recorder.add_score(0, "judge", 0.05)
    rows, values = recorder.snapshot().numeric["judge"]
    assert rows.tolist() == [0, 0, 1, 2, 3]
    assert values.tolist() == [0.05, 0.0, 0.1, 0.2, 0.3]


def entering(seen: dict[int, list[int]], batch: list[tuple[int, int]]) -> list[bool]:
    """What Largest.enter must answer, group by group in plain Python: a new value enters
    when it is among the WORST_KEPT largest of its group after the batch, of equal values
    the earlier (kept ones first, then the batch in order)."""
    entered = []
    for i, (group, value) in enumerate(batch):
        before = seen.get(group, []) + [v for g, v in batch[:i] if g == group]
        after = [v for g, v in batch[i + 1 :] if g == group]
        ahead = sum(v >= value for v in before) + sum(v > value for v in after)
        entered.append(ahead < WORST_KEPT)
    return entered


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 4), st.integers(0, 30)), max_size=60),
        min_size=1,
        max_size=4,
    )
)
def test_largest_keeps_the_top_of_each_group(batches: list[list[tuple[int, int]]]) -> None:
    largest = Largest(np.int64)
    seen: dict[int, list[int]] = {}
    for batch in batches:
        groups = np.array([g for g, _ in batch], np.int64)
        entered = largest.enter(groups, np.array([v for _, v in batch], np.int64))
        assert entered.tolist() == entering(seen, batch)
        for group, value in batch:
            seen.setdefault(group, []).append(value)
        seen = {g: sorted(v, reverse=True)[:WORST_KEPT] for g, v in seen.items()}
        kept: dict[int, list[int]] = {}
        for g, v in zip(largest.groups.tolist(), largest.values.tolist(), strict=True):
            kept.setdefault(g, []).append(v)
        assert {g: sorted(v, reverse=True) for g, v in kept.items()} == seen


def test_sampling_over_many_names_flags_the_slowest_of_each() -> None:
    recorder = SpanRecorder(sample_rate=0.0)
    _, tracer = recorded(recorder)
    recorder.mark_test("test_many")
    names = 5000
    for i in range(3 * names):  # three spans a name; the last of each is the slowest
        span = tracer.start_span(f"GET /users/{i % names}", start_time=0)
        span.set_attribute("prompt", str(i))
        span.end(end_time=1_000 * (1 + i // names))
    recorder.mark_test(None)
    table = recorder.snapshot()
    assert table.has_detail.all()  # fewer than WORST_KEPT a name: all are the slowest
    assert len(table.detail["prompt"][1]) == 3 * names


def test_a_str_subclass_or_missing_name_is_recorded_as_text_on_the_fast_path() -> None:
    from enum import Enum

    class Step(str, Enum):
        CHAT = "chat"

    recorder = SpanRecorder()
    _, tracer = recorded(recorder)
    with tracer.start_as_current_span(Step.CHAT):
        pass
    tracer.start_span(None).end()  # type: ignore[arg-type]
    table = recorder.snapshot()
    assert table.names == ("chat", "None")
    assert all(type(name) is str for name in table.names)
    assert recorder.notes() == []  # still the fast path
    assert recorder.skipped == {}


def test_a_failing_sampling_pass_keeps_the_detail_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_llmobs.capture.sampling import DetailSampler

    def broken(*args: Any) -> Any:
        raise MemoryError("no room")

    monkeypatch.setattr(DetailSampler, "keep", broken)
    recorder = SpanRecorder(sample_rate=0.0)
    _, tracer = recorded(recorder)
    recorder.mark_test("test_a")
    with tracer.start_as_current_span("chat") as span:
        span.set_attribute("prompt", "p")
    recorder.mark_test(None)  # the pass fails here: the hook must not raise
    recorder.mark_test("test_b")
    table = recorder.snapshot()
    assert table.has_detail.all()
    assert recorder.notes() == [
        "detail sampling failed; detail kept from then on: MemoryError: no room"
    ]


def test_a_process_forked_while_the_capture_is_locked_does_not_hang() -> None:
    import os
    import time
    import warnings

    recorder = SpanRecorder(sample_rate=0.5)
    _, tracer = recorded(recorder)
    recorder._lock.acquire()  # as if another thread were recording at the fork
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads alive
        pid = os.fork()
    if pid == 0:  # the child: its spans are not this session's; they must not block
        code = 1
        try:
            with tracer.start_as_current_span("in the child"):
                pass
            code = 0
        finally:
            os._exit(code)
    recorder._lock.release()
    deadline = time.monotonic() + 20
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    if done[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert done[0] == pid, "the forked child hung on the capture's lock"
    assert os.waitstatus_to_exitcode(done[1]) == 0


def test_a_score_never_turns_later_attributes_of_its_name_into_scores() -> None:
    recorder = SpanRecorder(["quality"])
    _, tracer = recorded(recorder)
    for i in range(3):
        with tracer.start_as_current_span("judge") as span:
            span.set_attribute("relevance", 0.5)  # an attribute, not a configured score
            span.set_attribute("quality", 0.9)
        if i == 0:
            recorder.add_score(0, "relevance", 0.7)  # the first test scores its span
    table = recorder.snapshot()
    assert table.numeric["relevance"][0].tolist() == [0]  # the score only, whatever the order
    assert table.numeric["relevance"][1].tolist() == [0.7]
    assert list(table.detail["relevance"][1]) == [0.5, 0.5, 0.5]
    assert table.numeric["quality"][0].tolist() == [0, 1, 2]
