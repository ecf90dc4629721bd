"""The OTLP receiver under hostile or clumsy clients: a flood is answered 503 with
Retry-After, a client that stops sending is let go, a refused body is read so the
connection serves on, oversized values are cut and counted; never a crash or a hang."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from pytest_llmobs.capture.otlp import OUT_OF_RANGE
from pytest_llmobs.capture.otlp_values import CUT, DROPPED, MAX_ATTRIBUTE_CHARS, MAX_ITEMS
from pytest_llmobs.capture.receiver import Receiver
from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.config.settings import Settings
from pytest_llmobs.run.otlp import PER_SIGNAL, SCHEDULE_DELAYS, Intake
from tests.unit.capture.test_receiver import SPAN, TRACE, otlp_json, post

HEAD = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@pytest.fixture
def recorder() -> SpanRecorder:
    return SpanRecorder([])


@pytest.fixture
def started(recorder: SpanRecorder) -> Iterator[Callable[..., Receiver]]:
    receivers: list[Receiver] = []

    def start(**options: object) -> Receiver:
        receiver = Receiver(recorder.receive, **options)  # type: ignore[arg-type]
        receiver.start()
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        receiver.stop()


def connect(receiver: Receiver, data: bytes) -> socket.socket:
    host, port = receiver.endpoint.rsplit(":", 1)
    client = socket.create_connection((host, int(port)), timeout=5)
    client.sendall(data)
    return client


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_when_every_slot_is_taken_a_request_is_answered_503_with_retry_after(
    started: Callable[..., Receiver],
) -> None:
    receiver = started()  # 4 slots: more gain nothing on 2 cores, and each holds MBs
    held = [connect(receiver, HEAD + b"Content-Length: 100\r\n\r\n{") for _ in range(4)]
    until(lambda: receiver.arriving == 4)
    connection = http.client.HTTPConnection(receiver.endpoint, timeout=5)
    connection.request("POST", "/v1/traces", otlp_json(), {"Content-Type": "application/json"})
    answer = connection.getresponse()
    assert (answer.status, answer.headers["Retry-After"]) == (503, "1")
    assert "too many requests at once" in json.loads(answer.read())["message"]
    for client in held:  # the held requests end short: their slots are free
        client.close()
    until(lambda: receiver.arriving == 0)
    assert post(receiver, otlp_json(), "application/json")[0] == 200
    short = "400: the body ended before its Content-Length"
    assert receiver.refused == {"503: too many requests at once": 1, short: 4}
    assert (receiver.busy, receiver.lost) == (1, {("/v1/traces", short): 4})


def test_a_flood_is_answered_200_or_503_and_every_refusal_counted(
    started: Callable[..., Receiver], recorder: SpanRecorder
) -> None:
    receiver = started(concurrency=4)
    statuses: list[int] = []

    def send(i: int) -> None:
        body = otlp_json(spanId=f"{i + 1:016x}")
        statuses.append(post(receiver, body, "application/json")[0])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    found = Counter(statuses)
    assert set(found) <= {200, 503}
    assert sum(found.values()) == 200
    assert receiver.refused.get("503: too many requests at once", 0) == found[503]
    assert receiver.spans == len(recorder.snapshot()) == found[200]


def test_a_client_that_stops_sending_is_let_go_after_the_timeout(
    started: Callable[..., Receiver],
) -> None:
    receiver = started(timeout=0.3)
    with connect(receiver, HEAD + b"Content-Length: 100\r\n\r\n{") as partial:
        assert partial.recv(1024).startswith(b"HTTP/1.1 408")
        until(lambda: partial.recv(1024) == b"")  # and the connection closed
    with connect(receiver, b"") as silent:
        assert silent.recv(1024) == b""  # closed, without waiting for the client's 5 s
    assert receiver.refused == {"408: the body did not arrive": 1}


def test_a_client_trickling_its_body_is_let_go_at_the_deadline_for_the_whole_body(
    started: Callable[..., Receiver],
) -> None:
    receiver = started(timeout=1.0, deadline=0.5)
    stop = threading.Event()
    with connect(receiver, HEAD + b"Content-Length: 100\r\n\r\n{") as client:

        def trickle() -> None:  # a byte each 0.1 s: never silent for the 1 s timeout
            while not stop.wait(0.1):
                try:
                    client.sendall(b" ")
                except OSError:
                    return

        threading.Thread(target=trickle, daemon=True).start()
        began = time.monotonic()
        answer = client.recv(1024)
        stop.set()
    assert answer.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - began < 2
    assert receiver.lost == {("/v1/traces", "408: the body did not arrive"): 1}


def test_stop_does_not_wait_for_half_open_connections(
    started: Callable[..., Receiver],
) -> None:
    receiver = started()  # a timeout of 10 s: stopping must not wait for it
    with (
        connect(receiver, HEAD + b"Content-Length: 100\r\n\r\n{"),
        connect(receiver, b"POST /v1/tra"),
    ):
        until(lambda: receiver.arriving == 1)
        began = time.monotonic()
        receiver.stop()
        assert time.monotonic() - began < 2


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [("/v1/metrics", b"{}", 200), ("/v1/x", b"{}", 404), ("/v1/traces", b" " * (70 * 1024), 413)],
)
def test_a_refused_or_dropped_body_is_read_so_the_connection_serves_the_next_request(
    started: Callable[..., Receiver], path: str, body: bytes, status: int
) -> None:
    receiver = started(limit=64 * 1024)
    connection = http.client.HTTPConnection(receiver.endpoint, timeout=5)
    headers = {"Content-Type": "application/json"}
    connection.request("POST", path, body, headers)
    answer = connection.getresponse()
    answer.read()
    assert (answer.status, answer.headers["Connection"]) == (status, None)
    connection.request("POST", "/v1/traces", otlp_json(), headers)
    assert connection.getresponse().status == 200
    assert receiver.spans == 1


def test_refusals_are_counted_by_reason_never_by_what_the_request_said(
    started: Callable[..., Receiver],
) -> None:
    receiver = started()
    for kind in ("text/a", "text/b:c"):
        assert post(receiver, b"{}", kind)[0] == 415
    for path in ("/x1", "/v1/x:2"):
        assert post(receiver, b"{}", "application/json", path=path)[0] == 404
    assert receiver.refused == {"415: unsupported Content-Type": 2, "404: no such OTLP path": 2}


@pytest.mark.parametrize("length", [b"\xb2", b"-1", b"9" * 5000])
def test_a_content_length_that_is_no_number_of_bytes_is_refused_not_a_crash(
    started: Callable[..., Receiver], length: bytes
) -> None:
    receiver = started()
    with connect(receiver, HEAD + b"Content-Length: " + length + b"\r\n\r\n{}") as client:
        assert client.recv(1024).split(b"\r\n")[0] in (
            b"HTTP/1.1 411 Length Required",
            b"HTTP/1.1 413 Request Entity Too Large",
        )
    until(lambda: receiver.arriving == 0)
    assert sum(receiver.refused.values()) == 1


def test_huge_values_and_too_many_attributes_are_cut_counted_and_the_span_kept(
    started: Callable[..., Receiver], recorder: SpanRecorder
) -> None:
    receiver = started()
    attributes = [{"key": f"a{i}", "value": {"intValue": i}} for i in range(MAX_ITEMS + 5)]
    attributes[0] = {"key": "prompt", "value": {"stringValue": "x" * (3 * 1024 * 1024)}}
    status, answer, _ = post(receiver, otlp_json(attributes=attributes), "application/json")
    partial = json.loads(answer)["partialSuccess"]
    assert (status, partial["rejectedSpans"]) == (200, "0")  # kept: only not whole
    assert CUT in partial["errorMessage"]
    assert DROPPED in partial["errorMessage"]
    assert receiver.cut == {CUT: 1, DROPPED: 1}
    table = recorder.snapshot()
    assert len(table) == 1
    assert table.detail["prompt"][1][0] == "x" * MAX_ATTRIBUTE_CHARS
    assert f"a{MAX_ITEMS}" not in table.detail


def test_a_timestamp_beyond_a_signed_64_bit_range_is_rejected(
    started: Callable[..., Receiver], recorder: SpanRecorder
) -> None:
    receiver = started()
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="far")
    span.trace_id, span.span_id = bytes.fromhex(TRACE), bytes.fromhex(SPAN)
    span.start_time_unix_nano, span.end_time_unix_nano = 10, 2**64 - 1
    assert post(receiver, request.SerializeToString(), "application/x-protobuf")[0] == 200
    assert (dict(receiver.rejected), len(recorder.snapshot())) == ({OUT_OF_RANGE: 1}, 0)


# The run's side of it (run/otlp.py): what it waits for, and what it tells
OTEL = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", *PER_SIGNAL, *SCHEDULE_DELAYS)


@pytest.fixture
def intake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Intake]]:
    made: list[Intake] = []
    for name in OTEL:
        monkeypatch.delenv(name, raising=False)

    def start(**environ: str) -> Intake:
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        made.append(Intake(SpanRecorder([]), Settings(otlp=True, otlp_wait=3)))
        made[-1].start()
        return made[-1]

    yield start
    for found in made:
        found.stop()


def test_exports_refused_for_good_or_still_arriving_are_errors_the_rest_warnings(
    intake: Callable[..., Intake],
) -> None:
    run = intake()
    assert run.receiver is not None
    for body, kind, path in [(b"{", "application/json", "/v1/traces")] * 2 + [
        (b"{", "application/json", "/v1/logs"), (b"{}", "text/plain", "/v1/traces"),
        (b"{}", "application/json", "/v1/x"), (otlp_json(spanId=""), "application/json",
        "/v1/traces")]:  # fmt: skip
        post(run.receiver, body, kind, path)
    run.receiver.refuse(500, "the receiver failed on a connection (KeyError)", "")
    run.receiver.refuse(503, "too many requests at once", "/v1/traces")
    with connect(run.receiver, HEAD + b"Content-Length: 100\r\n\r\n{"):
        until(lambda: run.receiver is not None and run.receiver.arriving == 1)
        errors, warnings = run.errors(), run.warnings()
    lost = "the series they belong to cannot be judged"
    assert sorted(errors) == sorted([
        f"OTLP receiver: 2 export(s) refused (400: the JSON body cannot be parsed): their "
        f"spans are missing, {lost}",
        f"OTLP receiver: 1 export(s) refused (400: the JSON body cannot be parsed): their "
        f"evaluation results are missing, {lost}",
        f"OTLP receiver: 1 export(s) refused (415: unsupported Content-Type): their spans "
        f"are missing, {lost}",
        f"OTLP receiver: 1 request(s) failed (500: the receiver failed on a connection "
        f"(KeyError)): their spans or evaluations are missing, {lost}",
        f"OTLP receiver: 1 export(s) still arriving when the run was judged, after "
        f"--llmobs-otlp-wait=3: their spans or evaluations are missing, {lost}",
        f"OTLP receiver: 1 export(s) refused as busy (503) and not sent again before the "
        f"run was judged, after --llmobs-otlp-wait=3: their spans or evaluations are "
        f"missing, {lost}",
    ])  # fmt: skip
    assert warnings == [
        "OTLP receiver: 1 request(s) refused (404: no such OTLP path)",
        "OTLP receiver: 1 request(s) refused (503: too many requests at once)",
        "OTLP receiver: 1 span(s) not kept: span without a valid trace or span id",
    ]
    post(run.receiver, otlp_json(), "application/json")  # an export taken: the retry came
    assert not [e for e in run.errors() if "busy (503)" in e]


def test_after_a_503_the_run_waits_out_the_retry_before_it_settles(
    intake: Callable[..., Intake],
) -> None:
    run = intake()  # batches of 200 ms: the run waits 0.7 s at least
    assert run.receiver is not None
    took = []
    for busy in (False, True):
        if busy:
            run.receiver.refuse(503, "too many requests at once", "/v1/traces")
        run.receiver.last_request = began = time.monotonic()
        run.settle()
        took.append(time.monotonic() - began)
    assert took[0] < 1.2  # 0.5 s of quiet
    assert took[1] >= 1.45  # Retry-After (1 s) and 0.5 s of quiet


@pytest.mark.parametrize("name", ["OTEL_EXPORTER_OTLP_PROTOCOL", PER_SIGNAL[3]])
def test_a_grpc_protocol_left_set_is_said_not_to_be_received(
    intake: Callable[..., Intake], name: str
) -> None:
    run = intake(**{name: " gRPC"})
    assert run.notes == [
        f"--llmobs-otlp left {name}=grpc as set in the environment: the receiver takes "
        "OTLP/HTTP only, so gRPC exports are not received"
    ]
