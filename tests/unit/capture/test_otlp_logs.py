"""Evaluation results exported as OTLP log records: decoded in either encoding (with the
event name as a field or, as older SDKs wrote it, an attribute), sent to the recorder by
the receiver, and what is not an evaluation left without a word."""

from __future__ import annotations

import gzip
import inspect
import json
import types
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as ProtoLogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

from pytest_llmobs.capture import otlp, otlp_logs
from pytest_llmobs.capture.otlp_logs import (
    EVENT_NAME_ATTRIBUTE,
    NO_IDS,
    _proto_event_name,
    decode_logs,
)
from pytest_llmobs.capture.otlp_values import CUT, MAX_ATTRIBUTE_CHARS, OtlpError
from pytest_llmobs.capture.receiver import Receiver
from pytest_llmobs.capture.recorder import SpanRecorder
from tests.unit.capture.test_receiver import TRACE, otlp_json, post

SPAN = "eee19b7ec3c1b174"
EVALUATION = "gen_ai.evaluation.result"
SCORE = [{"key": "gen_ai.evaluation.name", "value": {"stringValue": "relevance"}},
         {"key": "gen_ai.evaluation.score.value", "value": {"doubleValue": 0.75}}]  # fmt: skip


def json_logs(*records: dict[str, Any]) -> bytes:
    scope = {"scopeLogs": [{"logRecords": list(records)}]}
    return json.dumps({"resourceLogs": [scope]}).encode()


def record(**fields: Any) -> dict[str, Any]:
    return {"traceId": TRACE, "spanId": SPAN, "attributes": SCORE, **fields}


def proto_logs(event_name: str = "", *attributes: tuple[str, str]) -> bytes:
    request = ExportLogsServiceRequest()
    found = request.resource_logs.add().scope_logs.add().log_records.add()
    found.trace_id, found.span_id = bytes.fromhex(TRACE), bytes.fromhex(SPAN)
    if event_name:
        found.event_name = event_name
    for key, text in (*attributes, ("gen_ai.evaluation.name", "relevance")):
        found.attributes.add(key=key).value.string_value = text
    found.attributes.add(key="gen_ai.evaluation.score.value").value.double_value = 0.75
    return bytes(request.SerializeToString())


WANTED = (int(TRACE, 16), int(SPAN, 16))
HAS_EVENT_NAME = "event_name" in ProtoLogRecord.DESCRIPTOR.fields_by_name


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (json_logs(record(eventName=EVALUATION)), "application/json"),
        (json_logs(record(attributes=[
            *SCORE, {"key": "event.name", "value": {"stringValue": EVALUATION}}])),
         "application/json"),
        (proto_logs("", (EVENT_NAME_ATTRIBUTE, EVALUATION)), "application/x-protobuf"),
        # the field, where the installed opentelemetry-proto has it (1.20 has not)
        *([(proto_logs(EVALUATION), "application/x-protobuf")] if HAS_EVENT_NAME else []),
    ],
)  # fmt: skip
def test_an_evaluation_record_is_read_by_its_name_as_a_field_or_an_attribute(
    body: bytes, kind: str
) -> None:
    [(trace_id, span_id, attributes)] = decode_logs(body, kind).evaluations
    assert (trace_id, span_id) == WANTED
    assert attributes["gen_ai.evaluation.name"] == "relevance"
    assert attributes["gen_ai.evaluation.score.value"] == 0.75


def test_without_the_event_name_field_of_newer_protos_the_attribute_is_read() -> None:
    """opentelemetry-proto 1.20's LogRecord has no event_name at all."""
    pair = types.SimpleNamespace(key="event.name", value=types.SimpleNamespace(string_value="x"))
    assert _proto_event_name(types.SimpleNamespace(attributes=[pair])) == "x"


def test_other_records_are_left_and_evaluations_without_ids_rejected() -> None:
    body = json_logs(
        {"body": {"stringValue": "a plain log line"}, "traceId": "zz"},  # ids never read
        record(eventName="something.else"),
        record(eventName=EVALUATION, traceId="", spanId=""),
        record(eventName=EVALUATION, spanId="0000000000000000"),
        record(eventName=EVALUATION),
    )
    decoded = decode_logs(body, "application/json")
    assert len(decoded.evaluations) == 1
    assert decoded.rejected == {NO_IDS: 2}


def test_a_huge_attribute_of_an_evaluation_is_cut_and_counted() -> None:
    big = {"key": "gen_ai.evaluation.explanation", "value": {"stringValue": "x" * 10**6}}
    decoded = decode_logs(
        json_logs(record(eventName=EVALUATION, attributes=[*SCORE, big])), "application/json"
    )
    [(_, _, attributes)] = decoded.evaluations
    assert len(attributes["gen_ai.evaluation.explanation"]) == MAX_ATTRIBUTE_CHARS
    assert decoded.cut == {CUT: 1}


@pytest.mark.parametrize(
    ("body", "kind", "status", "said"),
    [
        (b"\x0a\xff", "application/x-protobuf", 400, "not an ExportLogsServiceRequest"),
        (b"[1]", "application/json", 400, "not an ExportLogsServiceRequest object"),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [7]}]}]}', "application/json",
         400, "not a valid OTLP request"),
        (json_logs(record(eventName=EVALUATION, traceId="xyz")), "application/json", 400,
         "not a valid OTLP request"),
        (b"{}", "text/plain", 415, "unsupported Content-Type"),
    ],
)  # fmt: skip
def test_a_bad_logs_body_is_an_error_with_its_status(
    body: bytes, kind: str, status: int, said: str
) -> None:
    with pytest.raises(OtlpError, match=said) as raised:
        decode_logs(body, kind)
    assert raised.value.status == status


@pytest.fixture
def recorder() -> SpanRecorder:
    return SpanRecorder([])


@pytest.fixture
def receiver(recorder: SpanRecorder) -> Iterator[Receiver]:
    def evaluations(records: list[tuple[int, int, dict[str, Any]]]) -> None:
        for trace_id, span_id, attributes in records:
            recorder.add_evaluation_record(trace_id, span_id, attributes)

    receiver = Receiver(recorder.receive, evaluations=evaluations)
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_an_evaluation_from_the_official_log_exporter_scores_its_received_span(
    recorder: SpanRecorder, receiver: Receiver, compression: Compression
) -> None:
    span_body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": TRACE, "spanId": SPAN, "name": "chat",
        "startTimeUnixNano": "10", "endTimeUnixNano": "20"}]}]}]}).encode()  # fmt: skip
    assert post(receiver, span_body, "application/json")[0] == 200
    provider = LoggerProvider()
    exporter = OTLPLogExporter(
        endpoint=f"http://{receiver.endpoint}/v1/logs", compression=compression
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    attributes: dict[str, str | float] = {
        "gen_ai.evaluation.name": "relevance",
        "gen_ai.evaluation.score.value": 0.5,
    }
    make: Any = LogRecord
    trace_id, span_id = WANTED
    fields: dict[str, Any] = {"trace_id": trace_id, "span_id": span_id, "timestamp": 1}
    fields["trace_flags"] = trace.TraceFlags(trace.TraceFlags.SAMPLED)
    fields["severity_number"] = SeverityNumber.INFO  # 1.20's exporter needs it, and a body
    named: dict[str, Any] = {"event_name": EVALUATION}
    if "event_name" not in inspect.signature(LogRecord).parameters:
        # before 1.35: the Events API's attribute, and the SDK's record its exporters read
        from opentelemetry.sdk import _logs as sdk_logs

        make = sdk_logs.LogRecord  # type: ignore[attr-defined]  # gone from newer stubs
        attributes, named = {**attributes, EVENT_NAME_ATTRIBUTE: EVALUATION}, {}
        fields["resource"] = provider.resource
    logger = provider.get_logger("judge")
    logger.emit(make(**fields, body="judged", attributes=attributes, **named))
    logger.emit(make(**fields, body="not an evaluation"))
    provider.shutdown()
    assert (receiver.requests, receiver.records, receiver.spans) == (3, 1, 1)
    assert not receiver.refused
    table = recorder.snapshot()
    assert list(table.numeric["relevance"][1]) == [0.5]


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_json_logs_post_without_ids_is_a_partial_success(
    receiver: Receiver, gzipped: bool
) -> None:
    body = json_logs(record(eventName=EVALUATION, traceId=""), record(eventName=EVALUATION))
    headers = {"Content-Encoding": "gzip"} if gzipped else {}
    status, answer, kind = post(
        receiver, gzip.compress(body) if gzipped else body, "application/json", "/v1/logs",
        **headers,
    )  # fmt: skip
    partial = json.loads(answer)["partialSuccess"]
    assert (status, kind, partial["rejectedLogRecords"]) == (200, "application/json", "1")
    assert NO_IDS in partial["errorMessage"]
    assert (receiver.records, dict(receiver.rejected_records)) == (1, {NO_IDS: 1})


def test_a_protobuf_logs_answer_is_an_export_logs_service_response(receiver: Receiver) -> None:
    request = ExportLogsServiceRequest()
    found = request.resource_logs.add().scope_logs.add().log_records.add()
    found.attributes.add(key=EVENT_NAME_ATTRIBUTE).value.string_value = EVALUATION
    status, answer, kind = post(
        receiver, request.SerializeToString(), "application/x-protobuf", "/v1/logs"
    )
    response = ExportLogsServiceResponse.FromString(answer)
    assert (status, kind, response.partial_success.rejected_log_records) == (
        200, "application/x-protobuf", 1,
    )  # fmt: skip


@pytest.mark.parametrize("error", [TypeError, ValueError, AttributeError, KeyError])
@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs"])
def test_a_bug_of_the_receiver_walking_json_is_its_500_not_the_clients_400(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, path: str, error: type[Exception]
) -> None:
    def broken(*args: object) -> None:
        raise error("a bug of ours")

    monkeypatch.setattr(otlp if path == "/v1/traces" else otlp_logs, "_add", broken)
    body = otlp_json() if path == "/v1/traces" else json_logs(record(eventName=EVALUATION))
    status, answer, _ = post(receiver, body, "application/json", path)
    said = f"the receiver failed: {error.__name__}"
    assert (status, json.loads(answer)) == (500, {"code": 13, "message": said})
    assert receiver.lost == {(path, "500: the receiver failed"): 1}


NESTED: dict[str, Any] = {"stringValue": "deep"}
for _ in range(70):
    NESTED = {"arrayValue": {"values": [NESTED]}}


@pytest.mark.parametrize(
    ("value", "kept"),
    [({"boolValue": True}, True), ({"boolValue": False}, False), ({"boolValue": None}, None),
     ({"intValue": "-7"}, -7), ({"intValue": 7.0}, 7), ({"doubleValue": "0.5"}, 0.5),
     # as the protobuf JSON mapping reads them: "false" is no bool, nor 0; a whole
     # request of the wrong shape is refused (400), which the collector does too
     ({"boolValue": "false"}, "boolValue is not true or false"),
     ({"boolValue": 0}, "boolValue is not true or false"),
     ({"intValue": True}, "intValue is not a 64-bit integer"),
     ({"intValue": str(2**64)}, "intValue is not a 64-bit integer"),
     ({"doubleValue": 10**400}, "doubleValue is not a number"),
     ({"doubleValue": "many"}, "doubleValue is not a number"),
     (NESTED, "values nested over 64 deep")],
)  # fmt: skip
def test_an_attribute_value_is_read_as_its_json_type_says_or_refused(
    value: dict[str, Any], kept: object
) -> None:
    score = {"key": "gen_ai.evaluation.score.label", "value": value}
    body = json_logs(record(eventName=EVALUATION, attributes=[*SCORE, score]))
    if isinstance(kept, str):
        with pytest.raises(OtlpError, match=kept) as raised:
            decode_logs(body, "application/json")
        assert raised.value.status == 400
        return
    [(_, _, attributes)] = decode_logs(body, "application/json").evaluations
    assert attributes["gen_ai.evaluation.score.label"] == kept
