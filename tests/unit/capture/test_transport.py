"""SpanTables travel as plain types and merge back with names and tests re-interned."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider

from pytest_llmobs.capture import transport
from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.gate.model import RECEIVED_BY_TRACE, SpanTable

PLAIN = (str, int, float, bool, bytes, list, tuple, dict, type(None))  # what execnet ships


def record(names: list[str], test: str, score: float) -> SpanTable:
    recorder = SpanRecorder(["score"])
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    recorder.mark_test(test)
    for name in names:
        with provider.get_tracer("t").start_as_current_span(name) as span:
            span.set_attribute("score", score)
            span.set_attribute("model", f"m-{name}")
            span.set_attribute("temperature", np.float64(0.25))  # a float subclass
            span.add_event("retry", {"attempt": 2, "tags": ["a", "b"]})
    recorder.mark_test(None)
    return recorder.snapshot()


def only_plain(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and only_plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(only_plain(v) for v in value)
    return type(value) in PLAIN


def test_payload_is_plain_and_round_trips() -> None:
    table = record(["a", "b", "a"], "test_x", 0.5)
    payload = transport.to_payload(table)
    assert only_plain(payload)
    back = transport.from_payload(pickle.loads(pickle.dumps(payload)))
    assert back.names == table.names
    assert back.tests == table.tests
    for column in ("name_idx", "test_idx", "start_ns", "duration_ns", "error", "span_id"):
        np.testing.assert_array_equal(getattr(back, column), getattr(table, column))
    np.testing.assert_array_equal(back.numeric["score"][1], [0.5, 0.5, 0.5])
    assert list(back.detail["model"][1]) == ["m-a", "m-b", "m-a"]
    assert back.events == table.events
    assert {type(v) for v in table.detail["temperature"][1]} == {float}
    assert back.events[0].attributes == {"attempt": 2, "tags": ("a", "b")}
    assert back.has_detail.all()


def test_merge_reinterns_names_tests_and_attribute_rows() -> None:
    first = record(["a", "b"], "test_1", 0.25)
    second = record(["b", "c", "c"], "test_2", 0.75)
    merged = transport.merge([first, second])
    assert merged.names == ("a", "b", "c")
    assert merged.tests == ("", "test_1", "test_2")
    assert [merged.names[i] for i in merged.name_idx] == ["a", "b", "b", "c", "c"]
    assert [merged.tests[i] for i in merged.test_idx] == ["test_1"] * 2 + ["test_2"] * 3
    rows, values = merged.numeric["score"]
    assert list(rows) == [0, 1, 2, 3, 4]
    assert list(values) == [0.25, 0.25, 0.75, 0.75, 0.75]
    rows, models = merged.detail["model"]
    assert [merged.names[merged.name_idx[r]] for r in rows] == ["a", "b", "b", "c", "c"]
    assert models == ("m-a", "m-b", "m-b", "m-c", "m-c")
    assert [e.row for e in merged.events] == [0, 1, 2, 3, 4]


def test_merge_of_nothing_is_empty() -> None:
    assert len(transport.merge([])) == 0


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p.pop("columns"),
        lambda p: p.update(version=99),
        lambda p: p["columns"].update(span_id=b"\x00" * 3),
        lambda p: p.update(names=[]),
    ],
    ids=["no-columns", "version", "torn-column", "index-past-names"],
)
def test_malformed_payloads_are_payload_errors(mangle: object) -> None:
    payload = transport.to_payload(record(["a"], "t", 1.0))
    mangle(payload)  # type: ignore[operator]
    with pytest.raises(transport.PayloadError):
        transport.from_payload(payload)


def received_table(test: str) -> SpanTable:
    """A table with a span made here and one received from a service."""
    recorder = SpanRecorder()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    recorder.mark_test(test)
    with provider.get_tracer("t").start_as_current_span("own") as own:
        trace = own.get_span_context().trace_id
    start = time.time_ns()
    recorder.receive([("svc", start, start + 5, trace, 77, 0, False, {}, [])])
    recorder.mark_test(None)
    return recorder.snapshot()


def test_the_received_marker_travels_and_merges_with_tables_without_one() -> None:
    table = received_table("test_r")
    assert table.received is not None
    assert table.received.tolist() == [0, RECEIVED_BY_TRACE]
    back = transport.from_payload(pickle.loads(pickle.dumps(transport.to_payload(table))))
    assert back.received is not None
    np.testing.assert_array_equal(back.received, table.received)
    merged = transport.merge([record(["a"], "test_1", 0.5), back])
    assert merged.received is not None
    assert merged.received.tolist() == [0, 0, RECEIVED_BY_TRACE]
    assert transport.merge([record(["a"], "t1", 0.5), record(["b"], "t2", 0.5)]).received is None


@pytest.mark.parametrize(
    ("marker", "said"), [(b"\x00", "different lengths"), (b"\x00\xff", "one of 0 to 3")]
)
def test_a_bad_received_marker_is_a_payload_error(marker: bytes, said: str) -> None:
    payload = transport.to_payload(received_table("test_r"))
    payload["received"] = marker  # \xff: -1, which would break the counts by way
    with pytest.raises(transport.PayloadError, match=said):
        transport.from_payload(payload)
