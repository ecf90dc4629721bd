"""The count of spans an app starts without a provider, on OpenTelemetry's real no-op tracer:
of the installed API, and with start_as_current_span as it was before API 1.40."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace

from pytest_llmobs.capture.providers import _NoOpCount


@contextlib.contextmanager
def _before_1_40(
    tracer: trace.NoOpTracer, name: str, *args: Any, **kwargs: Any
) -> Iterator[trace.Span]:
    """NoOpTracer.start_as_current_span of API 1.20 to 1.39: no call to start_span."""
    yield trace.INVALID_SPAN


@pytest.fixture(params=["installed", "before 1.40"])
def api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "before 1.40":
        monkeypatch.setattr(trace.NoOpTracer, "start_as_current_span", _before_1_40)
    return str(request.param)


def _app(tracer: trace.Tracer) -> list[object]:
    """Starts 7 spans every way an app does; returns what it saw of them."""

    @tracer.start_as_current_span("decorated")
    def decorated(x: int) -> tuple[int, object]:
        return x, trace.get_current_span()

    @tracer.start_as_current_span("decorated_async")
    async def decorated_async() -> object:
        return trace.get_current_span()

    seen: list[object] = []
    with tracer.start_as_current_span("outer") as outer:
        seen += [outer, outer.get_span_context(), outer.is_recording()]
        with tracer.start_as_current_span("inner") as inner:
            seen += [inner, trace.get_current_span()]
        span = tracer.start_span("plain")
        seen += [span.get_span_context()]
        span.end()
    seen += [decorated(1), decorated(2), asyncio.run(decorated_async())]
    with pytest.raises(KeyError), tracer.start_as_current_span("raising"):
        raise KeyError
    return seen


def _counted(run: Callable[[], object]) -> tuple[object, int]:
    count = _NoOpCount()
    try:
        return run(), count.spans
    finally:
        count.uninstall()


@pytest.mark.usefixtures("api")
def test_every_span_is_counted_once_and_the_app_sees_the_same() -> None:
    tracer = trace.NoOpTracer()
    unwatched = _app(tracer)
    seen, spans = _counted(lambda: _app(tracer))
    assert spans == 7
    assert seen == unwatched


@pytest.mark.usefixtures("api")
def test_a_function_decorated_while_counting_counts_every_call() -> None:
    count = _NoOpCount()
    try:

        @trace.NoOpTracer().start_as_current_span("decorated")
        def ask() -> int:
            return 42

        assert [ask(), ask(), ask()] == [42, 42, 42]
        assert count.spans == 3
    finally:
        count.uninstall()


def test_uninstall_puts_both_methods_back(api: str) -> None:
    methods = dict(vars(trace.NoOpTracer))
    count = _NoOpCount()
    assert vars(trace.NoOpTracer)["start_span"] is not methods["start_span"]
    assert vars(trace.NoOpTracer)["start_as_current_span"] is not methods["start_as_current_span"]
    count.uninstall()
    assert dict(vars(trace.NoOpTracer)) == methods
    with trace.NoOpTracer().start_as_current_span("after"):
        trace.NoOpTracer().start_span("after").end()
    assert count.spans == 0
