"""A judged run's captured spans as OpenTelemetry SDK spans, for an OTLP exporter to send."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import numpy.typing as npt

from pytest_llmobs.gate import semconv
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
MADE_AT_ONCE = 512  # spans an iteration makes at a time (the sender's batch)
_SHOWN_KEPT = 4096  # strings an attribute remembers the redacted form of, at most
_INT64 = 2**63  # an OTLP int value is 64-bit


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


def integer_typed(key: str) -> bool:
    """Whether the conventions type an attribute int: a token count, under its GenAI name
    (gen_ai.usage.*_tokens) or any alias of one, or OpenInference's llm.token_count.*."""
    name = semconv.canonical(key)
    return (name.startswith("gen_ai.usage.") and name.endswith("_tokens")) or key.startswith(
        "llm.token_count."
    )


def typed(key: str, value: AttrValue) -> AttrValue:
    """A value as its attribute's type: the capture holds numbers as floats, and a token
    count of 812.0 goes as the int 812 (a backend sums ints as the app sent them)."""
    if type(value) is float and integer_typed(key):
        return _integral(value)
    return value


def _integral(number: float) -> float | int:
    return int(number) if number.is_integer() and -_INT64 <= number < _INT64 else number


def spans_for_export(
    table: SpanTable,
    redactor: Redactor,
    resource: Mapping[str, AttrValue],
    service_attribute: str = "service.name",
) -> TableSpans:
    """Every captured span as an SDK span, its attribute values as the reports show them.

    Args:
        table: the run's captured spans.
        redactor: what of a string attribute may leave the run (numbers pass unchanged,
            but token counts go as ints).
        resource: the run's resource attributes (service.name, llmobs.run.id, ...).
        service_attribute: the attribute a received span names its service by; such a
            span goes under a resource of that service instead of being an attribute.

    Returns:
        A sequence of one span per row, in the table's order, with `test.nodeid` (when
        it ran in a test) and `llmobs.received` (when another process made it) added.
        Its spans are made when read, a slice at a time (`list()` makes them all).

    Raises:
        ImportError: the export extra is not installed.
    """
    return TableSpans(table, redactor, SpanMaker(resource, service_attribute), service_attribute)


class TableSpans(Sequence["ReadableSpan"]):
    """A table's spans as SDK spans, made when read: a slice makes its own rows' spans
    only, so a sender that reads a batch at a time holds one batch of them (a made span
    takes about 1.3 KB: a million at once would take 1.3 GB)."""

    def __init__(
        self, table: SpanTable, redactor: Redactor, maker: SpanMaker, service_attribute: str
    ) -> None:
        from opentelemetry.attributes import BoundedAttributes
        from opentelemetry.sdk.trace import Event

        self._table, self._redactor, self._maker = table, redactor, maker
        self._service_attribute = service_attribute
        self._numeric = [
            (key, *_in_row_order(rows, values), integer_typed(key))
            for key, (rows, values) in table.numeric.items()
        ]
        self._detail = [
            (key, *_in_row_order(rows, values), _shown(key, redactor))
            for key, (rows, values) in table.detail.items()
        ]
        self._events: dict[int, list[SpanEvent]] = {}
        for event in table.events:
            self._events.setdefault(event.row, []).append(event)
        self._event, self._bounded = Event, BoundedAttributes

    def __len__(self) -> int:
        return len(self._table)

    @overload
    def __getitem__(self, index: int) -> ReadableSpan: ...

    @overload
    def __getitem__(self, index: slice) -> list[ReadableSpan]: ...

    def __getitem__(self, index: int | slice) -> ReadableSpan | list[ReadableSpan]:
        if isinstance(index, slice):
            first, last, step = index.indices(len(self))
            if step != 1:
                return [self._made(row, row + 1)[0] for row in range(first, last, step)]
            return self._made(first, max(first, last))
        row = range(len(self))[index]  # an IndexError past the end, as a list's
        return self._made(row, row + 1)[0]

    def __iter__(self) -> Iterator[ReadableSpan]:
        for first in range(0, len(self), MADE_AT_ONCE):
            yield from self._made(first, min(first + MADE_AT_ONCE, len(self)))

    def _made(self, first: int, last: int) -> list[ReadableSpan]:
        """The spans of rows first to last (excluded)."""
        table, rows = self._table, slice(first, last)
        attributes, services = self._attributes(first, last)
        high, low = table.trace_hi[rows].tolist(), table.trace_lo[rows].tolist()
        ids = zip(
            [(h << 64) | lo for h, lo in zip(high, low, strict=True)],
            table.span_id[rows].tolist(),
            table.parent_id[rows].tolist(),
            strict=True,
        )
        start = table.start_ns[rows]
        times = zip(start.tolist(), (start + table.duration_ns[rows]).tolist(), strict=True)
        names = [table.names[i] for i in table.name_idx[rows].tolist()]
        fields = zip(names, ids, times, table.error[rows].tolist(), attributes, strict=True)
        return [
            self._maker.span(*span, self._events_of(row), services.get(row))
            for row, span in enumerate(fields, first)
        ]

    def _attributes(
        self, first: int, last: int
    ) -> tuple[list[dict[str, AttrValue]], dict[int, str]]:
        """Each row's attributes through the redactor, and the service each received span
        names (kept out of its attributes: it goes to the span's resource)."""
        table = self._table
        found: list[dict[str, AttrValue]] = [{} for _ in range(first, last)]
        for key, rows, numbers, integral in self._numeric:
            lo, hi = np.searchsorted(rows, (first, last)).tolist()
            for row, number in zip(rows[lo:hi].tolist(), numbers[lo:hi].tolist(), strict=True):
                found[row - first][key] = _integral(number) if integral else number
        services: dict[int, str] = {}
        for key, rows, values, shown in self._detail:
            lo, hi = np.searchsorted(rows, (first, last)).tolist()
            for row, value in zip(rows[lo:hi].tolist(), values[lo:hi], strict=True):
                if key == self._service_attribute:  # a name, not content: masked, never withheld
                    services[row] = self._redactor.text(str(value))
                else:
                    found[row - first][key] = shown(value)
        for row, test in enumerate(table.test_idx[first:last].tolist()):
            if test:
                found[row][TEST_ATTRIBUTE] = table.tests[test]
        if table.received is not None:
            for row in np.flatnonzero(table.received[first:last]).tolist():
                found[row][RECEIVED_ATTRIBUTE] = True
        return found, services

    def _events_of(self, row: int) -> list[Event]:
        """The row's kept events, their attributes through the redactor."""
        return [
            self._event(
                e.name,
                self._bounded(None, self._redactor.attributes(e.attributes), True, None),
                e.time_ns,
            )
            for e in self._events.get(row, ())
        ]


def _in_row_order(rows: Any, values: Any) -> tuple[npt.NDArray[np.int64], Any]:
    """An attribute's rows and values sorted by row (as the capture keeps them, but a
    table from elsewhere need not), for a batch to find its own by bisection."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) > 1 and bool(np.any(rows[1:] < rows[:-1])):
        order = np.argsort(rows, kind="stable")
        if isinstance(values, np.ndarray):
            return rows[order], values[order]
        return rows[order], [values[i] for i in order.tolist()]
    return rows, values


def _shown(key: str, redactor: Redactor) -> Callable[[AttrValue], AttrValue]:
    """What the redactor shows of this attribute's values, remembered per string: a model
    or a route repeats on most spans, and masking is the costly part. It remembers a few
    thousand at most: a million distinct prompts would otherwise stay in memory."""
    seen: dict[str, AttrValue] = {}

    def shown(value: AttrValue) -> AttrValue:
        if type(value) is str:
            if value not in seen:
                if len(seen) >= _SHOWN_KEPT:
                    seen.clear()
                seen[value] = redactor.value(key, value)
            return seen[value]
        return redactor.value(key, value)

    return shown
