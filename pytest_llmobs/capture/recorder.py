"""OpenTelemetry adapter: a span processor that keeps ended spans as compact columns."""

from __future__ import annotations

import bisect
import itertools
import math
import os
import struct
import threading
import time
import weakref
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from pytest_llmobs.capture.sampling import DetailSampler, kept
from pytest_llmobs.capture.span_fields import (
    NO_ENTRIES,
    PLAIN,
    PUBLIC_READ,
    Fields,
    as_number,
    as_plain,
    event_of,
    read_private,
    read_public,
)
from pytest_llmobs.gate.grouping import rows_of
from pytest_llmobs.gate.model import AttrValue, Ints, SpanEvent, SpanTable
from pytest_llmobs.gate.semconv import EVALUATION_EVENT, EVALUATION_NAME, EVALUATION_SCORE

# A span is one 64-byte row of little-endian unsigned 64-bit fields, in this order:
_FIELDS = 8  # name index, start, duration, error, trace id low half, high half, span id, parent
_ROW = struct.Struct("<QqqQ16sQQ").pack  # the 128-bit trace id as 16 little-endian bytes
_MASK64 = (1 << 64) - 1
_BYTES = 8 * _FIELDS
_ERROR = StatusCode.ERROR  # an enum member lookup costs more than the rest of on_end
_INF = math.inf
SETTLE_AT = 65536  # spans of undecided detail before sampling drops some mid-test
UNREADABLE = "unreadable span"  # a skip reason that fails the gate: the spans were lost


class SpanRecorder(SpanProcessor):
    """Receives every ended span of the providers it is added to, and keeps it as columns.

    `on_end` turns the span into one row of `_FIELDS` unsigned 64-bit values and its
    attributes into column entries at once, and keeps no object of the SDK's alive
    (but the last span each thread ended): holding spans (or even a tuple a span) until
    later made every garbage collection of the test process slower, which cost more than
    the conversion. Numbers of `numeric_attributes` and the values of `always_kept`
    (grouping) attributes are kept for every span; every other attribute and the events
    (detail) for a `sample_rate` share of traces and for every trace with an error or an
    outlier, decided when a test starts or ends. Nothing here raises into the app's
    thread: a span it cannot read is counted in `skipped` (as UNREADABLE), and a span
    is recorded whole or not at all.

    Every column of row numbers is kept in increasing order (scores added later for an
    earlier span are inserted in place), as SpanTable promises its readers.
    """

    def __init__(
        self,
        numeric_attributes: Sequence[str] = (),
        sample_rate: float = 1.0,
        always_kept: Iterable[str] = (),
    ) -> None:
        self._active = True
        self._lock = threading.Lock()
        self._names: dict[str, int] = {}
        self._tests: dict[str, int] = {"": 0}
        self._rows = bytearray()
        # per attribute name: the rows of the spans that carry it, and its values
        self._numeric: dict[str, tuple[array[int], array[float]]] = {
            k: (array("q"), array("d")) for k in numeric_attributes
        }
        # only these attributes are numbers; a score (llmobs.score(), an evaluation
        # result) adds a column that an attribute of its name does not join, so what
        # a span attribute counts as never depends on which test scored first
        self._numeric_attributes = frozenset(numeric_attributes)
        self._detail: dict[str, tuple[array[int], list[AttrValue]]] = {}
        self._always_kept = frozenset(always_kept)  # grouping attributes: every span's value
        self._events: list[SpanEvent] = []
        self._detailed = bytearray()  # per span: 1 while its detail is kept
        self._sampler = DetailSampler(sample_rate) if sample_rate < 1 else None
        self._settling = threading.Lock()  # one sampling pass at a time, outside _lock
        self._wanted = threading.Event()  # wakes the sampling thread
        self._sampling_thread: threading.Thread | None = None
        self._sampling_failed: str | None = None
        if hasattr(os, "register_at_fork"):
            forked = weakref.WeakMethod(self._in_forked_child)
            os.register_at_fork(after_in_child=lambda: _call(forked))
        self._settled = 0  # spans whose detail is decided
        self._timeline_ns = array("q")
        self._timeline_test = array("q")
        self._table: SpanTable | None = None
        self._test_rows = 0
        self._logged: list[tuple[int, int, dict[str, Any]]] = []  # evaluations from logs
        self.skipped: Counter[str] = Counter()
        self.late = 0  # spans that ended after the capture did: not in the table
        self.twice = 0  # spans that reached this recorder a second time: counted once
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
            rows = self._rows_from(first)
            attributes: list[dict[str, Any]] = [{} for _ in range(len(rows))]
            columns: list[tuple[str, tuple[Any, Any]]] = [
                *self._numeric.items(),
                *self._detail.items(),
            ]
            for key, (found_rows, values) in columns:
                start = bisect.bisect_left(found_rows, first)
                for row, value in zip(found_rows[start:], values[start:], strict=True):
                    attributes[row - first][key] = value
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

    def add_score(self, row: int, name: str, value: float) -> None:
        """Record a numeric attribute (a quality score) on a recorded span."""
        with self._lock:
            self._appendnumber(name, row, value)

    def skip(self, reason: str) -> None:
        """Count something that could not be recorded (from any thread)."""
        with self._lock:
            self.skipped[reason] += 1

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
    ) -> None:
        """Add one span: converted whole first, so that a value that cannot be kept
        leaves no part of the span behind; then appended under the lock."""
        numbers, details, bad = self._entries(values) if values else NO_ENTRIES
        found = [event_of(event) for event in events] if events else []
        self._lock.acquire()  # cheaper than `with` on this path
        try:
            if not self._active:  # the capture ended while this thread waited
                self.late += 1
                return
            if not 0 <= start <= end:
                self.skipped["span ending before it started"] += 1
                self._dropped += 1
                return
            row = len(self._detailed)
            name_id = self._names.get(name, len(self._names))
            packed = _ROW(
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

    def _settle_soon(self) -> None:
        """Have the sampling thread (started on first need) decide the undecided spans:
        the thread that ended a span goes on at once."""
        self._wanted.set()
        if self._sampling_thread is not None:
            return
        with self._lock:
            if self._sampling_thread is not None or not self._active:
                return
            thread = threading.Thread(
                target=self._sample_in_background, name="llmobs-sampler", daemon=True
            )
            try:
                thread.start()
            except RuntimeError as exc:  # no thread to be had: keep the detail instead
                self._sampling_failed = f"could not start a thread: {exc}"
                self._sampler = None
                return
            self._sampling_thread = thread

    def _sample_in_background(self) -> None:
        while self._wanted.wait():
            self._wanted.clear()
            if not self._active or self._sampler is None:
                return
            self._settle()

    def _in_forked_child(self) -> None:
        """In a process forked from this one, whose spans this session never sees: new
        locks (another thread may have held these at the fork) and no capture."""
        self._lock, self._settling = threading.Lock(), threading.Lock()
        self._wanted, self._sampling_thread = threading.Event(), None
        self._active = False

    def _entries(
        self, values: Mapping[str, Any]
    ) -> tuple[list[tuple[str, float]], list[tuple[str, AttrValue]], list[str]]:
        """A span's attributes as numbers of the numeric columns, detail values, and the
        numeric attributes whose value is not a finite number."""
        numeric = self._numeric_attributes
        numbers: list[tuple[str, float]] = []
        details: list[tuple[str, AttrValue]] = []
        bad: list[str] = []
        for key, value in values.items():
            if key in numeric:
                number = value if type(value) is float else as_number(value)
                if -_INF < number < _INF:
                    numbers.append((key, number))
                else:
                    bad.append(key)
            else:
                details.append((key, value if type(value) in PLAIN else as_plain(value)))
        return numbers, details, bad

    def _add_evaluation(self, row: int, attributes: Mapping[str, Any] | None) -> None:
        """A `gen_ai.evaluation.result`'s score becomes a number of the span it names."""
        attributes = attributes or {}
        name, value = attributes.get(EVALUATION_NAME), attributes.get(EVALUATION_SCORE)
        number = as_number(value)
        if not isinstance(name, str) or not name or not -_INF < number < _INF:
            self.skipped["evaluation result without a name or a finite score"] += 1
            return
        self._appendnumber(name, row, number)

    def _appendnumber(self, name: str, row: int, value: float) -> None:
        """Add a number to a span's numeric attribute (its column is made if new), in
        row order."""
        rows, values = self._numeric.setdefault(name, (array("q"), array("d")))
        if rows and rows[-1] > row:  # a score for an earlier span
            at = bisect.bisect_right(rows, row)
            rows.insert(at, row)
            values.insert(at, value)
            return
        values.append(value)
        rows.append(row)

    def add_evaluation_record(
        self, trace_id: int, span_id: int, attributes: Mapping[str, Any] | None
    ) -> None:
        """An evaluation that arrived as a log record, for the span it names."""
        with self._lock:
            self._logged.append((trace_id, span_id, dict(attributes or {})))

    def _resolve_logged(self) -> None:
        """Attach evaluations from log records to their spans (they may end later)."""
        if not self._logged:
            return
        rows = self._rows_from(0)
        ids = [(t >> 64, t & _MASK64, s) for t, s, _ in self._logged]
        hi, lo, span = (np.array(c, dtype=np.uint64) for c in zip(*ids, strict=True))
        found = rows_of((rows[:, 5], rows[:, 4], rows[:, 6]), (hi, lo, span))
        for row, (_, _, attributes) in zip(found.tolist(), self._logged, strict=True):
            if row < 0:
                self.skipped["evaluation result for a span that was not captured"] += 1
            else:
                self._add_evaluation(row, attributes)
        self._logged.clear()

    def _rows_from(self, first: int, last: int | None = None) -> Any:
        """A copy of the rows from `first` on (to `last`), one span a row."""
        end = None if last is None else last * _BYTES
        return np.frombuffer(self._rows[first * _BYTES : end], dtype="<u8").reshape(-1, _FIELDS)

    def __len__(self) -> int:
        return len(self._detailed)

    def has_undecided_detail(self) -> int:
        """How many spans wait for the sample to decide on their detail."""
        return len(self) - self._settled if self._sampler is not None else 0

    def _settle(self) -> None:
        """Drop the detail of the newest spans whose traces the sample does not keep.

        Called when a test starts or ends (a test's traces are complete then), and by
        the sampling thread when very many spans are undecided in a long test. The lock
        is taken only to copy a part of a buffer out or to splice its kept entries back,
        one attribute at a time: threads ending spans meanwhile wait for one copy at
        most, never for the decision. Entries below the last undecided row change only
        here (one pass at a time) and the buffers only grow meanwhile, so the positions
        copied stay valid.
        """
        sampler = self._sampler
        if sampler is None:
            return
        with self._settling:
            with self._lock:
                first, last = self._settled, len(self)
                spans = self._rows_from(first, last)
                numbers = {k: _between(*c, first, last) for k, c in self._numeric.items()}
                keys = [k for k in self._detail if k not in self._always_kept]
            if first == last:
                return
            try:
                keep = sampler.keep(spans, numbers)
                for key in keys:
                    self._drop_detail(self._detail[key], first, last, keep)
                self._drop_events(first, last, keep)
            except Exception as exc:  # the detail is then kept: more than asked, not less
                self._sampling_failed = f"{type(exc).__name__}: {exc}"
                self._sampler = None
                return
            with self._lock:
                self._detailed[first:last] = keep.astype(np.uint8).tobytes()
                self._settled = last

    def _drop_detail(
        self, column: tuple[array[int], list[AttrValue]], first: int, last: int, keep: Any
    ) -> None:
        """Drop one detail attribute's entries of the rows first..last not kept."""
        rows, values = column
        with self._lock:
            start, end = bisect.bisect_left(rows, first), bisect.bisect_left(rows, last)
            part = rows[start:end], values[start:end]
        kept_rows, kept_values = kept(part[0], part[1], keep, first)
        with self._lock:
            rows[start:end] = kept_rows
            values[start:end] = kept_values

    def _drop_events(self, first: int, last: int, keep: Any) -> None:
        """Drop the events of the rows first..last not kept."""
        events = self._events
        with self._lock:
            start, end = (bisect.bisect_left(events, row, key=_row_of) for row in (first, last))
            part = events[start:end]
        remaining = [e for e in part if keep[e.row - first]]
        with self._lock:
            events[start:end] = remaining

    def _count_late(self) -> None:
        with self._lock:
            self.late += 1

    def _count_twice(self) -> None:
        with self._lock:
            self.twice += 1

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
            self._resolve_logged()
        if self._sampling_thread is not None:
            self._wanted.set()
            self._sampling_thread.join()
        self._settle()
        with self._lock:
            if self._table is None:
                unended = next(self._starts) - len(self) - self._dropped
                if unended > 0:  # started under the capture, not ended before it ended
                    self.skipped["span not ended when the capture ended"] = unended
                self._table = self._build_table()  # it now owns the buffers
            return self._table

    def _build_table(self) -> SpanTable:
        """The buffers as a table; the columns are views of them, not copies."""
        rows = _view(self._rows, np.dtype("<u8")).reshape(-1, _FIELDS)
        signed = rows.view(np.int64)
        return SpanTable(
            names=tuple(self._names),
            tests=tuple(self._tests),
            name_idx=signed[:, 0],
            test_idx=_tests_at(signed[:, 1], self._timeline_ns, self._timeline_test),
            start_ns=signed[:, 1],
            duration_ns=signed[:, 2],
            error=rows[:, 3].astype(np.bool_),
            trace_hi=rows[:, 5],
            trace_lo=rows[:, 4],
            span_id=rows[:, 6],
            parent_id=rows[:, 7],
            numeric={
                key: (_view(rows, np.int64), _view(values, np.float64))
                for key, (rows, values) in self._numeric.items()
            },
            detailed=_view(self._detailed, np.bool_),
            detail={
                key: (_view(rows, np.int64), values)
                for key, (rows, values) in self._detail.items()
                if len(rows)
            },
            events=tuple(self._events),
        )


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


def _between(rows: array[int], values: array[float], first: int, last: int) -> tuple[Ints, Any]:
    """A numeric column's entries for rows first..last: positions among them, values."""
    start, end = bisect.bisect_left(rows, first), bisect.bisect_left(rows, last)
    positions = np.array(rows[start:end], dtype=np.int64) - first
    return positions, np.array(values[start:end], dtype=np.float64)


def _row_of(event: SpanEvent) -> int:
    return event.row


def _call(method: weakref.WeakMethod[Callable[[], None]]) -> None:
    """Call a method held weakly, if its object is still alive."""
    bound = method()
    if bound is not None:
        bound()


def _view(buffer: Any, dtype: Any) -> Any:
    """A numpy array over a buffer's memory (an empty one has none to share)."""
    return np.frombuffer(buffer, dtype=dtype) if len(buffer) else np.empty(0, dtype=dtype)


def _tests_at(starts: Ints, times: array[int], tests: array[int]) -> Ints:
    """The test index running at each start time (0 where no test was running)."""
    if not times:
        return np.zeros(len(starts), dtype=np.int64)
    timeline = np.array(times, dtype=np.int64)
    at = np.searchsorted(timeline, starts, side="right") - 1
    running = np.concatenate(([0], np.array(tests, dtype=np.int64)))
    return running[at + 1]
