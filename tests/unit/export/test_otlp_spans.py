"""A captured run's spans as SDK spans to export: the ids, times and status the SDK gave
them, the test each ran in, attributes as the reports show them, and one resource per
service."""

from __future__ import annotations

import tracemalloc

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import StatusCode

from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.export.otlp_send import BATCH
from pytest_llmobs.export.otlp_spans import (
    RUN_ATTRIBUTES,
    SCOPE,
    integer_typed,
    spans_for_export,
)
from pytest_llmobs.gate import semconv
from pytest_llmobs.gate.model import SpanTable
from pytest_llmobs.gate.redact import MASK, Redactor, redactor
from tests.unit.export.captured import KEY, PROMPT, RESOURCE, SERVICE, TEST_ID, Captured, capture


@pytest.fixture(scope="module")
def captured() -> Captured:
    return capture()


@pytest.fixture(scope="module")
def exported(captured: Captured) -> dict[str, ReadableSpan]:
    spans = spans_for_export(captured.table, Redactor(), RESOURCE)
    assert len(spans) == len(captured.table) == len(captured.made) == 6
    return {span.name: span for span in spans}


def _ids(span: ReadableSpan) -> tuple[int, int, int | None]:
    assert span.context is not None
    parent = span.parent.span_id if span.parent is not None else None
    return span.context.trace_id, span.context.span_id, parent


def test_each_span_keeps_the_ids_parent_times_and_status_the_sdk_gave_it(
    captured: Captured, exported: dict[str, ReadableSpan]
) -> None:
    for name, span in exported.items():
        assert span.context is not None
        made = captured.made[span.context.span_id]
        assert (name, _ids(span)) == (made.name, _ids(made))
        assert (span.start_time, span.end_time) == (made.start_time, made.end_time)
        assert span.status.status_code == (StatusCode.ERROR if name == "tool" else StatusCode.UNSET)
        assert span.instrumentation_scope is not None
        assert span.instrumentation_scope.name == SCOPE
        assert span.context.trace_flags.sampled
        assert not span.context.is_remote
    assert exported["pipeline"].parent is None
    assert exported["vector search"].parent is not None
    assert exported["vector search"].parent.span_id == _ids(exported["retrieve"])[1]


def test_spans_of_a_test_carry_its_id_and_received_ones_say_so(
    exported: dict[str, ReadableSpan],
) -> None:
    nodeids = {name: (s.attributes or {}).get("test.nodeid") for name, s in exported.items()}
    assert nodeids == {**dict.fromkeys(exported, TEST_ID), "session teardown": None}
    received = {name for name, s in exported.items() if (s.attributes or {}).get("llmobs.received")}
    assert received == {"retrieve", "vector search"}


def test_attributes_pass_the_redactor_and_numbers_pass_unchanged(
    exported: dict[str, ReadableSpan],
) -> None:
    llm = dict(exported["llm"].attributes or {})
    assert llm["gen_ai.usage.input_tokens"] == 812
    assert type(llm["gen_ai.usage.input_tokens"]) is int  # the capture holds 812.0
    assert llm["gen_ai.request.model"] == f"gpt-4o key={MASK}"  # shown, its key masked
    assert llm["gen_ai.prompt"] == f"[{len(PROMPT)} characters withheld]"
    run = {k: RESOURCE[k] for k in RUN_ATTRIBUTES}  # the run's names, on every span too
    assert exported["pipeline"].attributes == {"request_id": "r-1", "test.nodeid": TEST_ID, **run}
    assert (exported["retrieve"].attributes or {})["k"] == 3
    assert not any(
        KEY in str(value) or PROMPT[:40] in str(value)
        for span in exported.values()
        for value in (*(span.attributes or {}).values(), *_event_values(span))
    )


def _event_values(span: ReadableSpan) -> list[object]:
    return [v for event in span.events for v in (event.attributes or {}).values()]


def test_events_keep_name_and_time_and_their_attributes_pass_the_redactor(
    captured: Captured, exported: dict[str, ReadableSpan]
) -> None:
    for name in ("llm", "tool"):
        span = exported[name]
        assert span.context is not None
        made = captured.made[span.context.span_id]
        assert [(e.name, e.timestamp) for e in span.events] == [
            (e.name, e.timestamp) for e in made.events
        ]
    [first_token] = exported["llm"].events
    assert first_token.attributes == {"gen_ai.response.model": "gpt-4o"}
    [exception] = exported["tool"].events
    attributes = exception.attributes or {}
    message = f"the tool failed with {KEY}"
    assert attributes["exception.message"] == f"[{len(message)} characters withheld]"
    # allowed by configuration, it is shown with the key masked
    shown = spans_for_export(captured.table, redactor(allow=["exception.*"]), RESOURCE)
    [exception] = next(s for s in shown if s.name == "tool").events
    assert (exception.attributes or {})["exception.message"] == f"the tool failed with {MASK}"


def test_a_service_s_spans_go_under_a_resource_of_their_own(
    exported: dict[str, ReadableSpan],
) -> None:
    run = exported["llm"].resource
    assert dict(run.attributes) == RESOURCE
    service = exported["retrieve"].resource
    assert dict(service.attributes) == {**RESOURCE, "service.name": SERVICE}
    assert exported["vector search"].resource is service  # one Resource per service
    assert all(exported[n].resource is run for n in ("pipeline", "tool", "session teardown"))
    assert "service.name" not in (exported["retrieve"].attributes or {})
    # as the exporter sends them: two resources, each with its spans under the scope
    request = encode_spans(list(exported.values()))
    grouped = {
        next(a.value.string_value for a in r.resource.attributes if a.key == "service.name"): [
            s.name for scope in r.scope_spans for s in scope.spans
        ]
        for r in request.resource_spans
    }
    assert {k: sorted(v) for k, v in grouped.items()} == {
        "llmobs": ["llm", "pipeline", "session teardown", "tool"],
        SERVICE: ["retrieve", "vector search"],
    }


def test_spans_whose_detail_was_not_kept_keep_their_numbers_and_grouping_values() -> None:
    recorder = SpanRecorder(["score"], sample_rate=0.0, always_kept=["cohort"])
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    recorder.mark_test("t.py::test_a")
    for _ in range(60):
        attributes: dict[str, str | float] = {
            "score": 0.75,
            "cohort": "free",
            "gen_ai.prompt": "hi",
        }
        with provider.get_tracer("t").start_as_current_span("llm", attributes=attributes):
            pass
    recorder.mark_test(None)
    table = recorder.snapshot()
    spans = spans_for_export(table, Redactor(), {"service.name": "llmobs"})
    kept = table.has_detail.tolist()
    assert 0 < sum(kept) < len(kept)  # sampled out but for the slowest few
    numbers = {"score": 0.75, "cohort": "[4 characters withheld]", "test.nodeid": "t.py::test_a"}
    for span, detail in zip(spans, kept, strict=True):
        prompt = {"gen_ai.prompt": "[2 characters withheld]"} if detail else {}
        assert span.attributes == {**numbers, **prompt}


def test_an_empty_capture_exports_nothing() -> None:
    recorder = SpanRecorder([])
    spans = spans_for_export(recorder.snapshot(), Redactor(), {"service.name": "x"})
    assert (len(spans), list(spans), spans[0:512]) == (0, [], [])
    with pytest.raises(IndexError):
        spans[0]


def _recorded(spans: list[dict[str, float]], numeric: list[str]) -> SpanTable:
    """A table of one span a dict of attributes, captured by the SpanRecorder."""
    recorder = SpanRecorder(numeric)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    for attributes in spans:
        with provider.get_tracer("t").start_as_current_span("llm", attributes=attributes):
            pass
    return recorder.snapshot()


def test_token_counts_go_as_ints_and_other_numbers_as_doubles() -> None:
    counts = {
        "gen_ai.usage.input_tokens": 812,
        "gen_ai.usage.output_tokens": 64,
        "gen_ai.usage.total_tokens": 876,
        "llm.token_count.prompt": 812,  # OpenInference's names
        "llm.token_count.completion_details.reasoning": 12,
    }
    others = {"answer_relevance": 1.0, "llmobs.cost_usd": 2.0}
    odd = {"gen_ai.usage.input_tokens": 2.5}  # not a count the app could have sent
    table = _recorded([{**counts, **others}, odd], [*counts, *others])
    assert table.numeric["gen_ai.usage.total_tokens"][1].dtype.kind == "f"
    request = encode_spans(list(spans_for_export(table, Redactor(), {"service.name": "x"})))
    [first, second] = request.resource_spans[0].scope_spans[0].spans
    sent = {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in first.attributes}
    kinds = {a.key: a.value.WhichOneof("value") for a in first.attributes}
    assert sent == {**counts, **others}
    assert kinds == {**dict.fromkeys(counts, "int_value"), **dict.fromkeys(others, "double_value")}
    assert [(a.key, a.value.double_value) for a in second.attributes] == [*odd.items()]


def test_every_name_of_a_token_count_is_integer_typed() -> None:
    names = semconv.all_names([*semconv.TOKEN_METRICS.values(), "gen_ai.usage.total_tokens"])
    assert {"gen_ai.usage.prompt_tokens", "llm.token_count.total"} <= names
    assert all(integer_typed(name) for name in names)
    assert not any(
        integer_typed(name)
        for name in ("answer_relevance", semconv.COST_ATTRIBUTE, "gen_ai.request.temperature")
    )


def test_spans_are_made_a_slice_at_a_time_and_read_as_a_list_s() -> None:
    table = _recorded([{"score": 0.5, "gen_ai.usage.input_tokens": 9}] * 8 * BATCH, ["score"])
    tracemalloc.start()
    try:
        spans = spans_for_export(table, Redactor(), {"service.name": "x"})
        for first in range(0, len(spans), BATCH):  # as the sender reads them
            batch = spans[first : first + BATCH]
            assert len(batch) == BATCH
        del batch
        lazy = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        every = list(spans)
        held = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert lazy * 2 < held  # a batch or two of spans at a time, not all eight
    ids = table.span_id.tolist()
    assert [s.context.span_id for s in every if s.context] == ids
    assert [s.context.span_id for s in spans[1::BATCH] if s.context] == ids[1::BATCH]
    last = spans[-1]
    assert last.context is not None
    assert (last.context.span_id, last.attributes) == (ids[-1], every[-1].attributes)
    with pytest.raises(IndexError):
        spans[len(spans)]
