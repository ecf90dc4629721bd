"""A judged run's captured spans as OpenTelemetry SDK spans, for an OTLP exporter to send."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from pytest_llmobs.gate.model import AttrValue, SpanEvent, SpanTable
from pytest_llmobs.gate.redact import Redactor

if TYPE_CHECKING:  # the export extra's libraries load only when an export is asked for
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan

SCOPE = "pytest-llmobs"  # the instrumentation scope every exported span carries
TEST_ATTRIBUTE = "test.nodeid"
RECEIVED_ATTRIBUTE = "llmobs.received"  # true on spans another process made
# the resource's attributes that name the run, on every span too: some backends (Phoenix)
# keep no resource attribute, and a search by run is a search of span attributes
RUN_ATTRIBUTES = ("llmobs.run.id", "llmobs.run.verdict", "vcs.ref.head.revision")


class SpanMaker:
    """Builds SDK spans of one run: one Resource per service, shared objects for the rest
    (a span costs a few microseconds: 100,000 convert in about a second)."""

    def __init__(
        self, resource: Mapping[str, AttrValue], service_attribute: str = "service.name"
    ) -> None:
        from opentelemetry.attributes import BoundedAttributes
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util import BoundedList
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

        from pytest_llmobs import __version__

        self._attributes = dict(resource)
        self._run = {k: resource[k] for k in RUN_ATTRIBUTES if resource.get(k)}
        self._service_attribute = service_attribute
        # Resource() as such: Resource.create() would run the detectors and read the
        # environment of this process, which is not the run's
        self._resources: dict[str | None, Resource] = {None: Resource(self._attributes)}
        self._scope = InstrumentationScope(SCOPE, __version__)
        self._context = SpanContext
        self._sampled = TraceFlags(TraceFlags.SAMPLED)
        self._status = {True: Status(StatusCode.ERROR), False: Status(StatusCode.UNSET)}
        self._readable = ReadableSpan
        # the SDK's own containers, as its spans hold them: the 1.20 exporter reads their
        # `dropped` counts, which a plain dict or tuple does not have
        self._bounded = BoundedAttributes
        self._events = BoundedList.from_seq

    def resource(self, service: str | None) -> Resource:
        """The run's resource, with this service's name when the span named one."""
        found = self._resources.get(service)
        if found is None:
            from opentelemetry.sdk.resources import Resource

            attributes = {**self._attributes, self._service_attribute: service}
            found = self._resources[service] = Resource(attributes)
        return found

    def span(
        self,
        name: str,
        ids: tuple[int, int, int],  # trace id, span id, parent span id (0: a root)
        times: tuple[int, int],  # start and end, ns since the epoch
        error: bool,
        attributes: Mapping[str, AttrValue],
        events: Sequence[Event] = (),
        service: str | None = None,
    ) -> ReadableSpan:
        """One ended span, sampled, as the SDK would have handed it to an exporter."""
        trace_id, span_id, parent_id = ids
        context, flags = self._context, self._sampled
        attributes = {**attributes, **self._run}
        return self._readable(
            name=name,
            context=context(trace_id, span_id, False, flags),
            parent=context(trace_id, parent_id, False, flags) if parent_id else None,
            resource=self.resource(service),
            attributes=self._bounded(None, attributes, True, None),
            events=self._events(None, events) if events else (),
            status=self._status[error],
            start_time=times[0],
            end_time=times[1],
            instrumentation_scope=self._scope,
        )


def spans_for_export(
    table: SpanTable,
    redactor: Redactor,
    resource: Mapping[str, AttrValue],
    service_attribute: str = "service.name",
) -> list[ReadableSpan]:
    """Every captured span as an SDK span, its attribute values as the reports show them.

    Args:
        table: the run's captured spans.
        redactor: what of a string attribute may leave the run (numbers pass unchanged).
        resource: the run's resource attributes (service.name, llmobs.run.id, ...).
        service_attribute: the attribute a received span names its service by; such a
            span goes under a resource of that service instead of being an attribute.

    Returns:
        One span per row, in the table's order, with `test.nodeid` (when it ran in a
        test) and `llmobs.received` (when another process made it) added.
    """
    maker = SpanMaker(resource, service_attribute)
    attributes, services = _attributes(table, redactor, service_attribute)
    events = _events(table.events, redactor)
    high, low = table.trace_hi.tolist(), table.trace_lo.tolist()
    ids = zip(
        [(h << 64) | lo for h, lo in zip(high, low, strict=True)],
        table.span_id.tolist(),
        table.parent_id.tolist(),
        strict=True,
    )
    times = zip(table.start_ns.tolist(), (table.start_ns + table.duration_ns).tolist(), strict=True)
    names = [table.names[i] for i in table.name_idx.tolist()]
    rows = zip(names, ids, times, table.error.tolist(), attributes, strict=True)
    return [
        maker.span(*fields, events.get(row, ()), services.get(row))
        for row, fields in enumerate(rows)
    ]


def _attributes(
    table: SpanTable, redactor: Redactor, service_attribute: str
) -> tuple[list[dict[str, AttrValue]], dict[int, str]]:
    """Each row's attributes through the redactor, and the service each received span
    names (kept out of its attributes: it goes to the span's resource)."""
    found: list[dict[str, AttrValue]] = [{} for _ in range(len(table))]
    for key, (rows, numbers) in table.numeric.items():
        for row, number in zip(rows.tolist(), numbers.tolist(), strict=True):
            found[row][key] = number
    services: dict[int, str] = {}
    for key, (rows, values) in table.detail.items():
        shown = _shown(key, redactor)
        for row, value in zip(np.asarray(rows).tolist(), values, strict=True):
            if key == service_attribute:  # a name, not content: masked, never withheld
                services[row] = redactor.text(str(value))
            else:
                found[row][key] = shown(value)
    for row, test in enumerate(table.test_idx.tolist()):
        if test:
            found[row][TEST_ATTRIBUTE] = table.tests[test]
    if table.received is not None:
        for row in np.flatnonzero(table.received).tolist():
            found[row][RECEIVED_ATTRIBUTE] = True
    return found, services


def _shown(key: str, redactor: Redactor) -> Callable[[AttrValue], AttrValue]:
    """What the redactor shows of this attribute's values, remembered per string: a model
    or a route repeats on most spans, and masking is the costly part."""
    seen: dict[str, AttrValue] = {}

    def shown(value: AttrValue) -> AttrValue:
        if type(value) is str:
            if value not in seen:
                seen[value] = redactor.value(key, value)
            return seen[value]
        return redactor.value(key, value)

    return shown


def _events(events: Sequence[SpanEvent], redactor: Redactor) -> dict[int, list[Event]]:
    """The kept events of each row, their attributes through the redactor."""
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.sdk.trace import Event

    found: dict[int, list[Event]] = {}
    for event in events:
        attributes = BoundedAttributes(None, redactor.attributes(event.attributes), True, None)
        found.setdefault(event.row, []).append(Event(event.name, attributes, event.time_ns))
    return found
