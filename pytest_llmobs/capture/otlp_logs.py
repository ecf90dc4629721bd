"""OTLP/HTTP log export requests, protobuf or JSON: the evaluation results among their
records, for the recorder to attach to the spans they name.

A service that evaluates its own answers emits `gen_ai.evaluation.result` as a log
record (an event) carrying the evaluated span's ids, which the in-process capture reads
the same way (capture/logs.py). Other records are none of the run's business and are
left without a word; an evaluation without ids could never find its span, so it is
rejected (a partial success). Older opentelemetry-proto (1.20 among them) has no
LogRecord.event_name: the Events API of those SDKs put the name in the `event.name`
attribute, which is read when the field is absent or empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_llmobs.capture.otlp_values import (
    JSON,
    PROTOBUF,
    Tally,
    json_attributes,
    json_id,
    json_list,
    media_type,
    parse_proto,
    proto_attributes,
    unsupported,
    valid_ids,
    walk_json,
)
from pytest_llmobs.gate.semconv import EVALUATION_EVENT

EVENT_NAME_ATTRIBUTE = "event.name"
NO_IDS = "evaluation record without a valid trace or span id"
# trace id, span id (of the evaluated span), the record's attributes
Evaluation = tuple[int, int, dict[str, Any]]


@dataclass
class DecodedLogs(Tally):
    """A request's evaluation results, and what of it could not be kept (or kept whole)."""

    evaluations: list[Evaluation] = field(default_factory=list)


def decode_logs(body: bytes, content_type: str) -> DecodedLogs:
    """The evaluation results of an ExportLogsServiceRequest in either encoding."""
    kind = media_type(content_type)
    if kind == PROTOBUF:
        return _from_protobuf(body)
    if kind == JSON:
        return _from_json(body)
    raise unsupported(content_type)


def _from_protobuf(body: bytes) -> DecodedLogs:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
    )

    request = parse_proto(ExportLogsServiceRequest, body)
    decoded = DecodedLogs()
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                if _proto_event_name(record) != EVALUATION_EVENT:
                    continue
                attributes = proto_attributes(record.attributes, decoded)
                _add(decoded, bytes(record.trace_id), bytes(record.span_id), attributes)
    return decoded


def _proto_event_name(record: Any) -> str:
    name = getattr(record, "event_name", "")  # opentelemetry-proto 1.20 has no such field
    if name:
        return str(name)
    for kv in record.attributes:  # not converted: most records are not evaluations
        if kv.key == EVENT_NAME_ATTRIBUTE:
            return str(kv.value.string_value)
    return ""


def _from_json(body: bytes) -> DecodedLogs:
    decoded = DecodedLogs()

    def walk(request: dict[str, Any]) -> None:
        for resource_logs in json_list(request, "resourceLogs"):
            for scope_logs in json_list(resource_logs, "scopeLogs"):
                for record in json_list(scope_logs, "logRecords"):
                    if _json_event_name(record) != EVALUATION_EVENT:
                        continue
                    ids = json_id(record, "traceId"), json_id(record, "spanId")
                    _add(decoded, *ids, json_attributes(record, decoded))

    walk_json(body, "ExportLogsServiceRequest", walk)
    return decoded


def _json_event_name(record: dict[str, Any]) -> str:
    if name := record.get("eventName"):
        return str(name)
    for pair in json_list(record, "attributes"):
        if pair.get("key") == EVENT_NAME_ATTRIBUTE:
            value = pair.get("value")
            return str(value.get("stringValue", "")) if isinstance(value, dict) else ""
    return ""


def _add(decoded: DecodedLogs, trace: bytes, span: bytes, attributes: dict[str, Any]) -> None:
    if not valid_ids(trace, span):
        decoded.reject(NO_IDS)
        return
    decoded.evaluations.append(
        (int.from_bytes(trace, "big"), int.from_bytes(span, "big"), attributes)
    )
