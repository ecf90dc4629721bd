"""Every version pyproject.toml allows: its floors are those CI's minimum job installs, and
the capture adapters work on every OpenTelemetry from that floor (1.20) to the newest.

The minimum job runs these on the real 1.20; the older call shapes are also built here on
the installed version, so that no run on the newest misses a regression.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from packaging.requirements import Requirement
from packaging.version import Version

from pytest_llmobs.capture.logs import EvaluationLogProcessor
from pytest_llmobs.capture.providers import _FallbackProvider
from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.gate.semconv import EVALUATION_EVENT, EVALUATION_NAME, EVALUATION_SCORE

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

ROOT = Path(__file__).resolve().parents[3]
# API 1.35 gave log records an event_name; before it, the Events API set this attribute
HAS_EVENT_NAME = "event_name" in inspect.signature(LogRecord).parameters
# API 1.26 gave get_tracer and ProxyTracer their `attributes` argument
HAS_TRACER_ATTRIBUTES = "attributes" in inspect.signature(trace.get_tracer).parameters


@dataclass
class LogData:
    """The SDK's LogData (1.20-1.38): what `emit` and then `on_emit` received."""

    log_record: Any
    instrumentation_scope: Any = None


def evaluation(span: trace.Span, score: float, event_name: bool) -> LogRecord:
    """A `gen_ai.evaluation.result` record for the span, its name where `event_name` says."""
    context = span.get_span_context()
    attributes: dict[str, Any] = {EVALUATION_NAME: "relevance", EVALUATION_SCORE: score}
    if not event_name:  # the Events API's form, the only one before 1.35
        attributes["event.name"] = EVALUATION_EVENT
    record = LogRecord(trace_id=context.trace_id, span_id=context.span_id, attributes=attributes)
    if event_name:
        record.event_name = EVALUATION_EVENT
    return record


def through_provider(processor: EvaluationLogProcessor, record: LogRecord) -> None:
    """The installed SDK's own call, whichever of the three shapes it makes."""
    provider = LoggerProvider()
    provider.add_log_record_processor(processor)
    provider.get_logger("judge").emit(record)


SHAPES: dict[str, Callable[[EvaluationLogProcessor, LogRecord], None]] = {
    "sdk-1.20-1.34": lambda p, r: p.emit(LogData(r)),  # type: ignore[arg-type]
    "sdk-1.35-1.38": lambda p, r: p.on_emit(LogData(r)),  # type: ignore[arg-type]
    "installed-sdk": through_provider,
}


@pytest.mark.parametrize("event_name", [True, False], ids=["event_name", "event.name"])
@pytest.mark.parametrize("shape", SHAPES)
def test_evaluation_log_records_of_every_sdk_shape(shape: str, event_name: bool) -> None:
    if shape == "installed-sdk" and event_name and not HAS_EVENT_NAME:
        pytest.skip("log records have no event_name before OpenTelemetry 1.35")
    recorder = SpanRecorder([])
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    with provider.get_tracer("t").start_as_current_span("chat") as span:
        pass
    processor = EvaluationLogProcessor(recorder)
    SHAPES[shape](processor, evaluation(span, 0.75, event_name))
    table = recorder.snapshot()
    assert dict(recorder.skipped) == {}
    rows, values = table.numeric["relevance"]
    assert (list(rows), list(values)) == ([0], [0.75])


def proxy_tracer_init_before_1_26(
    self: Any,
    instrumenting_module_name: str,
    instrumenting_library_version: str | None = None,
    schema_url: str | None = None,
) -> None:
    """ProxyTracer.__init__ of OpenTelemetry 1.20-1.25, as released."""
    self._instrumenting_module_name = instrumenting_module_name
    self._instrumenting_library_version = instrumenting_library_version
    self._schema_url = schema_url
    self._real_tracer = None
    self._noop_tracer = trace.NoOpTracer()


@pytest.fixture(params=["installed-api", "api-1.20-1.25"])
def api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The installed API, and the one before 1.26: three arguments to get_tracer."""
    if request.param == "api-1.20-1.25":
        sdk_get_tracer = TracerProvider.get_tracer

        def get_tracer(
            self: TracerProvider,
            instrumenting_module_name: str,
            instrumenting_library_version: str | None = None,
            schema_url: str | None = None,
        ) -> trace.Tracer:
            return sdk_get_tracer(
                self, instrumenting_module_name, instrumenting_library_version, schema_url
            )

        monkeypatch.setattr(trace.ProxyTracer, "__init__", proxy_tracer_init_before_1_26)
        monkeypatch.setattr(TracerProvider, "get_tracer", get_tracer)
    return str(request.param)


@pytest.fixture
def exporters(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[InMemorySpanExporter, ...]]:
    """The fallback as the global provider, then the app's own: what each one got."""
    fallback = _FallbackProvider()
    got = InMemorySpanExporter(), InMemorySpanExporter()
    fallback.sdk.add_span_processor(SimpleSpanProcessor(got[0]))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", fallback)
    yield got
    fallback.sdk.shutdown()


def set_app_provider(monkeypatch: pytest.MonkeyPatch, exporter: InMemorySpanExporter) -> None:
    app = TracerProvider(shutdown_on_exit=False)
    app.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", app)


def scope(exporter: InMemorySpanExporter) -> tuple[str, str | None, str | None]:
    [span] = exporter.get_finished_spans()
    assert span.instrumentation_scope is not None
    found = span.instrumentation_scope
    return found.name, found.version, found.schema_url


@pytest.mark.usefixtures("api")
def test_the_apps_tracer_through_the_fallback_then_its_own_provider(
    exporters: tuple[InMemorySpanExporter, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    tracer = trace.get_tracer("app", "1.0", schema_url="https://schema")  # at import time
    with tracer.start_as_current_span("before"):
        pass
    assert scope(exporters[0]) == ("app", "1.0", "https://schema")
    set_app_provider(monkeypatch, exporters[1])
    with tracer.start_as_current_span("after"):
        pass
    assert scope(exporters[1]) == ("app", "1.0", "https://schema")


@pytest.mark.skipif(not HAS_TRACER_ATTRIBUTES, reason="no tracer attributes before 1.26")
def test_tracer_attributes_reach_the_apps_provider(
    exporters: tuple[InMemorySpanExporter, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    tracer = trace.get_tracer("app", attributes={"team": "search"})
    set_app_provider(monkeypatch, exporters[1])
    with tracer.start_as_current_span("after"):
        pass
    [span] = exporters[1].get_finished_spans()
    assert span.instrumentation_scope is not None
    assert dict(span.instrumentation_scope.attributes or {}) == {"team": "search"}


def test_the_minimum_job_installs_exactly_the_declared_floors() -> None:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        project = tomllib.load(fh)["project"]
    # the core's and the extras' (otlp, export): the job installs them all (the receiver's
    # and the exports' tests run there); grafana-foundation-sdk has no floor (pinned, and
    # not on the oldest Python)
    extras = project["optional-dependencies"]
    oldest_python = {"python_version": "3.10"}  # newer ones may lack wheels of the floors
    every = [Requirement(r) for r in (*project["dependencies"], *extras["otlp"], *extras["export"])]
    declared = [r for r in every if r.marker is None or r.marker.evaluate(oldest_python)]
    floors = {
        r.name: Version(s.version) for r in declared for s in r.specifier if s.operator == ">="
    }
    pins = {}
    for line in (ROOT / ".ci" / "minimum.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            pin = Requirement(line)
            [spec] = pin.specifier
            assert spec.operator == "==", line
            if pin.marker is None or pin.marker.evaluate(oldest_python):
                pins[pin.name] = Version(spec.version)
    assert pins == floors
    assert set(floors) == {r.name for r in declared}  # every dependency has a floor
