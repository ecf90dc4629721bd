"""OpenTelemetry adapter: what the SpanRecorder reads of an ended span, as plain values."""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from pytest_llmobs.gate.model import AttrValue

_ERROR = StatusCode.ERROR  # an enum member lookup costs more than the rest of on_end

PUBLIC_READ = (
    "spans were read through their public properties: this OpenTelemetry SDK does not "
    "have the private fields the fast path reads (nothing is lost; capture costs more)"
)

# One C call reads what a ReadableSpan holds; SpanContext is a tuple (trace_id, span_id, ...).
_READ = operator.attrgetter(
    "_name", "_start_time", "_end_time", "_context", "_parent", "_status", "_attributes", "_events"
)
PLAIN = frozenset({str, bool, int, float})
# name, start, end, trace id, span id, parent span id (0: none), error, attributes, events
Fields = tuple[str, int, int, int, int, int, bool, "Mapping[str, Any] | None", Any]


NO_ENTRIES: tuple[list[Any], list[Any], list[Any]] = ([], [], [])


def read_private(span: ReadableSpan) -> Fields:
    """What on_end needs of a span, from the SDK's private fields: the fast path."""
    name, start, end, context, parent, status, attributes, events = _READ(span)
    if type(name) is not str:
        name = _text(name)
    return (
        name, start, end, context[0], context[1], 0 if parent is None else parent[1],
        status._status_code is _ERROR, getattr(attributes, "_dict", attributes),
        getattr(events, "_dq", events),
    )  # fmt: skip


def read_public(span: ReadableSpan) -> Fields:
    """The same from the span's public properties, which every SDK version keeps."""
    context, parent = span.context, span.parent
    if context is None:
        raise TypeError(f"span {span.name!r} has no context")
    return (
        _text(span.name), span.start_time or 0, span.end_time or 0, context.trace_id,
        context.span_id, 0 if parent is None else parent.span_id,
        span.status.status_code is _ERROR, span.attributes, span.events,
    )  # fmt: skip


def _text(name: object) -> str:
    """A span name as a plain str: an enum's or other str subclass's own text, or
    str() of what is not text (a None name is "None", a series like any other)."""
    return str.__str__(name) if isinstance(name, str) else str(name)


def event_of(event: Any) -> tuple[str, int, dict[str, AttrValue]]:
    """An event's name, time and attributes as plain values."""
    attributes = getattr(event.attributes, "_dict", event.attributes) or {}
    values = {str(k): as_plain(v) for k, v in attributes.items()}
    return str(event.name), int(event.timestamp or 0), values


def as_number(value: Any) -> float:
    """A numeric attribute's value, or NaN when it is not a number (a bool is not) or
    beyond a float's range (an int of 10**400)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return math.nan
    return math.nan


def as_plain(value: Any) -> AttrValue:
    """An attribute value as plain Python types only (a numpy float would break xdist)."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Iterable):
        return tuple(_scalar(v) for v in value)
    return str(value)


def _scalar(value: Any) -> str | bool | int | float:
    found = as_plain(value)
    return found if not isinstance(found, tuple) else str(found)
