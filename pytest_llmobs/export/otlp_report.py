"""The requests a saved run report lists, rebuilt as OpenTelemetry SDK spans to send again."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from pytest_llmobs.export.otlp_spans import TEST_ATTRIBUTE, SpanMaker, typed
from pytest_llmobs.gate.model import AttrValue
from pytest_llmobs.gate.redact import Redactor
from pytest_llmobs.report.findings_json import findings_from_json

if TYPE_CHECKING:  # the export extra's libraries load only when an export is asked for
    from opentelemetry.sdk.trace import ReadableSpan

    from pytest_llmobs.analysis.findings import RequestDetail

# a value the report already withheld: redacting it again would count its own characters
_WITHHELD = re.compile(r"\[\d+ characters withheld\]")


class ReportSpans(NamedTuple):
    """The spans rebuilt from a run report, and how many of its requests could not be."""

    spans: list[ReadableSpan]
    skipped: int  # requests of a report written before span ids were kept


@dataclass
class _Span:
    """One span of a listed request, as the report keeps it."""

    name: str
    ids: tuple[int, int, int]
    times: tuple[int, int]
    error: bool
    test: str | None
    attributes: dict[str, AttrValue] = field(default_factory=dict)  # as the report shows them
    about: bool = False  # the span its request is about: the one whose attributes were kept


def requests_for_export(
    run_report: Mapping[str, Any],
    redactor: Redactor,
    resource: Mapping[str, AttrValue],
    service_attribute: str = "service.name",
) -> ReportSpans:
    """The spans of the requests a run report lists (slowest and lowest-scored), each once.

    A span in several listed requests is sent once; the span a request is about keeps its
    (already redacted) attributes, the others of its breakdown only their name, times,
    ids and status. Every span carries the request's test id as `test.nodeid`.

    Args:
        run_report: the run report (`--llmobs-json`), as read from JSON.
        redactor: applied again to the attributes, so a stricter one still holds.
        resource: the run's resource attributes.
        service_attribute: the attribute that names a span's service (its resource).

    Returns:
        The spans, and how many requests were skipped for want of span ids.

    Raises:
        ValueError: a listed request is malformed; the message names the field.
    """
    found = findings_from_json(dict(run_report))
    kept, skipped = _listed((*found.slowest, *found.lowest))
    maker = SpanMaker(resource, service_attribute)
    made = [_made(maker, span, redactor, service_attribute) for span in kept]
    return ReportSpans(made, skipped)


def _listed(requests: Sequence[RequestDetail]) -> tuple[list[_Span], int]:
    """The spans of the requests, each once, and how many requests kept no ids."""
    kept: dict[tuple[int, int], _Span] = {}
    skipped = 0
    for request in requests:
        spans = _request_spans(request)
        if spans is None:
            skipped += 1
            continue
        for span in spans:
            known = kept.setdefault(span.ids[:2], span)
            if span.about and not known.about:  # in several requests: the one with attributes
                kept[span.ids[:2]] = span
    return list(kept.values()), skipped


def _request_spans(request: RequestDetail) -> list[_Span] | None:
    """A listed request's breakdown as spans; None when the report kept no ids for it."""
    zero = request.start_unix_nano
    if zero is None or not request.spans or any(p.span_id is None for p in request.spans):
        return None
    trace_id = _hex(request.trace_id, "trace_id", 32)
    spans = []
    for part in request.spans:
        start = zero + round(part.offset_ms * 1e6)  # float ms keep every ns of a span's times
        ids = (trace_id, _hex(part.span_id, "span_id"), _hex(part.parent_id, "parent_id"))
        times = (start, start + round(part.duration_ms * 1e6))
        spans.append(_Span(part.name, ids, times, part.error, request.test))
    spans[0].attributes = dict(request.attributes)  # its depth 0: the span itself
    spans[0].about = True
    return spans


def _hex(value: str | None, name: str, digits: int = 16) -> int:
    """An id written as hex digits (None: 0, no parent)."""
    if value is None:
        return 0
    if not re.fullmatch(f"[0-9a-fA-F]{{1,{digits}}}", value):
        raise ValueError(f"{name} must be up to {digits} hex digits, got {value!r:.40}")
    return int(value, 16)


def _made(
    maker: SpanMaker, span: _Span, redactor: Redactor, service_attribute: str
) -> ReadableSpan:
    """The SDK span; a service name the report shows moves to its resource."""
    kept = dict(span.attributes)
    named = kept.pop(service_attribute, None)
    # as spans_for_export: a service's name is masked, never withheld
    service = redactor.text(named) if isinstance(named, str) and not _withheld(named) else None
    # a token count the report shows as 812.0 goes as the int 812, as it was captured
    attributes = {k: v if _withheld(v) else typed(k, redactor.value(k, v)) for k, v in kept.items()}
    if span.test:
        attributes[TEST_ATTRIBUTE] = span.test
    return maker.span(span.name, span.ids, span.times, span.error, attributes, (), service)


def _withheld(value: AttrValue) -> bool:
    return isinstance(value, str) and _WITHHELD.fullmatch(value) is not None
