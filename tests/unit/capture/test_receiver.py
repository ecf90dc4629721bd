"""The OTLP receiver on loopback: spans from the official exporter and from raw OTLP/JSON
reach the recorder whole; bad requests get the status the OTLP specification names."""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from pytest_llmobs.capture.receiver import Receiver
from pytest_llmobs.capture.recorder import SpanRecorder

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN, PARENT = "eee19b7ec3c1b174", "eee19b7ec3c1b173"


@pytest.fixture
def recorder() -> SpanRecorder:
    return SpanRecorder(["eval.score"])


@pytest.fixture
def receiver(recorder: SpanRecorder) -> Iterator[Receiver]:
    receiver = Receiver(recorder.receive, limit=64 * 1024)
    receiver.start()
    yield receiver
    receiver.stop()


def post(
    receiver: Receiver, body: bytes, kind: str, path: str = "/v1/traces", **headers: str
) -> tuple[int, bytes, str]:
    request = urllib.request.Request(
        f"http://{receiver.endpoint}{path}", body, {"Content-Type": kind, **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read(), answer.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers["Content-Type"]


def otlp_json(**span: object) -> bytes:
    fields: dict[str, object] = {
        "traceId": TRACE, "spanId": SPAN, "parentSpanId": PARENT, "name": "retrieve",
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000250000000",
        "attributes": [{"key": "eval.score", "value": {"doubleValue": 0.75}},
                       {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}],
        "status": {"code": 2},
        "events": [{"name": "cache miss", "timeUnixNano": "1700000000100000000"}],
    }  # fmt: skip
    fields.update(span)
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "rag-svc"}}]}
    return json.dumps(
        {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [fields]}]}]}
    ).encode()


def test_spans_from_the_official_exporter_are_recorded_whole(
    recorder: SpanRecorder, receiver: Receiver
) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "rag-svc"}))
    exporter = OTLPSpanExporter(endpoint=f"http://{receiver.endpoint}/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("svc")
    with (
        tracer.start_as_current_span("request") as root,
        tracer.start_as_current_span("llm") as llm,
    ):
        llm.set_attribute("eval.score", 0.5)
        llm.add_event("retry", {"attempt": 2})
        llm.set_status(Status(StatusCode.ERROR))
    provider.shutdown()
    table = recorder.snapshot()
    assert (table.names, len(table), receiver.spans, receiver.requests) == (
        ("llm", "request"),
        2,
        2,
        2,
    )
    assert list(table.error) == [True, False]
    assert table.parent_id[0] == root.get_span_context().span_id
    trace_id = (int(table.trace_hi[0]) << 64) | int(table.trace_lo[0])
    assert trace_id == llm.get_span_context().trace_id
    assert list(table.numeric["eval.score"][1]) == [0.5]
    _, values = table.detail["service.name"]
    assert list(values) == ["rag-svc", "rag-svc"]  # the resource's, for group_by
    assert [(e.row, e.name, e.attributes) for e in table.events] == [(0, "retry", {"attempt": 2})]


def gzipped(*parts: bytes) -> bytes:
    """A gzip body of a member per part (concatenated members are one valid gzip body)."""
    return b"".join(gzip.compress(part, mtime=0) for part in parts)


@pytest.mark.parametrize("encoding", ["", "gzip", " GZip ", "gzip, in 2 members"])
def test_a_raw_otlp_json_post_is_recorded(
    recorder: SpanRecorder, receiver: Receiver, encoding: str
) -> None:
    body = otlp_json()
    if encoding:
        body = gzipped(body[:99], body[99:]) if "2" in encoding else gzipped(body)
    headers = {"Content-Encoding": encoding.split(",")[0]} if encoding else {}
    status, answer, kind = post(receiver, body, "application/json", **headers)
    assert (status, json.loads(answer), kind) == (200, {}, "application/json")
    table = recorder.snapshot()
    assert (table.names, int(table.duration_ns[0]), bool(table.error[0])) == (
        ("retrieve",),
        250_000_000,
        True,
    )
    assert f"{int(table.trace_hi[0]):016x}{int(table.trace_lo[0]):016x}" == TRACE
    assert f"{int(table.parent_id[0]):016x}" == PARENT
    assert list(table.numeric["eval.score"][1]) == [0.75]
    assert table.detail["gen_ai.usage.input_tokens"][1] == [12]


def test_spans_without_ids_or_ending_before_they_start_are_a_partial_success(
    recorder: SpanRecorder, receiver: Receiver
) -> None:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    good = spans.add(name="ok", trace_id=bytes.fromhex(TRACE), span_id=bytes.fromhex(SPAN))
    good.start_time_unix_nano, good.end_time_unix_nano = 10, 20
    spans.add(name="no ids", start_time_unix_nano=10, end_time_unix_nano=20)
    backwards = spans.add(name="backwards", trace_id=bytes.fromhex(TRACE), span_id=b"\x01" * 8)
    backwards.start_time_unix_nano, backwards.end_time_unix_nano = 20, 10
    status, answer, _ = post(receiver, request.SerializeToString(), "application/x-protobuf")
    response = ExportTraceServiceResponse.FromString(answer)
    assert (status, response.partial_success.rejected_spans) == (200, 2)
    assert "span without a valid trace or span id" in response.partial_success.error_message
    assert recorder.snapshot().names == ("ok",)
    assert sum(receiver.rejected.values()) == 2


@pytest.mark.parametrize(
    ("body", "kind", "headers", "status", "said"),
    [
        (b"\xff\xff\xff", "application/x-protobuf", {}, 400, "not an ExportTraceServiceRequest"),
        (b"{not json", "application/json", {}, 400, "cannot be parsed"),
        (b'{"resourceSpans": {}}', "application/json", {}, 400, "resourceSpans is not a list"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
         "application/json", {}, 400, "not a valid OTLP request"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"value": {}}]}]}]}]}',
         "application/json", {}, 400, "an attribute has no key"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
         "application/json", {}, 400, "startTimeUnixNano is not a 64-bit integer"),
        (b'{"resourceSpans": [{"scopeSpans": [7]}]}', "application/json", {}, 400,
         "scopeSpans holds a value that is not an object"),
        (b"[" * 20_000, "application/json", {}, 400, "maximum recursion depth"),
        (b"spans", "text/plain", {}, 415, "unsupported Content-Type"),
        (b"{}", "application/json", {"Content-Encoding": "br"}, 415, "Content-Encoding"),
        (b"not gzip", "application/json", {"Content-Encoding": "gzip"}, 400, "gzip"),
        (gzip.compress(b"{}", mtime=0)[:-6], "application/json", {"Content-Encoding": "gzip"}, 400,
         "truncated"),
        (b"x" * (64 * 1024 + 1), "application/json", {}, 413, "over 65536 bytes"),
        (gzip.compress(b" " * (64 * 1024 + 1), mtime=0), "application/json",
         {"Content-Encoding": "gzip"}, 413, "decompressed body is over"),
        # every member counts: one limit across them, each whole, nothing after the last
        (gzipped(b" " * 40_000, b" " * 40_000), "application/json",
         {"Content-Encoding": "gzip"}, 413, "decompressed body is over"),
        (gzipped(b"{}", b"{}")[:-6], "application/json", {"Content-Encoding": "gzip"}, 400,
         "truncated"),
        (gzipped(b"{}") + b"junk", "application/json", {"Content-Encoding": "gzip"}, 400,
         "cannot be decompressed"),
    ],
)  # fmt: skip
def test_a_bad_request_gets_its_status_and_a_message_and_records_nothing(
    recorder: SpanRecorder,
    receiver: Receiver,
    body: bytes,
    kind: str,
    headers: dict[str, str],
    status: int,
    said: str,
) -> None:
    got, answer, answered_as = post(receiver, body, kind, **headers)
    assert got == status
    if answered_as == "application/json":
        assert said in json.loads(answer)["message"]
    else:
        assert said.encode() in answer  # a google.rpc.Status, its message as is
    assert len(recorder.snapshot()) == 0
    assert sum(receiver.refused.values()) == 1


@pytest.mark.parametrize("kind", ["application/json", "application/x-protobuf"])
def test_metrics_are_dropped_as_kept_another_path_is_404_a_get_405_and_it_serves_on(
    recorder: SpanRecorder, receiver: Receiver, kind: str
) -> None:
    empty = b"{}" if kind == "application/json" else b""  # an empty ExportMetricsServiceResponse
    assert post(receiver, b"\x0a\x00" * 50, kind, path="/v1/metrics") == (200, empty, kind)
    assert post(receiver, otlp_json(), "application/json", path="/v1/other")[0] == 404
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"http://{receiver.endpoint}/v1/traces", timeout=10)
    assert (raised.value.code, raised.value.headers["Allow"]) == (405, "POST")
    assert post(receiver, otlp_json(), "application/json")[0] == 200
    assert len(recorder.snapshot()) == 1
    assert (receiver.refused, receiver.lost) == ({"404: no such OTLP path": 1}, {})


def test_spans_received_after_the_capture_ended_are_counted_late(
    recorder: SpanRecorder, receiver: Receiver
) -> None:
    recorder.snapshot()
    assert post(receiver, otlp_json(), "application/json")[0] == 200
    assert (recorder.late, len(recorder.snapshot())) == (1, 0)


def test_received_spans_are_attributed_to_the_test_running_when_they_started(
    recorder: SpanRecorder, receiver: Receiver
) -> None:
    recorder.mark_test("test_a")
    now = time.time_ns()
    body = otlp_json(startTimeUnixNano=str(now), endTimeUnixNano=str(now + 1000))
    assert post(receiver, body, "application/json")[0] == 200
    recorder.mark_test(None)
    table = recorder.snapshot()
    assert table.tests[int(table.test_idx[0])] == "test_a"


def test_a_span_this_process_exports_to_the_receiver_too_is_counted_once(
    recorder: SpanRecorder, receiver: Receiver
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(recorder)  # the capture, as on the app's provider
    exporter = OTLPSpanExporter(endpoint=f"http://{receiver.endpoint}/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # and the app's own export
    tracer = provider.get_tracer("app")
    for _ in range(3):
        with tracer.start_as_current_span("llm"):
            pass
    provider.shutdown()
    assert (len(recorder.snapshot()), receiver.spans, recorder.came_back) == (3, 3, 3)
    assert any("came back over OTLP" in note for note in recorder.notes())


def test_an_ipv6_loopback_receiver_names_its_endpoint_as_a_url_takes_it(
    recorder: SpanRecorder,
) -> None:
    try:
        receiver = Receiver(recorder.receive, "::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    receiver.start()
    try:
        assert receiver.endpoint.startswith("[::1]:")
        assert post(receiver, otlp_json(), "application/json")[0] == 200
    finally:
        receiver.stop()
    assert len(recorder.snapshot()) == 1


def test_a_refusal_in_json_is_labelled_json(receiver: Receiver) -> None:
    status, answer, kind = post(receiver, b"spans", "text/plain")
    assert (status, kind) == (415, "application/json")
    assert "unsupported Content-Type" in json.loads(answer)["message"]


@pytest.mark.parametrize(("keys", "kept"), [({"service.name"}, ["rag-svc"]), (set(), None)])
def test_only_the_resource_attributes_a_run_keeps_join_its_spans(
    recorder: SpanRecorder, keys: set[str], kept: list[str] | None
) -> None:
    receiver = Receiver(recorder.receive, resource_keys=keys)
    receiver.start()
    try:
        assert post(receiver, otlp_json(), "application/json")[0] == 200
    finally:
        receiver.stop()
    found = recorder.snapshot().detail.get("service.name")
    assert (list(found[1]) if found else None) == kept
