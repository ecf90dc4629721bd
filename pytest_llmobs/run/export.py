"""After the run is judged and its reports are written: its spans and metrics to the
team's live stack (--llmobs-export-otlp, --llmobs-pushgateway, --llmobs-prometheus).
What an outside service costs is bounded, reported in one line, and never the verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llmobs.config.settings import Settings
from pytest_llmobs.export import stack
from pytest_llmobs.gate.model import AttrValue, SpanTable
from pytest_llmobs.report.result import RunResult


def targets(settings: Settings) -> stack.Targets:
    """Where this run's results go, from its settings."""
    return stack.Targets(
        otlp=settings.export_otlp,
        pushgateway=settings.pushgateway,
        job=settings.pushgateway_job,
        prometheus=settings.prometheus,
        timeout=settings.export_timeout,
    )


def export(
    settings: Settings, result: RunResult, table: SpanTable | None, service_name: str | None
) -> stack.Sent:
    """Send the judged run where the settings say; an interrupted run, or one pytest
    stopped before any test, is not sent (its numbers would stand in the team's
    dashboards, and fire its alerts, as a run's)."""
    where = targets(settings)
    if result.interrupted:
        return stack.Sent(withheld="the session was interrupted")
    if result.capture is None:
        return stack.Sent(withheld="pytest stopped the run before any test")

    def spans(resource: Mapping[str, AttrValue]) -> Sequence[Any]:
        from pytest_llmobs.export.otlp_spans import spans_for_export

        return spans_for_export(table, settings.redact, resource) if table is not None else []

    return stack.send(where, result, spans, service_name)
