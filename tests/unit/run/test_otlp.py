"""The receiver's intake: where it points child processes."""

from __future__ import annotations

import os
import socket
import time

import pytest

from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.config.settings import Settings
from pytest_llmobs.run.otlp import Intake
from tests.unit.capture.test_receiver import otlp_json, post


@pytest.mark.parametrize(
    ("host", "children"), [("0.0.0.0", "http://127.0.0.1:"), ("127.0.0.1", "http://127.0.0.1:")]
)
def test_a_receiver_on_every_address_is_reached_on_loopback(
    monkeypatch: pytest.MonkeyPatch, host: str, children: str
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    intake = Intake(SpanRecorder([]), Settings(otlp=True, otlp_endpoint=(host, 0)))
    intake.start()
    try:
        assert intake.receiver is not None
        port = intake.receiver.endpoint.rpartition(":")[2]
        assert os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"{children}{port}"
        exposed = [n for n in intake.notes if "anyone who can reach it" in n]
        assert bool(exposed) == (host == "0.0.0.0")
    finally:
        intake.stop()
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in os.environ  # taken back


def test_an_export_under_way_when_the_wait_ends_is_what_the_run_lost() -> None:
    """A chatty service is never quiet: at the deadline a request under way gets a short
    while to end; one that does not (a client that stopped mid-body) is an error, counted
    as it was when the wait ended, not when the errors are read."""
    intake = Intake(SpanRecorder([]), Settings(otlp=True, otlp_wait=0.2))
    intake.start()
    assert intake.receiver is not None
    host, port = intake.receiver.endpoint.rsplit(":", 1)
    head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    try:
        with socket.create_connection((host, int(port)), timeout=10) as stalled:
            stalled.sendall(head + b"Content-Length: 100\r\n\r\n{")
            while not intake.receiver.arriving:
                time.sleep(0.01)
            intake.settle()
        assert intake.unfinished == 1
        [lost] = [e for e in intake.errors() if "still arriving" in e]
        assert lost.startswith("OTLP receiver: 1 export(s) still arriving when the run was judged")
    finally:
        intake.stop()


def test_the_wait_at_the_loop_s_end_waits_the_batch_delay_again_if_exports_came_since() -> None:
    intake = Intake(SpanRecorder([]), Settings(otlp=True, otlp_wait=3))
    intake.start()
    assert intake.receiver is not None
    try:
        intake.settle()  # before the last teardown: nothing came
        began = time.monotonic()
        intake.settle(batches=False)  # nothing came since: no batch delay again
        assert time.monotonic() - began < 0.6
        post(intake.receiver, otlp_json(), "application/json")  # a service still exports
        began = time.monotonic()
        intake.settle(batches=False)
        assert time.monotonic() - began >= 0.7  # its delay (200 ms) and quiet, again
    finally:
        intake.stop()
