"""The receiver's intake: where it points child processes."""

from __future__ import annotations

import os

import pytest

from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.config.settings import Settings
from pytest_llmobs.run.otlp import Intake


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
