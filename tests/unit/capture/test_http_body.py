"""Chunked request bodies (what exporters that stream their gzip send) reach the
receiver whole, within its size limit; a malformed one is refused, never a hang."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import time
from collections.abc import Iterable, Iterator

import pytest

from pytest_llmobs.capture.otlp_values import MAX_MEMBERS, OtlpError, body_of
from pytest_llmobs.capture.receiver import Receiver
from pytest_llmobs.capture.recorder import SpanRecorder
from tests.unit.capture.test_receiver import otlp_json


@pytest.fixture
def recorder() -> SpanRecorder:
    return SpanRecorder([])


@pytest.fixture
def receiver(recorder: SpanRecorder) -> Iterator[Receiver]:
    receiver = Receiver(recorder.receive, limit=64 * 1024)
    receiver.start()
    yield receiver
    receiver.stop()


def chunked(receiver: Receiver, parts: Iterable[bytes], **headers: str) -> tuple[int, bytes]:
    """POST the parts as a chunked body, as http.client streams an iterable."""
    host, port = receiver.endpoint.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request(
        "POST", "/v1/traces", iter(parts), {"Content-Type": "application/json", **headers},
        encode_chunked=True,
    )  # fmt: skip
    answer = connection.getresponse()
    found = answer.status, answer.read()
    connection.close()
    return found


def test_a_chunked_body_is_read_whole_plain_or_gzipped(
    receiver: Receiver, recorder: SpanRecorder
) -> None:
    body = otlp_json(name="chunked")
    assert chunked(receiver, [body[:10], body[10:50], body[50:]])[0] == 200
    packed = gzip.compress(otlp_json(name="gzipped", spanId="eee19b7ec3c1b175"))
    parts = [packed[i : i + 7] for i in range(0, len(packed), 7)]  # zlib's stream, cut small
    assert chunked(receiver, parts, **{"Content-Encoding": "gzip"})[0] == 200
    assert set(recorder.snapshot().names) == {"chunked", "gzipped"}
    assert not receiver.refused


def slowly(parts: list[bytes]) -> Iterator[bytes]:
    """The parts with a pause before each after the first, as a client streaming."""
    for index, part in enumerate(parts):
        time.sleep(0.2 if index else 0)
        yield part


def test_a_chunked_body_over_the_limit_is_read_then_answered_413(receiver: Receiver) -> None:
    # the client sends its whole body before it reads: a receiver that answered at the
    # chunk that crossed the limit and closed would reset the connection under its next
    # send (BrokenPipeError), and it would never see the 413
    status, answer = chunked(receiver, slowly([b" " * 40_000] * 4))
    assert status == 413
    assert b"over 65536 bytes" in answer
    assert list(receiver.refused.values()) == [1]


def test_a_chunked_body_far_over_the_limit_is_not_read_to_its_end(receiver: Receiver) -> None:
    host, port = receiver.endpoint.rsplit(":", 1)
    head = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(head + b"%x\r\n" % (4 * 65536 + 1))  # over what is drained: no read
        answer = client.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize(
    "raw",
    [
        b"zz\r\n{}\r\n0\r\n\r\n",
        b"2\r\n{}XX0\r\n\r\n",
        b"-2\r\n{}\r\n0\r\n\r\n",
        b"0x2\r\n{}\r\n0\r\n\r\n",
        b"1_0\r\n{}\r\n0\r\n\r\n",
    ],
    ids=["size-not-hex", "no-line-end", "negative", "python-prefix", "underscore"],
)
def test_a_malformed_chunked_body_is_400_and_the_connection_closed(
    receiver: Receiver, raw: bytes
) -> None:
    host, port = receiver.endpoint.rsplit(":", 1)
    head = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(head + raw)
        answer = b""
        while chunk := client.recv(65536):  # the receiver closes: recv ends
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"Connection: close" in answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["message"] == (
        "the chunked body is malformed"
    )


def test_a_body_of_too_many_gzip_members_is_400() -> None:
    body = gzip.compress(b"{") + b"".join(gzip.compress(b" ") for _ in range(MAX_MEMBERS))
    with pytest.raises(OtlpError, match=f"over {MAX_MEMBERS} members") as info:
        body_of(body, "gzip", 1 << 20)
    assert info.value.status == 400
    assert body_of(gzip.compress(b"{") + gzip.compress(b"}"), "gzip", 10) == b"{}"
