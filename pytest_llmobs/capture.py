"""OpenTelemetry adapter: a span processor that keeps ended spans as compact columns."""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import struct
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any

import numpy as np
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from pytest_llmobs.grouping import rows_of
from pytest_llmobs.model import AttrValue, Ints, SpanEvent, SpanTable
from pytest_llmobs.semconv import EVALUATION_EVENT, EVALUATION_NAME, EVALUATION_SCORE

# A span is one 64-byte row of little-endian unsigned 64-bit fields, in this order:
_FIELDS = 8  # name index, start, duration, error, trace id low half, high half, span id, parent
_ROW = struct.Struct("<QqqQ16sQQ").pack  # the 128-bit trace id as 16 little-endian bytes
_MASK64 = (1 << 64) - 1
_BYTES = 8 * _FIELDS
_ERROR = StatusCode.ERROR  # an enum member lookup costs more than the rest of on_end
_INF = math.inf
SETTLE_AT = 65536  # spans of undecided detail before sampling drops some mid-test
WORST_KEPT = 10  # per series the slowest spans, per numeric attribute the lowest, keep detail

# One C call reads what a ReadableSpan holds; SpanContext is a tuple (trace_id, span_id, ...).
_READ = operator.attrgetter(
    "_name", "_start_time", "_end_time", "_context", "_parent", "_status", "_attributes", "_events"
)
_PLAIN = frozenset({str, bool, int, float})
_NUMBER = frozenset({int, float})


class SpanRecorder(SpanProcessor):
    """Receives every ended span of the providers it is added to, and keeps it as columns.

    `on_end` turns the span into one row of `_FIELDS` unsigned 64-bit values and its
    attributes into column entries at once, and keeps no object of the SDK's alive:
    holding spans (or even a tuple a span) until later made every garbage collection of
    the test process slower, which cost more than the conversion. Numbers of
    `numeric_attributes` and the values of `always_kept` (grouping) attributes are kept
    for every span; every other attribute and the events (detail) for a `sample_rate`
    share of traces and for every trace with an error or an outlier, decided when a
    test starts or ends. Nothing here raises into the app's thread: a span it cannot
    read is counted in `skipped`.
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
        self._detail: dict[str, tuple[array[int], list[AttrValue]]] = {}
        self._always_kept = frozenset(always_kept)  # grouping attributes: every span's value
        self._events: list[SpanEvent] = []
        self._detailed = bytearray()  # per span: 1 while its detail is kept
        self._sampler = _DetailSampler(sample_rate) if sample_rate < 1 else None
        self._settled = _Marks(0, {}, {}, 0)
        self._timeline_ns = array("q")
        self._timeline_test = array("q")
        self._table: SpanTable | None = None
        self._test_rows = 0
        self._logged: list[tuple[int, int, dict[str, Any]]] = []  # evaluations from logs
        self.skipped: Counter[str] = Counter()
        self.late = 0  # spans that ended after the capture did: not in the table
        self._starts = itertools.count()  # next() is atomic: no lock on span start
        self._dropped = 0  # spans that ended but could not be recorded

    def mark_test(self, nodeid: str | None) -> None:
        """Note that a test started (its nodeid) or ended (None) now."""
        with self._lock:
            self._settle()
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
            self._append_number(name, row, value)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Count the span, to tell at the end how many never ended; the test it belongs
        to is found from its start time when it ends."""
        next(self._starts)

    def on_end(self, span: ReadableSpan) -> None:
        """Record the span; runs in whatever thread ended it."""
        if not self._active:
            self._count_late()
            return
        try:
            name, start, end, context, parent, status, attributes, events = _READ(span)
            values = getattr(attributes, "_dict", attributes)  # BoundedAttributes wraps a dict
            events = getattr(events, "_dq", events)  # BoundedList wraps a deque
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
                name_id = self._names.get(name)
                if name_id is None:
                    name_id = self._names[name] = len(self._names)
                self._rows += _ROW(
                    name_id,
                    start,
                    end - start,
                    status._status_code is _ERROR,
                    context[0].to_bytes(16, "little"),
                    context[1],
                    0 if parent is None else parent[1],
                )
                self._detailed.append(1)
                if values:
                    numeric, detail = self._numeric, self._detail
                    for key, value in values.items():
                        number_column = numeric.get(key)
                        if number_column is not None:
                            number = value if type(value) in _NUMBER else _number(value)
                            if -_INF < number < _INF:
                                number_column[1].append(number)  # may overflow: goes first
                                number_column[0].append(row)
                            else:
                                self._bad_number(key)
                            continue
                        column = detail.get(key)
                        if column is None:
                            column = detail[key] = (array("q"), [])
                        column[0].append(row)
                        column[1].append(value if type(value) in _PLAIN else _plain(value))
                if events:
                    self._events.extend(_events(row, events))
                    self._evaluations(row, events)
                if self._sampler is not None and row - self._settled.rows >= SETTLE_AT:
                    self._settle()
            finally:
                self._lock.release()
        except Exception as exc:  # never let an odd span or our bug reach the app's thread
            self.skipped[f"unreadable span ({type(exc).__name__})"] += 1
            self._dropped += 1

    def _evaluations(self, row: int, events: Iterable[Any]) -> None:
        """Scores of `gen_ai.evaluation.result` events become numbers of the span."""
        for event in events:
            if event.name == EVALUATION_EVENT:
                self._add_evaluation(row, getattr(event.attributes, "_dict", event.attributes))

    def _add_evaluation(self, row: int, attributes: Mapping[str, Any] | None) -> None:
        attributes = attributes or {}
        name, value = attributes.get(EVALUATION_NAME), attributes.get(EVALUATION_SCORE)
        number = _number(value)
        if not isinstance(name, str) or not name or not -_INF < number < _INF:
            self.skipped["evaluation result without a name or a finite score"] += 1
            return
        self._append_number(name, row, number)

    def _append_number(self, name: str, row: int, value: float) -> None:
        """Add a number to a span's numeric attribute (its column is made if new)."""
        rows, values = self._numeric.setdefault(name, (array("q"), array("d")))
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

    def _rows_from(self, first: int) -> Any:
        """A copy of the rows from `first` on, one span a row (the buffer stays growable)."""
        return np.frombuffer(self._rows[first * _BYTES :], dtype="<u8").reshape(-1, _FIELDS)

    def _bad_number(self, key: str) -> None:
        self.skipped[f"non-numeric or non-finite {key!r} attribute"] += 1

    def __len__(self) -> int:
        return len(self._detailed)

    def has_undecided_detail(self) -> int:
        """How many spans wait for the sample to decide on their detail."""
        return len(self) - self._settled.rows if self._sampler is not None else 0

    def _settle(self) -> None:
        """Drop the detail of the newest spans whose traces the sample does not keep.

        Called with the lock held, when a test starts or ends (a test's traces are
        complete then) or when very many spans are undecided.
        """
        marks, sampler = self._settled, self._sampler
        first = marks.rows
        if sampler is None or first == len(self):
            return
        spans = self._rows_from(first)
        numbers = {
            key: (
                np.array(rows[marks.numbers.get(key, 0) :], dtype=np.int64) - first,
                np.array(values[marks.numbers.get(key, 0) :], dtype=np.float64),
            )
            for key, (rows, values) in self._numeric.items()
        }
        keep = sampler.keep(spans, numbers)
        self._detailed[first:] = keep.astype(np.uint8).tobytes()
        for key, (rows, found) in self._detail.items():
            if key in self._always_kept:
                continue
            start = marks.detail.get(key, 0)
            mine = keep[np.array(rows[start:], dtype=np.int64) - first].tolist()
            rows[start:] = array("q", compress(rows[start:], mine))
            found[start:] = compress(found[start:], mine)
        start = marks.events
        self._events[start:] = [e for e in self._events[start:] if keep[e.row - first]]
        self._settled = _Marks(
            len(self),
            {key: len(rows) for key, (rows, _) in self._numeric.items()},
            {key: len(rows) for key, (rows, _) in self._detail.items()},
            len(self._events),
        )

    def _count_late(self) -> None:
        with self._lock:
            self.late += 1

    def shutdown(self) -> None:
        """A provider shutting down does not end the capture: the session does."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def stop(self) -> None:
        """Ignore spans from now on (providers keep a reference to this processor)."""
        self._active = False

    def snapshot(self) -> SpanTable:
        """The captured spans as a SpanTable, each attributed to its test.

        Ends the capture: the table's columns are views of the buffers, so a session's
        peak memory holds the spans once; later calls return the same table.
        """
        with self._lock:
            if self._table is None:
                self._resolve_logged()
                self._settle()
                self._active = False
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


@dataclass(frozen=True)
class _Marks:
    """Where the undecided part of each buffer starts."""

    rows: int
    numbers: dict[str, int]  # per numeric attribute
    detail: dict[str, int]  # per detail attribute
    events: int


class _DetailSampler:
    """Decides which traces keep their detail, a batch of newest spans at a time.

    A trace keeps it when its low 64 id bits fall under `rate` of their range (as
    OpenTelemetry's TraceIdRatioBased sampler decides), or when one of its spans is an
    error, one of the `WORST_KEPT` slowest of its name so far, or carries one of the
    `WORST_KEPT` lowest values of a numeric attribute so far. Batches end with tests, so
    a trace is decided whole; one flagged keeps the detail of spans it ends later too.
    """

    def __init__(self, rate: float) -> None:
        self.threshold = np.uint64(min(int(rate * 2.0**64), _MASK64))
        self.flagged: set[int] = set()
        self.slowest: dict[int, Any] = {}
        self.lowest: dict[str, Any] = {}

    def keep(self, rows: Any, numbers: Mapping[str, tuple[Ints, Any]]) -> Any:
        """Which of these rows (as SpanRecorder keeps them) keep their detail.

        `numbers` maps a numeric attribute to the positions among the rows that carry
        it, and their values.
        """
        lows = rows[:, 4]
        flag = rows[:, 3].astype(np.bool_)
        names = rows[:, 0].astype(np.int64)
        durations = rows[:, 2].astype(np.int64)
        for name in np.unique(names).tolist():
            mine = np.flatnonzero(names == name)
            flag[mine[_worst(self.slowest, name, durations[mine])]] = True
        for key, (positions, values) in numbers.items():
            if len(positions):
                flag[positions[_worst(self.lowest, key, -values)]] = True
        self.flagged.update(lows[flag].tolist())
        keep: Any = lows < self.threshold
        if self.flagged:
            keep |= np.isin(lows, np.fromiter(self.flagged, dtype=np.uint64))
        return keep


def _worst(store: dict[Any, Any], key: Any, values: Any) -> Any:
    """Mask of the values that enter the WORST_KEPT largest seen so far under `key`.

    Updates the store; of equal values the earlier stay in, so a run of ties flags few.
    """
    seen = store.get(key, np.empty(0, dtype=values.dtype))
    merged = np.concatenate((seen, values))
    top = np.argsort(-merged, kind="stable")[:WORST_KEPT]
    store[key] = merged[top]
    flagged = np.zeros(len(values), dtype=np.bool_)
    flagged[top[top >= len(seen)] - len(seen)] = True
    return flagged


def _events(row: int, events: Iterable[Any]) -> list[SpanEvent]:
    found = []
    for event in events:
        attributes = getattr(event.attributes, "_dict", event.attributes) or {}
        found.append(
            SpanEvent(
                row,
                str(event.name),
                int(event.timestamp or 0),
                {str(k): _plain(v) for k, v in attributes.items()},
            )
        )
    return found


def _number(value: Any) -> float:
    """A numeric attribute's value, or NaN when it is not a number (a bool is not)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _plain(value: Any) -> AttrValue:
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
    plain = _plain(value)
    return plain if not isinstance(plain, tuple) else str(plain)


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
