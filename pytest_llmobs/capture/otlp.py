"""OTLP/HTTP trace export requests, protobuf or JSON, as the recorder's span fields.

Protobuf is decoded with the official messages of `opentelemetry-proto` (the `[otlp]`
extra); OTLP/JSON is walked directly, as its ids are hex and its 64-bit integers may be
strings, which protobuf's own JSON mapping reads otherwise. The resource attributes a run
keeps for every span (those named by `group_by`, such as `service.name`) join each span's
own attributes, which win on a clash; the others are left, as an in-process span's are.
Anything malformed raises OtlpError with the HTTP status to answer.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_llmobs.capture.span_fields import Fields

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ERROR_CODE = 2  # STATUS_CODE_ERROR, in either encoding
MAX_ATTRIBUTE_CHARS = 64 * 1024  # a longer string value is cut, and counted


class OtlpError(Exception):
    """A request the receiver cannot use; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Event:
    """A span event as the recorder reads SDK events."""

    name: str
    timestamp: int
    attributes: Mapping[str, Any]


@dataclass
class Decoded:
    """A request's spans, and what of it could not be kept."""

    spans: list[Fields]
    rejected: dict[str, int]


def body_of(raw: bytes, encoding: str | None, limit: int) -> bytes:
    """The request body, gunzipped when the request says so, within limit bytes."""
    if not encoding or encoding == "identity":
        return raw
    if encoding != "gzip":
        raise OtlpError(415, f"unsupported Content-Encoding {encoding!r}: send gzip or none")
    try:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        body = inflater.decompress(raw, limit + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise OtlpError(400, f"the gzip body cannot be decompressed: {exc}") from None
    if len(body) > limit:
        raise OtlpError(413, f"the decompressed body is over {limit} bytes")
    if not inflater.eof:
        raise OtlpError(400, "the gzip body is truncated")
    return body


def media_type(content_type: str) -> str:
    """The media type of a Content-Type header, without its parameters: application/json."""
    return content_type.split(";")[0].strip().lower()


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
    raise OtlpError(415, f"unsupported Content-Type {content_type!r}: send {PROTOBUF} or {JSON}")


def _kept(resource: dict[str, Any], keys: Collection[str] | None) -> dict[str, Any]:
    return resource if keys is None else {k: v for k, v in resource.items() if k in keys}


def _from_protobuf(body: bytes, resource_keys: Collection[str] | None) -> Decoded:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    try:
        request = ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        raise OtlpError(
            400, f"the protobuf body is not an ExportTraceServiceRequest: {exc}"
        ) from None
    decoded = Decoded([], {})
    for resource_spans in request.resource_spans:
        resource = _kept(
            _proto_attributes(resource_spans.resource.attributes, decoded), resource_keys
        )
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                events = [
                    Event(e.name, e.time_unix_nano, _proto_attributes(e.attributes, decoded))
                    for e in span.events
                ]
                attributes = {**resource, **_proto_attributes(span.attributes, decoded)}
                ids = (bytes(span.trace_id), bytes(span.span_id), bytes(span.parent_span_id))
                _add(decoded, span.name, span.start_time_unix_nano, span.end_time_unix_nano,
                     ids, span.status.code == ERROR_CODE, attributes, events)  # fmt: skip
    return decoded


def _proto_attributes(pairs: Any, decoded: Decoded) -> dict[str, Any]:
    return {kv.key: _proto_value(kv.value, decoded) for kv in pairs}


def _proto_value(value: Any, decoded: Decoded) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_proto_value(v, decoded) for v in value.array_value.values)
    if kind == "kvlist_value":
        return json.dumps(
            {kv.key: str(_proto_value(kv.value, decoded)) for kv in value.kvlist_value.values}
        )
    if kind == "bytes_value":
        return value.bytes_value.hex()
    if kind is None:
        return None
    found = getattr(value, kind)
    return _cut(found, decoded) if isinstance(found, str) else found


def _from_json(body: bytes, resource_keys: Collection[str] | None) -> Decoded:
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OtlpError(400, f"the JSON body cannot be parsed: {exc}") from None
    if not isinstance(request, dict):
        raise OtlpError(400, "the JSON body is not an ExportTraceServiceRequest object")
    decoded = Decoded([], {})
    try:
        for resource_spans in _list(request, "resourceSpans"):
            owner = _dict(resource_spans, "resource")
            resource = _kept(_json_attributes(owner, decoded), resource_keys)
            for scope_spans in _list(resource_spans, "scopeSpans"):
                for span in _list(scope_spans, "spans"):
                    _add_json_span(decoded, span, resource)
    except (TypeError, ValueError, AttributeError) as exc:
        raise OtlpError(400, f"the JSON body is not a valid OTLP request: {exc}") from None
    return decoded


def _add_json_span(decoded: Decoded, span: Any, resource: dict[str, Any]) -> None:
    if not isinstance(span, dict):
        raise TypeError("a span is not an object")
    events = [
        Event(str(e.get("name", "")), int(e.get("timeUnixNano", 0)), _json_attributes(e, decoded))
        for e in _list(span, "events")
    ]
    status = _dict(span, "status").get("code", 0)
    error = status in (ERROR_CODE, "STATUS_CODE_ERROR")
    ids = tuple(
        bytes.fromhex(str(span.get(k) or "")) for k in ("traceId", "spanId", "parentSpanId")
    )
    attributes = {**resource, **_json_attributes(span, decoded)}
    _add(decoded, str(span.get("name", "")), int(span.get("startTimeUnixNano", 0)),
         int(span.get("endTimeUnixNano", 0)), ids, error, attributes, events)  # fmt: skip


def _json_attributes(owner: dict[str, Any], decoded: Decoded) -> dict[str, Any]:
    found = {}
    for pair in _list(owner, "attributes"):
        found[str(pair["key"])] = _json_value(pair.get("value") or {}, decoded)
    return found


def _json_value(value: dict[str, Any], decoded: Decoded) -> Any:
    for kind, convert in (("stringValue", str), ("boolValue", bool), ("intValue", int),
                          ("doubleValue", float)):  # fmt: skip
        if kind in value:
            found = convert(value[kind])
            return _cut(found, decoded) if isinstance(found, str) else found
    if "arrayValue" in value:
        return tuple(_json_value(v, decoded) for v in _list(value["arrayValue"], "values"))
    if "kvlistValue" in value:
        pairs = _list(value["kvlistValue"], "values")
        return json.dumps(
            {str(p["key"]): str(_json_value(p.get("value") or {}, decoded)) for p in pairs}
        )
    if "bytesValue" in value:
        return str(value["bytesValue"])
    return None


def _list(owner: Any, key: str) -> list[Any]:
    found = owner.get(key)
    if found is None:
        return []
    if not isinstance(found, list):
        raise TypeError(f"{key} is not a list")
    return found


def _dict(owner: Any, key: str) -> dict[str, Any]:
    found = owner.get(key)
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise TypeError(f"{key} is not an object")
    return found


def _cut(text: str, decoded: Decoded) -> str:
    if len(text) <= MAX_ATTRIBUTE_CHARS:
        return text
    _reject(decoded, f"attribute value over {MAX_ATTRIBUTE_CHARS} characters (cut)")
    return text[:MAX_ATTRIBUTE_CHARS]


def _reject(decoded: Decoded, reason: str) -> None:
    decoded.rejected[reason] = decoded.rejected.get(reason, 0) + 1


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
    if len(trace) != 16 or len(span) != 8 or trace == bytes(16) or span == bytes(8):
        _reject(decoded, "span without a valid trace or span id")
        return
    if not 0 < start <= end:
        _reject(decoded, "span ending before it started")
        return
    parent_id = int.from_bytes(parent, "big") if len(parent) == 8 else 0
    decoded.spans.append((
        name, start, end, int.from_bytes(trace, "big"), int.from_bytes(span, "big"),
        parent_id, error, attributes, events,
    ))  # fmt: skip
