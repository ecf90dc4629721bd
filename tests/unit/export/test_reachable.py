"""A backend that cannot be reached is told at once, not after the exporter's retries."""

from __future__ import annotations

import pytest

from pytest_llmobs.export.bounded import ExportError
from pytest_llmobs.export.otlp_send import send_spans
from pytest_llmobs.export.reachable import unreachable
from tests.loopback import free_port, silent


def test_a_closed_port_and_an_unknown_host_are_said() -> None:
    port = free_port()
    assert unreachable(f"http://127.0.0.1:{port}/v1/traces", 2) == (
        f"connection refused at 127.0.0.1:{port}"
    )
    assert unreachable("http://no-such-host.invalid:4318", 2) == "unknown host no-such-host.invalid"


def test_a_listener_or_a_proxy_leaves_the_answer_to_the_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with silent() as url:  # it connects, though it never answers: the send finds out
        assert unreachable(url, 2) is None
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert unreachable(f"http://collector.example:{free_port()}", 2) is None


def test_a_refused_export_fails_in_a_moment_not_the_timeout() -> None:
    port = free_port()
    with pytest.raises(ExportError) as caught:  # the probe's line, not the exporter's
        send_spans(f"http://127.0.0.1:{port}", [], timeout=30)  # (which retries till then)
    assert str(caught.value) == (
        f"spans to http://127.0.0.1:{port}: cannot connect: connection refused at"
        f" 127.0.0.1:{port} (0 of 0 spans sent)"
    )
