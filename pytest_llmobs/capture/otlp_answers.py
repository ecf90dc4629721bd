"""What the OTLP receiver answers, in the encoding of the request: an export response
(with a partial success when something was not kept, empty for a signal it drops) or a
google.rpc.Status."""

from __future__ import annotations

import json
from typing import Any

from pytest_llmobs.capture.otlp import Decoded
from pytest_llmobs.capture.otlp_logs import DecodedLogs
from pytest_llmobs.capture.otlp_values import JSON, PROTOBUF, media_type

# google.rpc.Code of an HTTP status: INTERNAL, UNAVAILABLE; else INVALID_ARGUMENT (3)
_RPC_CODES = {500: 13, 503: 14}


def answer_type(kind: str) -> str:
    """The Content-Type of the answer to a request of Content-Type kind: protobuf for
    protobuf, JSON for anything else (a client that sent neither reads JSON best)."""
    return PROTOBUF if media_type(kind) == PROTOBUF else JSON


def answer_to(kind: str, decoded: Decoded | DecodedLogs) -> bytes:
    """An ExportTraceServiceResponse or ExportLogsServiceResponse: empty, or a partial
    success counting what was not kept (rejected_spans, rejected_log_records) and naming
    it and what was cut, in error_message (which the specification lets carry warnings
    when nothing was rejected)."""
    rejected = sum(decoded.rejected.values())
    notes = {**decoded.rejected, **decoded.cut}
    message = "; ".join(f"{n} {reason}" for reason, n in sorted(notes.items()))
    logs = isinstance(decoded, DecodedLogs)
    if answer_type(kind) == JSON:
        count = "rejectedLogRecords" if logs else "rejectedSpans"
        partial = {count: str(rejected), "errorMessage": message} if message else {}
        return json.dumps({"partialSuccess": partial} if partial else {}).encode()
    response = _logs_response() if logs else _traces_response()
    if message:
        count = "rejected_log_records" if logs else "rejected_spans"
        setattr(response.partial_success, count, rejected)
        response.partial_success.error_message = message
    return bytes(response.SerializeToString())


def empty_answer(kind: str) -> bytes:
    """An export response of any signal that kept everything: an empty message, which is
    {} in JSON and no bytes at all in protobuf."""
    return b"{}" if answer_type(kind) == JSON else b""


def _traces_response() -> Any:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    return ExportTraceServiceResponse()


def _logs_response() -> Any:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceResponse,
    )

    return ExportLogsServiceResponse()


def status_of(kind: str, message: str, status: int = 400) -> bytes:
    """A google.rpc.Status with the message, in the request's encoding (written by hand:
    the message type is not in opentelemetry-proto), its code the gRPC one for status."""
    code = _RPC_CODES.get(status, 3)
    if answer_type(kind) != PROTOBUF:
        return json.dumps({"code": code, "message": message}).encode()
    text = message.encode()
    size, length = bytearray(), len(text)
    while True:
        size.append((length & 0x7F) | (0x80 if length > 0x7F else 0))
        length >>= 7
        if not length:
            break
    return bytes((0x08, code, 0x12)) + bytes(size) + text  # field 1 code, field 2 message
