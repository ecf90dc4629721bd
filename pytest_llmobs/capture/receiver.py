"""An OTLP/HTTP receiver on its own thread: spans that services under test export reach
the recorder as if made in this process. Answers as the OTLP specification says: 200 with
an export response (partial success for spans it could not keep), 400 with a status for a
body it cannot decode, 413 above the size limit, 415 for another encoding."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pytest_llmobs.capture.otlp import (
    JSON,
    PROTOBUF,
    Decoded,
    OtlpError,
    body_of,
    decode_traces,
    media_type,
)
from pytest_llmobs.capture.span_fields import Fields

MAX_BODY = 16 * 1024 * 1024  # bytes of one request, compressed or not
TRACES = "/v1/traces"


class Receiver:
    """Receives OTLP trace exports on host:port (0: a free port) and hands their spans to
    sink; counts what it received and what it refused."""

    def __init__(
        self,
        sink: Callable[[list[Fields]], None],
        host: str = "127.0.0.1",
        port: int = 0,
        limit: int = MAX_BODY,
        resource_keys: Collection[str] | None = None,
    ) -> None:
        # the [otlp] extra's messages, now: a missing extra is told when the run starts
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: F401

        self.sink = sink
        self.limit = limit
        self.resource_keys = resource_keys  # None: every resource attribute joins its spans
        self.spans = 0
        self.requests = 0
        self.refused: Counter[str] = Counter()  # requests answered with an error, by reason
        self.rejected: Counter[str] = Counter()  # spans of accepted requests not kept
        self.last_request = time.monotonic()  # when a request last arrived (or the start)
        self._lock = threading.Lock()
        server = _Server6 if ":" in host else ThreadingHTTPServer
        self._server = server((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def endpoint(self) -> str:
        """host:port it listens on."""
        host, port = self._server.server_address[:2]
        host = host if isinstance(host, str) else host.decode()
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)  # stop() waits for one poll

    def stop(self) -> None:
        """Stop listening; a request being handled finishes first."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def accept(self, decoded: Decoded) -> None:
        with self._lock:
            self.requests += 1
            self.spans += len(decoded.spans)
            self.rejected.update(decoded.rejected)
        self.sink(decoded.spans)

    def refuse(self, reason: str) -> None:
        with self._lock:
            self.refused[reason] += 1


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as exporters reuse connections

        def do_POST(self) -> None:
            receiver.last_request = time.monotonic()
            kind = self.headers.get("Content-Type", "")
            try:
                if self.path.split("?")[0] != TRACES:
                    raise OtlpError(
                        404, f"no such OTLP path {self.path!r}: send traces to {TRACES}"
                    )
                raw = self._body()
                body = body_of(raw, self.headers.get("Content-Encoding"), receiver.limit)
                decoded = decode_traces(body, kind, receiver.resource_keys)
            except OtlpError as exc:
                receiver.refuse(f"{exc.status}: {str(exc).split(':')[0]}")
                self._answer(exc.status, kind, _status(kind, str(exc)))
                return
            receiver.accept(decoded)
            self._answer(200, kind, _response(kind, decoded))

        def do_GET(self) -> None:
            self._answer(405, JSON, _status(JSON, "send OTLP exports with POST"))

        def _body(self) -> bytes:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self.close_connection = True
                raise OtlpError(411, "a Content-Length header is needed")
            if int(length) > receiver.limit:
                self.close_connection = True  # the body is not read: the connection ends
                raise OtlpError(413, f"the body is over {receiver.limit} bytes")
            return self.rfile.read(int(length))

        def _answer(self, status: int, kind: str, payload: bytes) -> None:
            self.send_response(status)
            protobuf = media_type(kind) == PROTOBUF
            self.send_header("Content-Type", PROTOBUF if protobuf else JSON)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: what went wrong is counted and reported with the run."""

    return Handler


def _response(kind: str, decoded: Decoded) -> bytes:
    """An ExportTraceServiceResponse: empty, or a partial success naming what was not kept."""
    rejected = sum(decoded.rejected.values())
    message = "; ".join(f"{n} {reason}" for reason, n in sorted(decoded.rejected.items()))
    if media_type(kind) == JSON:
        partial = {"rejectedSpans": str(rejected), "errorMessage": message} if rejected else {}
        return json.dumps({"partialSuccess": partial} if partial else {}).encode()
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return bytes(response.SerializeToString())


def _status(kind: str, message: str) -> bytes:
    """A google.rpc.Status with the message, in the request's encoding (its one string
    field, number 2, written by hand: the message type is not in opentelemetry-proto)."""
    if media_type(kind) != PROTOBUF:
        return json.dumps({"code": 3, "message": message}).encode()
    text = message.encode()
    size, length = bytearray(), len(text)
    while True:
        size.append((length & 0x7F) | (0x80 if length > 0x7F else 0))
        length >>= 7
        if not length:
            break
    return b"\x08\x03\x12" + bytes(size) + text  # code 3 (INVALID_ARGUMENT), message
