"""OpenTelemetry adapter: evaluation results that arrive as log records.

The GenAI conventions define `gen_ai.evaluation.result` as an event, which the SDK
delivers as a log record carrying the evaluated span's trace and span ids. A log
record processor on every SDK LoggerProvider hands those to the SpanRecorder, which
attaches the score to the span when the session ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import _logs as logs_api
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor

from pytest_llmobs.capture.providers import hook_init
from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.gate.semconv import EVALUATION_EVENT

if TYPE_CHECKING:  # SDK 1.39+ only: older SDKs pass a LogData, of the same shape here
    from opentelemetry.sdk._logs import ReadWriteLogRecord

# Before SDK 1.35 a log record had no event_name: the Events API put it in this attribute
_EVENT_NAME_ATTRIBUTE = "event.name"


class EvaluationLogProcessor(LogRecordProcessor):
    """Passes `gen_ai.evaluation.result` log records to the recorder; never raises.

    Works with every SDK from 1.20 on: 1.20-1.34 call `emit(LogData)`, 1.35-1.38
    `on_emit(LogData)`, 1.39+ `on_emit(ReadWriteLogRecord)`; both wrappers hold the
    record in `.log_record`.
    """

    def __init__(self, recorder: SpanRecorder) -> None:
        self.recorder = recorder
        self.active = True

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if not self.active:
            return
        try:
            record = log_record.log_record
            attributes = getattr(record.attributes, "_dict", record.attributes) or {}
            name = getattr(record, "event_name", None) or attributes.get(_EVENT_NAME_ATTRIBUTE)
            if name != EVALUATION_EVENT:
                return
            self.recorder.add_evaluation_record(
                int(record.trace_id or 0), int(record.span_id or 0), attributes
            )
        except Exception as exc:  # never let our bug reach the app's thread
            self.recorder.skip(f"unreadable evaluation log record ({type(exc).__name__})")

    # SDK 1.20-1.34 declare and call this name: without it the class cannot even be made
    emit = on_emit

    def shutdown(self) -> None:
        """A provider shutting down does not end the capture: the session does."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class LogCaptureInstaller:
    """Puts one EvaluationLogProcessor on every SDK LoggerProvider, old or new."""

    def __init__(self, recorder: SpanRecorder, find_existing: bool = True) -> None:
        self.processor = EvaluationLogProcessor(recorder)
        self.find_existing = find_existing
        self._attached: list[object] = []
        self._original_init: Any = None

    def install(self) -> None:
        self._original_init = hook_init(LoggerProvider, self._attach, self.find_existing)
        self.check_global()

    def check_global(self) -> None:
        """Attach to the global provider if the app set an SDK one since the last look."""
        provider = logs_api.get_logger_provider()
        if isinstance(provider, LoggerProvider):
            self._attach(provider)

    def _attach(self, provider: LoggerProvider) -> None:
        if any(p is provider for p in self._attached):
            return
        try:
            provider.add_log_record_processor(self.processor)
        except Exception:  # a provider we cannot observe only loses its evaluations
            return
        self._attached.append(provider)

    def uninstall(self) -> None:
        self.processor.active = False
        if self._original_init is not None:
            LoggerProvider.__init__ = self._original_init  # type: ignore[method-assign]
        self._attached.clear()
