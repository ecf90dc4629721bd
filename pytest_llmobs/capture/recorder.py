"""OpenTelemetry adapter: a span processor that keeps ended spans as compact columns."""

from __future__ import annotations

import itertools
import threading
import time
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from pytest_llmobs.capture.settling import SampledColumns
from pytest_llmobs.capture.span_fields import (
    NO_ENTRIES,
    PUBLIC_READ,
    Fields,
    event_of,
    read_private,
    read_public,
)
from pytest_llmobs.capture.table import pack_row, rows_from, rows_named
from pytest_llmobs.gate.model import SpanEvent, SpanTable
from pytest_llmobs.gate.semconv import EVALUATION_EVENT

SETTLE_AT = 65536  # spans of undecided detail before sampling drops some mid-test
UNREADABLE = "unreadable span"  # a skip reason that fails the gate: the spans were lost


class SpanRecorder(SampledColumns, SpanProcessor):
    """Receives every ended span of the providers it is added to, and keeps it as columns.

    `on_end` turns the span into one row of unsigned 64-bit values (`pack_row`) and its
    attributes into column entries at once, and keeps no object of the SDK's alive
    (but the last span each thread ended): holding spans (or even a tuple a span) until
    later made every garbage collection of the test process slower, which cost more than
    the conversion. Numbers of `numeric_attributes` and the values of `always_kept`
    (grouping) attributes are kept for every span; every other attribute and the events
    (detail) for a `sample_rate` share of traces and for every trace with an error or an
    outlier, decided when a test starts or ends. Nothing here raises into the app's
    thread: a span it cannot read is counted in `skipped` (as UNREADABLE), and a span
    is recorded whole or not at all.
    """

    def __init__(
        self,
        numeric_attributes: Sequence[str] = (),
        sample_rate: float = 1.0,
        always_kept: Iterable[str] = (),
    ) -> None:
        super().__init__(numeric_attributes, sample_rate, always_kept)
        self._table: SpanTable | None = None
        self._test_rows = 0
        self._read = read_private  # read_public once the private fields are missing
        # per thread: the span it started and the span it ended last (kept alive until
        # that thread starts or ends another)
        self._last = threading.local()
        self._starts = itertools.count()  # next() is atomic: no lock on span start
        self._dropped = 0  # spans that ended but could not be recorded

    def notes(self) -> list[str]:
        """What the run should be told about how spans were read."""
        notes = [PUBLIC_READ] if self._read is read_public else []
        if self._sampling_failed:
            failed = self._sampling_failed
            notes.append(f"detail sampling failed; detail kept from then on: {failed}")
        came_back = [f"{self.came_back} span(s)"] if self.came_back else []
        if self.evaluations_came_back:
            came_back.append(f"{self.evaluations_came_back} evaluation result(s)")
        if came_back:
            notes.append(
                f"{' and '.join(came_back)} made in this process came back over OTLP (its "
                "own exporter sends to the receiver): each is counted once"
            )
        if self.twice:
            notes.append(
                f"{self.twice} span(s) reached the capture twice (a TracerProvider that "
                "forwards add_span_processor() to another one): each is counted once"
            )
        return notes

    def mark_test(self, nodeid: str | None) -> None:
        """Note that a test started (its nodeid) or ended (None) now."""
        self._settle()
        with self._lock:
            idx = 0 if nodeid is None else self._tests.setdefault(nodeid, len(self._tests))
            self._timeline_ns.append(time.time_ns())
            self._timeline_test.append(idx)
            self._test_rows = len(self)  # spans of this test are recorded from here on

    def test_spans(self) -> list[SpanView]:
        """The spans that started in the running test and have ended, oldest first."""
        with self._lock:
            first, since = self._test_rows, self._timeline_ns[-1] if self._timeline_ns else 0
            rows = rows_from(self._rows, first)
            attributes = self._attributes_from(first, len(rows))
            names = list(self._names)
            views = [
                SpanView(
                    row=first + i,
                    name=names[int(r[0])],
                    trace_id=f"{int(r[5]):016x}{int(r[4]):016x}",
                    span_id=f"{int(r[6]):016x}",
                    parent_id=f"{int(r[7]):016x}" if r[7] else None,
                    start_ns=int(r[1]),
                    duration_ms=int(r[2]) / 1e6,
                    error=bool(r[3]),
                    attributes=attributes[i],
                )
                for i, r in enumerate(rows)
            ]
        return sorted((v for v in views if v.start_ns >= since), key=lambda v: v.start_ns)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Count the span, to tell at the end how many never ended; the test it belongs
        to is found from its start time when it ends."""
        last = self._last
        if getattr(last, "started", None) is not span:  # not passed on twice
            last.started = span
            next(self._starts)

    def on_end(self, span: ReadableSpan) -> None:
        """Record the span; runs in whatever thread ended it."""
        last = self._last
        if getattr(last, "ended", None) is span:  # a provider passing spans on to another
            self._count_twice()
            return
        last.ended = span
        if not self._active:
            self._count_late()
            return
        try:
            try:
                fields = self._read(span)
            except (AttributeError, TypeError) as exc:  # not the fields it expects
                fields = self._read_instead(span, exc)
            self._record(*fields)
        except Exception as exc:  # never let an odd span or our bug reach the app's thread
            with self._lock:
                self.skipped[f"{UNREADABLE} ({type(exc).__name__})"] += 1
                self._dropped += 1

    def receive(self, spans: Sequence[Fields]) -> None:
        """Record spans another process made (decoded from OTLP), marked as received:
        counted as started here too, so that what never ended is still told apart. A
        span this process recorded already (its own exporter points at the receiver) is
        counted once. The lock is taken per span, as `on_end` takes it: the search for
        spans that came back reads a copy of the rows without it."""
        with self._lock:
            if not self._active or not spans:
                self.late += len(spans)
                return
            self._receiving += 1  # snapshot() waits for this batch to be marked
            recorded = len(self._detailed)
        try:
            ids = [(fields[3], fields[4]) for fields in spans]
            known = rows_named(self._rows, ids) if recorded else [-1] * len(ids)
            self._mark_received(
                [self._take(fields) for fields, row in zip(spans, known, strict=True) if row < 0]
            )
            self._count_came_back(sum(row >= 0 for row in known))
        finally:
            with self._lock:
                self._receiving -= 1

    def _take(self, fields: Fields) -> int:
        """Record one received span: its row, or -1 (late, or counted as skipped)."""
        try:
            row = self._record(*fields)
        except Exception as exc:  # a value the columns cannot hold: never the receiver's end
            row = -1
            with self._lock:
                self.skipped[f"{UNREADABLE} ({type(exc).__name__})"] += 1
                self._dropped += 1
        if row >= 0 or self._active:  # recorded, or counted as dropped: it started here
            next(self._starts)
        return row

    def _read_instead(self, span: ReadableSpan, error: Exception) -> Fields:
        """The span through its public properties, when the fast path failed on it; from
        then on always, if that works (a newer SDK renamed a private field)."""
        if self._read is read_public:
            raise error
        fields = read_public(span)  # raises too when the span cannot be read at all
        self._read = read_public
        return fields

    def _record(
        self,
        name: str,
        start: int,
        end: int,
        trace_id: int,
        span_id: int,
        parent_id: int,
        error: bool,
        values: Mapping[str, Any] | None,
        events: Iterable[Any] | None,
    ) -> int:
        """Add one span: converted whole first, so that a value that cannot be kept
        leaves no part of the span behind; then appended under the lock. Returns its
        row, or -1 where it was not recorded."""
        numbers, details, bad = self._entries(values) if values else NO_ENTRIES
        found = [event_of(event) for event in events] if events else []
        self._lock.acquire()  # cheaper than `with` on this path
        try:
            if not self._active:  # the capture ended while this thread waited
                self.late += 1
                return -1
            if not 0 <= start <= end:
                self.skipped["span ending before it started"] += 1
                self._dropped += 1
                return -1
            row = len(self._detailed)
            name_id = self._names.get(name, len(self._names))
            packed = pack_row(
                name_id, start, end - start, error, trace_id.to_bytes(16, "little"), span_id,
                parent_id,
            )  # fmt: skip
            self._names.setdefault(name, name_id)
            self._rows += packed
            self._detailed.append(1)
            for key, number in numbers:
                column = self._numeric[key]
                column[1].append(number)
                column[0].append(row)
            for key in bad:
                self.skipped[f"non-numeric or non-finite {key!r} attribute"] += 1
            for key, value in details:
                kept = self._detail.get(key)
                if kept is None:
                    kept = self._detail[key] = (array("q"), [])
                kept[0].append(row)
                kept[1].append(value)
            for event_name, timestamp, attributes in found:
                self._events.append(SpanEvent(row, event_name, timestamp, attributes))
                if event_name == EVALUATION_EVENT:
                    self._add_evaluation(row, attributes)
        finally:
            self._lock.release()
        if self.has_undecided_detail() >= SETTLE_AT:
            self._settle_soon()
        return row

    def shutdown(self) -> None:
        """A provider shutting down does not end the capture: the session does."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def stop(self) -> None:
        """Ignore spans from now on (providers keep a reference to this processor)."""
        self._active = False
        self._wanted.set()  # the sampling thread, if any, ends

    def snapshot(self) -> SpanTable:
        """The captured spans as a SpanTable, each attributed to its test.

        Ends the capture: the table's columns are views of the buffers, so a session's
        peak memory holds the spans once; later calls return the same table.
        """
        with self._lock:
            if self._table is not None:
                return self._table
            self._active = False
        unmarked = not self._wait_for_receiving()
        with self._lock:
            if unmarked:  # its spans may pass for this process's own: fail closed
                self.skipped[f"{UNREADABLE} (a received batch not finished in time)"] += 1
            self._resolve_logged()
        self._settle_last()
        with self._lock:
            if self._table is None:
                unended = next(self._starts) - len(self) - self._dropped
                if unended > 0:  # started under the capture, not ended before it ended
                    self.skipped["span not ended when the capture ended"] = unended
                self._table = self._build_table()  # it now owns the buffers
            return self._table


@dataclass(frozen=True)
class SpanView:
    """One recorded span as plain data, for assertions in a test."""

    row: int
    name: str
    trace_id: str  # 32 hex digits, as OpenTelemetry prints it
    span_id: str
    parent_id: str | None
    start_ns: int
    duration_ms: float
    error: bool
    attributes: Mapping[str, Any]
