"""OTLP/HTTP trace export requests, protobuf or JSON, as the recorder's span fields.

Protobuf is decoded with the official messages of `opentelemetry-proto` (the `[otlp]`
extra); OTLP/JSON is walked directly, as its ids are hex and its 64-bit integers may be
strings, which protobuf's own JSON mapping reads otherwise. The resource attributes a run
keeps for every span (those named by `group_by`, such as `service.name`) join each span's
own attributes, which win on a clash; the others are left, as an in-process span's are.
Anything malformed raises OtlpError with the HTTP status to answer; what is shared with
the logs signal (bodies, values, limits) lives in otlp_values.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_llmobs.capture.otlp_values import (
    JSON,
    PROTOBUF,
    OtlpError,
    Tally,
    body_of,
    bounded,
    json_attributes,
    json_dict,
    json_id,
    json_int,
    json_list,
    media_type,
    parse_proto,
    proto_attributes,
    unsupported,
    valid_ids,
    walk_json,
)
from pytest_llmobs.capture.span_fields import Fields

__all__ = ["JSON", "PROTOBUF", "Decoded", "Event", "OtlpError", "body_of", "decode_traces",
           "media_type"]  # fmt: skip

ERROR_CODE = 2  # STATUS_CODE_ERROR, in either encoding
NO_IDS = "span without a valid trace or span id"
BACKWARDS = "span ending before it started"
OUT_OF_RANGE = "span with a timestamp beyond 2262 (out of a signed 64-bit range)"
_MAX_NS = 2**63 - 1  # the recorder keeps times as signed 64-bit nanoseconds


@dataclass(frozen=True)
class Event:
    """A span event as the recorder reads SDK events."""

    name: str
    timestamp: int
    attributes: Mapping[str, Any]


@dataclass
class Decoded(Tally):
    """A request's spans, and what of it could not be kept (or kept whole)."""

    spans: list[Fields] = field(default_factory=list)


def decode_traces(
    body: bytes, content_type: str, resource_keys: Collection[str] | None = None
) -> Decoded:
    """The spans of an ExportTraceServiceRequest in either encoding, with the resource
    attributes named in resource_keys (None: all of them)."""
    kind = media_type(content_type)
    if kind == PROTOBUF:
        return _from_protobuf(body, resource_keys)
    if kind == JSON:
        return _from_json(body, resource_keys)
    raise unsupported(content_type)


def _kept(resource: dict[str, Any], keys: Collection[str] | None) -> dict[str, Any]:
    return resource if keys is None else {k: v for k, v in resource.items() if k in keys}


def _from_protobuf(body: bytes, resource_keys: Collection[str] | None) -> Decoded:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = parse_proto(ExportTraceServiceRequest, body)
    decoded = Decoded()
    for resource_spans in request.resource_spans:
        resource = _kept(
            proto_attributes(resource_spans.resource.attributes, decoded), resource_keys
        )
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                events = [
                    Event(e.name, e.time_unix_nano, proto_attributes(e.attributes, decoded))
                    for e in bounded(span.events, decoded)
                ]
                attributes = {**resource, **proto_attributes(span.attributes, decoded)}
                ids = (bytes(span.trace_id), bytes(span.span_id), bytes(span.parent_span_id))
                _add(decoded, span.name, span.start_time_unix_nano, span.end_time_unix_nano,
                     ids, span.status.code == ERROR_CODE, attributes, events)  # fmt: skip
    return decoded


def _from_json(body: bytes, resource_keys: Collection[str] | None) -> Decoded:
    decoded = Decoded()

    def walk(request: dict[str, Any]) -> None:
        for resource_spans in json_list(request, "resourceSpans"):
            owner = json_dict(resource_spans, "resource")
            resource = _kept(json_attributes(owner, decoded), resource_keys)
            for scope_spans in json_list(resource_spans, "scopeSpans"):
                for span in json_list(scope_spans, "spans"):
                    _add_json_span(decoded, span, resource)

    walk_json(body, "ExportTraceServiceRequest", walk)
    return decoded


def _add_json_span(decoded: Decoded, span: dict[str, Any], resource: dict[str, Any]) -> None:
    events = [
        Event(str(e.get("name") or ""), json_int(e, "timeUnixNano"), json_attributes(e, decoded))
        for e in bounded(json_list(span, "events"), decoded)
    ]
    status = json_dict(span, "status").get("code", 0)
    error = status in (ERROR_CODE, "STATUS_CODE_ERROR")
    ids = tuple(json_id(span, k) for k in ("traceId", "spanId", "parentSpanId"))
    attributes = {**resource, **json_attributes(span, decoded)}
    _add(decoded, str(span.get("name") or ""), json_int(span, "startTimeUnixNano"),
         json_int(span, "endTimeUnixNano"), ids, error, attributes, events)  # fmt: skip


def _add(
    decoded: Decoded,
    name: str,
    start: int,
    end: int,
    ids: tuple[bytes, ...],
    error: bool,
    attributes: dict[str, Any],
    events: list[Event],
) -> None:
    trace, span, parent = ids
    if not valid_ids(trace, span):
        decoded.reject(NO_IDS)
        return
    if not 0 < start <= end:
        decoded.reject(BACKWARDS)
        return
    if end > _MAX_NS or any(not 0 <= e.timestamp <= _MAX_NS for e in events):
        decoded.reject(OUT_OF_RANGE)
        return
    parent_id = int.from_bytes(parent, "big") if len(parent) == 8 else 0
    decoded.spans.append((
        name, start, end, int.from_bytes(trace, "big"), int.from_bytes(span, "big"),
        parent_id, error, attributes, events,
    ))  # fmt: skip
