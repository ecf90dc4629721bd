"""A judged run's spans sent over OTLP/HTTP: kept by a real tracing backend (Arize
Phoenix) as they were captured; resource attributes as an OTLP receiver decodes them;
and a backend that refuses or hangs costs one line within the timeout."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from pytest_llmobs.capture.receiver import Receiver
from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.capture.span_fields import Fields
from pytest_llmobs.export.bounded import ExportError
from pytest_llmobs.export.otlp_send import BATCH, send_spans
from pytest_llmobs.export.otlp_spans import spans_for_export
from pytest_llmobs.gate.redact import MASK, Redactor
from tests.integration import phoenix_server
from tests.unit.export.captured import KEY, RESOURCE, SERVICE, TEST_ID, Captured, capture

phoenix = phoenix_server.phoenix  # the session's Phoenix (a fixture)
PROJECT = "openinference.project.name"  # the resource attribute Phoenix files spans by
SECRET = "Bearer s3cret-token-of-the-team"
LEAKED = "sk-live-" + "9f8e7d6c" * 4  # an API key, in a header variable written wrong


@pytest.fixture(scope="module")
def captured() -> Captured:
    return capture()


def test_phoenix_keeps_the_spans_as_they_were_captured(
    phoenix: phoenix_server.Phoenix, captured: Captured
) -> None:
    project = f"llmobs-{uuid.uuid4().hex[:12]}"
    spans = spans_for_export(captured.table, Redactor(), {**RESOURCE, PROJECT: project})
    send_spans(phoenix.url, spans, timeout=10.0)
    kept = {s["context"]["span_id"]: s for s in phoenix.wait_for_spans(project, len(spans))}
    assert len(kept) == len(captured.made) == 6
    for span_id, made in captured.made.items():
        assert made.context is not None
        span = kept[f"{span_id:016x}"]
        assert span["name"] == made.name
        assert span["context"]["trace_id"] == f"{made.context.trace_id:032x}"
        assert span["parent_id"] == (f"{made.parent.span_id:016x}" if made.parent else None)
        assert span["status_code"] == ("ERROR" if made.name == "tool" else "UNSET")
        # Phoenix keeps microseconds, from the time as a float of seconds (which holds a
        # quarter of one at today's times) rounded: each is within 0.75 us of the span's
        start, end = (phoenix_server.microseconds(span[t]) for t in ("start_time", "end_time"))
        assert made.start_time is not None
        assert made.end_time is not None
        assert abs(start * 1000 - made.start_time) <= 750  # ns, in integers: floats blur them
        assert abs((end - start) * 1000 - (made.end_time - made.start_time)) <= 1500
        assert span["attributes"].get("test.nodeid") == (
            None if made.name == "session teardown" else TEST_ID
        )
        # the run's own attributes, on each span: Phoenix keeps no resource attribute
        run = ("llmobs.run.id", "llmobs.run.verdict", "vcs.ref.head.revision")
        assert {k: span["attributes"].get(k) for k in run} == {k: RESOURCE[k] for k in run}
    llm = next(s for s in kept.values() if s["name"] == "llm")
    assert llm["attributes"]["gen_ai.request.model"] == f"gpt-4o key={MASK}"
    tokens = llm["attributes"]["gen_ai.usage.input_tokens"]
    assert (tokens, type(tokens)) == (812, int)  # as the app set it, not 812.0
    assert KEY not in str(kept)


def test_resource_attributes_reach_the_backend_one_resource_per_service(
    captured: Captured,
) -> None:
    """Phoenix keeps no resource attribute but its project's name: an OTLP receiver
    that merges the resource into each span (the capture's own) shows them all."""
    received: list[Fields] = []
    receiver = Receiver(received.extend, resource_keys=None)
    receiver.start()
    try:
        spans = spans_for_export(captured.table, Redactor(), RESOURCE)
        send_spans(f"http://{receiver.endpoint}/v1/traces", spans, timeout=10.0)
    finally:
        receiver.stop()
    attributes = {fields[0]: fields[7] or {} for fields in received}
    assert len(attributes) == 6
    for name, found in attributes.items():
        service = SERVICE if name in ("retrieve", "vector search") else RESOURCE["service.name"]
        assert {k: found[k] for k in RESOURCE} == {**RESOURCE, "service.name": service}
        assert found.get("llmobs.received", False) is (service == SERVICE)


class Refusing(BaseHTTPRequestHandler):
    """Answers every export as the first part of its path says: 500 with a text body,
    404 with a web page, 200 only with the team's Authorization header, 401 saying which
    key it refused, and 200 to a first request then 400 (a quota)."""

    seen: ClassVar[list[str | None]] = []  # the Authorization header of each request
    requests: ClassVar[Counter[str]] = Counter()  # by the path's first part

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Refusing.seen.append(self.headers.get("Authorization"))
        how = self.path.split("/")[1]
        Refusing.requests[how] += 1
        if how == "auth" or (how == "quota" and Refusing.requests[how] == 1):
            ok = how == "quota" or self.headers.get("Authorization") == SECRET
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif how == "quota":
            self._answer(400, b"quota exceeded", "text/plain")
        elif how == "echo":  # as some backends do: the key it was sent, in its answer
            said = f"invalid key: {self.headers.get('Authorization')}".encode()
            self._answer(401, said, "text/plain")
        elif how == "500":
            self._answer(500, b"database is locked", "text/plain")
        else:
            self._answer(404, b"<html><body>Not here</body></html>", "text/html")

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass  # quiet


@pytest.fixture(scope="module")
def refusing() -> Iterator[str]:
    """A web server that answers as Refusing (its base URL), stopped after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def spans(captured: Captured) -> Sequence[ReadableSpan]:
    return spans_for_export(captured.table, Redactor(), RESOURCE)


def test_headers_come_from_the_environment_and_never_show(
    refusing: str, spans: Sequence[ReadableSpan], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization={SECRET.replace(' ', '%20')}")
    send_spans(f"{refusing}/auth", spans, timeout=5.0)  # accepted with the header only
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "authorization=Bearer%20stale")
    with pytest.raises(ExportError) as refused:  # the traces' own variable wins
        send_spans(f"{refusing}/auth", spans, timeout=5.0)
    assert str(refused.value) == (
        f"spans to {refusing}/auth: the server answered 401 Unauthorized (0 of 6 spans sent)"
    )
    assert Refusing.seen[-2:] == [SECRET, "Bearer stale"]


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"]
)
def test_a_malformed_header_variable_is_refused_before_sending_and_never_shown(
    refusing: str,
    spans: Sequence[ReadableSpan],
    variable: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """As `-o log_cli=true` would show them: every logger's records, at DEBUG."""
    caplog.set_level(logging.DEBUG)
    # written as an HTTP header: OpenTelemetry's parser logs such a pair as it is
    monkeypatch.setenv(variable, f"x-team=search,Authorization: Bearer {LEAKED}")
    sent = len(Refusing.seen)
    with pytest.raises(ExportError) as refused:
        send_spans(f"{refusing}/auth", spans, timeout=5.0)
    assert str(refused.value) == (
        f"spans to {refusing}/auth: {variable} is malformed (its value is not shown):"
        " expected key=value pairs separated by commas"
    )
    assert len(Refusing.seen) == sent  # nothing was sent without the key
    out, err = capfd.readouterr()
    logged = [(r.name, r.getMessage()) for r in caplog.records]
    assert LEAKED not in f"{out}{err}{logged}{caplog.text}"


def test_a_header_value_the_backend_answers_with_is_masked(
    refusing: str, spans: Sequence[ReadableSpan], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization={SECRET.replace(' ', '%20')}")
    with pytest.raises(ExportError) as refused:
        send_spans(f"{refusing}/echo", spans, timeout=5.0)
    assert Refusing.seen[-1] == SECRET  # it was sent, and answered back
    assert str(refused.value) == (
        f"spans to {refusing}/echo: the server answered 401 Unauthorized: invalid key: ***"
        " (0 of 6 spans sent)"
    )


def test_spans_are_made_and_sent_a_batch_at_a_time_and_a_refusal_counts_the_sent(
    refusing: str,
) -> None:
    recorder = SpanRecorder(["gen_ai.usage.input_tokens"])
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    for _ in range(2 * BATCH + 76):
        with provider.get_tracer("t").start_as_current_span("llm"):
            pass
    spans = spans_for_export(recorder.snapshot(), Redactor(), RESOURCE)
    with pytest.raises(ExportError) as refused:
        send_spans(f"{refusing}/quota", spans, timeout=5.0)
    assert str(refused.value) == (
        f"spans to {refusing}/quota: the server answered 400 Bad Request: quota exceeded"
        f" ({BATCH} of {2 * BATCH + 76} spans sent)"
    )
    assert Refusing.requests["quota"] == 2


@pytest.mark.parametrize(
    ("path", "answer"),
    [
        ("/500", "the server answered 500 Internal Server Error: database is locked"),
        ("/404", "the server answered 404 Not Found: <html><body>Not here</body></html>"),
    ],
)
def test_a_backend_that_refuses_costs_one_line_within_the_timeout(
    refusing: str,
    spans: Sequence[ReadableSpan],
    path: str,
    answer: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    url = refusing.replace("http://", "http://team:pa55word@") + path
    began = time.monotonic()
    with pytest.raises(ExportError) as refused:
        send_spans(url, spans, timeout=2.0)
    assert time.monotonic() - began < 2.0 + 5.0  # bounded: not the exporter's own retries
    shown = refusing.replace("http://", "http://***@") + path
    # newer exporters give up at once on a 500; older ones retry it until the timeout
    assert str(refused.value) in (
        f"spans to {shown}: {answer} (0 of 6 spans sent)",
        f"spans to {shown}: {answer}, still retrying when 2 s ran out (0 of 6 spans sent)",
    )
    assert "pa55word" not in str(refused.value)
    assert not caplog.records  # the exporter's own log lines never reach the user
    assert capfd.readouterr() == ("", "")


def test_a_backend_that_hangs_or_is_gone_costs_one_line_within_the_timeout(
    spans: Sequence[ReadableSpan], caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as hanging:  # accepts connections and never answers
        hanging.bind(("127.0.0.1", 0))
        hanging.listen()
        url = f"http://127.0.0.1:{hanging.getsockname()[1]}"
        began = time.monotonic()
        with pytest.raises(ExportError) as hung:
            send_spans(url, spans, timeout=1.5)
        assert time.monotonic() - began < 1.5 + 5.0  # bounded: not the exporter's own retries
    assert str(hung.value) == f"spans to {url}: no answer within 1.5 s (0 of 6 spans sent)"
    with contextlib.closing(socket.socket()) as probe:  # now nothing listens there
        probe.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(ExportError) as refused:
        send_spans(gone, spans, timeout=1.5)
    assert str(refused.value) == (
        f"spans to {gone}: cannot connect: connection refused at {gone.removeprefix('http://')}"
        " (0 of 6 spans sent)"
    )
    assert not caplog.records
