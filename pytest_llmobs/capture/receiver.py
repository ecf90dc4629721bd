"""An OTLP/HTTP receiver on its own thread: spans and evaluation results that services
under test export reach the recorder as if made in this process. Answers as the OTLP
specification says: 200 with an export response (a partial success for what it could not
keep), 400 with a status for a body it cannot decode, 413 above the size limit, 415 for
another encoding, and 503 with Retry-After (which exporters retry) while it is busy.
Metrics, which services export to the same endpoint, are read and dropped (200)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pytest_llmobs.capture.http_body import BodyReader
from pytest_llmobs.capture.otlp import decode_traces
from pytest_llmobs.capture.otlp_answers import answer_to, answer_type, empty_answer, status_of
from pytest_llmobs.capture.otlp_logs import Evaluation, decode_logs
from pytest_llmobs.capture.otlp_values import OtlpError, body_of
from pytest_llmobs.capture.span_fields import Fields

MAX_BODY = 16 * 1024 * 1024  # bytes of one request, compressed or not
DRAIN = 4  # a body over the limit is still read (and dropped) up to DRAIN x the limit
# requests read and decoded at once; more are answered 503 (retried). Each may hold its
# body, inflated too, and what it decodes to (a few times MAX_BODY); decoding holds the
# GIL, so on a machine of 2 cores more than a few at once gain nothing
MAX_CONCURRENT = 4
TIMEOUT_S = 10.0  # a client silent this long mid-request (or idle) is let go
DEADLINE_S = 30.0  # a body not whole this long after its headers is refused (408)
RETRY_AFTER_S = 1  # what a 503 tells exporters to wait
SLOT_WAIT_S = 2.0  # how long a request waits for one of the slots before that 503
TRACES, LOGS, METRICS = "/v1/traces", "/v1/logs", "/v1/metrics"
UNKNOWN = ""  # the path of a request the receiver failed on before knowing it
# refusals that lose a request's spans or evaluations for good: exporters retry none of
# them (but 503); 404 and 405 are other paths or methods, never an export of these
LOST = frozenset({400, 408, 411, 413, 415, 500})
BUSY = f"too many requests at once: retry after {RETRY_AFTER_S} s"


class Receiver:
    """Receives OTLP trace and log exports on host:port (0: a free port), hands their
    spans to sink and their evaluation results to evaluations; counts what it received,
    refused, and could not keep."""

    def __init__(
        self,
        sink: Callable[[list[Fields]], None],
        host: str = "127.0.0.1",
        port: int = 0,
        limit: int = MAX_BODY,
        resource_keys: Collection[str] | None = None,
        evaluations: Callable[[list[Evaluation]], None] | None = None,
        concurrency: int = MAX_CONCURRENT,
        timeout: float = TIMEOUT_S,
        deadline: float = DEADLINE_S,
    ) -> None:
        # the [otlp] extra's messages, now: a missing extra is told when the run starts
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: F401

        self.sink = sink
        self.evaluations = evaluations
        self.limit = limit
        self.timeout, self.deadline = timeout, deadline
        self.resource_keys = resource_keys  # None: every resource attribute joins its spans
        self.slots = threading.BoundedSemaphore(concurrency)
        self.requests = self.spans = self.records = 0  # accepted: requests, what they held
        self.arriving = 0  # exports whose headers came, and whose answer is not sent yet
        self.refused: Counter[str] = Counter()  # requests answered with an error, by reason
        # of those, the ones whose spans or evaluations are lost, by (path, reason)
        self.lost: Counter[tuple[str, str]] = Counter()
        self.busy = 0  # requests answered 503: their exporters retry after a while
        self.unretried = 0  # 503s since the last export taken: retries still to come
        self.rejected: Counter[str] = Counter()  # spans of accepted requests not kept
        self.rejected_records: Counter[str] = Counter()  # evaluation records not kept
        self.cut: Counter[str] = Counter()  # values kept, but not whole
        self.last_request = time.monotonic()  # when a request last arrived (or the start)
        self._lock = threading.Lock()
        server = _Server6 if ":" in host else _Server
        self._server = server((host, port), _Handler)
        self._server.receiver = self
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
        """Stop listening. Connections still open are not waited for: their threads are
        daemons, and each lets its client go after `timeout` seconds of silence."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def take(self, path: str, body: bytes, kind: str) -> bytes:
        """Decode a request to path, hand what it holds to its sink; the answer's body."""
        if path == LOGS:
            logs = decode_logs(body, kind)
            with self._lock:
                self.requests, self.unretried = self.requests + 1, 0
                self.records += len(logs.evaluations)
                self.rejected_records.update(logs.rejected)
                self.cut.update(logs.cut)
            if self.evaluations is not None and logs.evaluations:
                self.evaluations(logs.evaluations)
            return answer_to(kind, logs)
        traces = decode_traces(body, kind, self.resource_keys)
        with self._lock:
            self.requests, self.unretried = self.requests + 1, 0
            self.spans += len(traces.spans)
            self.rejected.update(traces.rejected)
            self.cut.update(traces.cut)
        self.sink(traces.spans)
        return answer_to(kind, traces)

    def refuse(self, status: int, reason: str, path: str) -> None:
        """Count a request answered with status for reason (fixed text, never the
        request's), and as lost when it was an export of spans or evaluations."""
        key = f"{status}: {reason}"
        with self._lock:
            self.refused[key] += 1
            self.busy += status == 503
            self.unretried += status == 503
            if status in LOST and path in (TRACES, LOGS, UNKNOWN):
                self.lost[path, key] += 1

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Count a request as arriving while it is read, decoded and answered."""
        self.last_request = time.monotonic()
        with self._lock:
            self.arriving += 1
        try:
            yield
        finally:
            with self._lock:
                self.arriving -= 1
            self.last_request = time.monotonic()


class _Server(ThreadingHTTPServer):
    """Handles each connection on a daemon thread; never prints a handler's failure."""

    receiver: Receiver
    # connections the kernel queues until accepted (socketserver's 5 resets a burst of
    # exporters); the system's somaxconn caps it
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (an OSError) is nobody's concern; anything else is
        the receiver's failure, counted as lost (what the request held is unknown)."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            name = type(error).__name__
            self.receiver.refuse(500, f"the receiver failed on a connection ({name})", UNKNOWN)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    """One connection's requests, answered as the OTLP specification says."""

    protocol_version = "HTTP/1.1"  # keep-alive, as exporters reuse connections
    server: _Server
    consumed = False  # whether the current request's body was read

    def setup(self) -> None:
        self.receiver = self.server.receiver
        self.request.settimeout(self.receiver.timeout)  # a client that stops sending is let go
        super().setup()

    def do_POST(self) -> None:
        kind, path = self.headers.get("Content-Type", ""), self.path.split("?")[0]
        self.consumed = False
        if path == METRICS:  # what the generic endpoint makes services send: not ours
            self._skip_body()
            self._answer(200, kind, empty_answer(kind))
            return
        if path not in (TRACES, LOGS):
            no_path = f"no such OTLP path: send to {TRACES} or {LOGS}, not {path!r}"
            self._refuse(OtlpError(404, no_path), kind, path)
            return
        with self.receiver.answering():
            try:
                payload = self._export(path, kind)
            except OtlpError as exc:
                self._refuse(exc, kind, path)
                return
            self._answer(200, kind, payload)

    def _export(self, path: str, kind: str) -> bytes:
        receiver = self.receiver
        if not receiver.slots.acquire(timeout=SLOT_WAIT_S):  # a flood: not read, let alone kept
            raise OtlpError(503, BUSY)
        try:
            body = body_of(self._body(), self.headers.get("Content-Encoding"), receiver.limit)
            return receiver.take(path, body, kind)
        except OtlpError:
            raise
        except Exception as exc:  # the receiver's bug: answered and counted, not raised
            raise OtlpError(500, f"the receiver failed: {type(exc).__name__}") from None
        finally:
            receiver.slots.release()

    def do_GET(self) -> None:
        message = status_of("", "send OTLP exports with POST", 405)
        self._answer(405, "", message, {"Allow": "POST"})

    def _length(self) -> int | None:
        text = self.headers.get("Content-Length", "")
        if not (text.isascii() and text.isdigit()):
            return None
        return int(text) if len(text) < 19 else 2**63  # int() refuses 4,300 digits

    def _chunked(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def _body(self, limit: int | None = None, keep: bool = True) -> bytes:
        """The body, of its Content-Length or chunked, within limit bytes (the
        receiver's); an error closes the connection, whose next bytes are unknown."""
        limit = self.receiver.limit if limit is None else limit
        length, chunked = self._length(), self._chunked()
        if length is None and not chunked:
            raise OtlpError(411, "a Content-Length header (or a chunked body) is needed")
        if not chunked and length is not None and length > limit:
            raise OtlpError(413, f"the body is over {limit} bytes")
        self.consumed = True
        reader = BodyReader(
            self.rfile, self.connection, self.receiver.timeout, self.receiver.deadline
        )
        try:
            if chunked:
                return reader.chunked(limit, keep, drain=DRAIN * self.receiver.limit)
            return reader.exactly(length or 0, keep)
        except OtlpError:
            self.close_connection = True
            raise
        finally:
            self.connection.settimeout(self.receiver.timeout)

    def _skip_body(self) -> None:
        """Read and drop a body not to be decoded: a client sends it whole before it
        reads the answer, and the connection then serves its next request. One too long
        for that (DRAIN x the limit), or without a length, ends the connection."""
        self.consumed = True
        try:
            self._body(DRAIN * self.receiver.limit, keep=False)
        except OtlpError:  # not read whole: what the connection sends next is unknown
            self.close_connection = True

    def _refuse(self, exc: OtlpError, kind: str, path: str) -> None:
        self.receiver.refuse(exc.status, exc.reason, path)
        if not self.consumed:
            self._skip_body()
        retry = {"Retry-After": str(RETRY_AFTER_S)} if exc.status == 503 else {}
        self._answer(exc.status, kind, status_of(kind, str(exc), exc.status), retry)

    def _answer(
        self, status: int, kind: str, payload: bytes, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", answer_type(kind))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: what went wrong is counted and reported with the run."""
