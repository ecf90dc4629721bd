"""OpenTelemetry adapter: a span processor that keeps ended spans as compact columns."""

from __future__ import annotations

import math
import operator
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, compress
from typing import Any

import numpy as np
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from pytest_llmobs.model import AttrValue, Ints, SpanEvent, SpanTable

_FIELDS = 8  # name index, start, duration, error, trace id high, low, span id, parent id
_MASK64 = (1 << 64) - 1
_ERROR = StatusCode.ERROR  # an enum member lookup costs more than the rest of on_end
SETTLE_AT = 8192  # spans waiting before a span's end converts them (a test's end does first)
WORST_KEPT = 10  # per series the slowest spans, per numeric attribute the lowest, keep detail

# One C call reads what a ReadableSpan holds; SpanContext is a tuple (trace_id, span_id, ...).
_READ = operator.attrgetter(
    "_name", "_start_time", "_end_time", "_context", "_parent", "_status", "_attributes", "_events"
)
_PLAIN = frozenset({str, bool, int, float})
_VALUES = operator.methodcaller("values")

# A waiting span: name, attribute dict, events (or None), and its numbers
# (start, end, error, trace id high, low, span id, parent span id).
Waiting = tuple[str, Mapping[str, Any] | None, Any, tuple[int, ...]]


class SpanRecorder(SpanProcessor):
    """Receives every ended span of the providers it is added to, and keeps it as columns.

    `on_end` reads a span's fields with one C call and appends one tuple of plain values
    to a list: no lock, and of the SDK's objects only the attribute dict stays alive
    (keeping whole spans would slow every garbage collection). Waiting spans become
    rows of `_FIELDS` unsigned 64-bit values (64 bytes a span) when a test starts or
    ends, so the conversion does not land inside a span the app is timing, or when
    `SETTLE_AT` wait. Attributes are read
    then: numbers of `numeric_attributes` for every span, everything else (detail) for a
    `sample_rate` share of traces and every trace with an error or an outlier. Nothing
    here raises into the app's thread: a span it cannot read is counted in `skipped`.
    """

    def __init__(self, numeric_attributes: Sequence[str] = (), sample_rate: float = 1.0) -> None:
        self._active = True
        self._waiting: list[Waiting] = []
        self._lock = threading.Lock()  # held while waiting spans become columns
        self._numeric_keys = tuple(numeric_attributes)
        self._names: dict[str, int] = {}
        self._tests: dict[str, int] = {"": 0}
        self._rows = array("Q")
        self._num_rows: dict[str, array[int]] = {k: array("q") for k in self._numeric_keys}
        self._num_values: dict[str, array[float]] = {k: array("d") for k in self._numeric_keys}
        self._keys = {k: i for i, k in enumerate(self._numeric_keys)}  # attribute names
        self._detail_rows = array("q")  # per kept attribute: its span's row,
        self._detail_keys = array("i")  # the id of its name,
        self._detail_values: list[AttrValue] = []  # and its value
        self._events: list[SpanEvent] = []
        self._detailed = bytearray()
        self._sampler = _DetailSampler(sample_rate) if sample_rate < 1 else None
        self._timeline_ns = array("q")
        self._timeline_test = array("q")
        self._table: SpanTable | None = None
        self.skipped: Counter[str] = Counter()

    def mark_test(self, nodeid: str | None) -> None:
        """Note that a test started (its nodeid) or ended (None) now."""
        self.settle()
        with self._lock:
            idx = 0 if nodeid is None else self._tests.setdefault(nodeid, len(self._tests))
            self._timeline_ns.append(time.time_ns())
            self._timeline_test.append(idx)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do: the test is found from the start time when the span ends."""

    def on_end(self, span: ReadableSpan) -> None:
        """Keep the span's fields for later; runs in whatever thread ended it."""
        if not self._active:
            return
        try:
            name, start, end, context, parent, status, attributes, events = _READ(span)
            trace_id = context[0]
            self._waiting.append(
                (
                    name,
                    getattr(attributes, "_dict", attributes),  # BoundedAttributes wraps a dict
                    getattr(events, "_dq", events) or None,  # BoundedList wraps a deque
                    (
                        start,
                        end,
                        status._status_code is _ERROR,
                        trace_id >> 64,
                        trace_id & _MASK64,
                        context[1],
                        0 if parent is None else parent[1],
                    ),
                )
            )
            if len(self._waiting) >= SETTLE_AT:
                self.settle(wait=False)
        except Exception as exc:  # never let an odd span or our bug reach the app's thread
            self.skipped[f"unreadable span ({type(exc).__name__})"] += 1

    def settle(self, wait: bool = True) -> None:
        """Turn the waiting spans into columns and decide which keep their detail.

        Without `wait`, a conversion running in another thread is left to do the job.
        """
        if not self._lock.acquire(blocking=wait):
            return
        try:
            count = len(self._waiting)
            batch = self._waiting[:count]
            del self._waiting[:count]  # appends from other threads land after `count`
            if batch:
                self._convert(batch)
        except Exception as exc:  # never let our bug reach the app's thread
            self.skipped[f"internal error ({type(exc).__name__}: {exc})"] += 1
        finally:
            self._lock.release()

    def __len__(self) -> int:
        return len(self._detailed)

    def _convert(self, batch: list[Waiting]) -> None:
        """Append a batch of waiting spans; reads everything before changing any buffer."""
        names: Sequence[str]
        dicts: Sequence[Mapping[str, Any] | None]
        events: Sequence[Any]
        names, dicts, events, numbers = zip(*batch, strict=True)
        count = len(batch)
        try:
            flat = chain.from_iterable(numbers)
            raw = np.fromiter(flat, dtype=np.uint64, count=7 * count).reshape(count, 7)
        except (TypeError, ValueError, OverflowError):
            raw, readable = self._readable(numbers)
            names, dicts, events = ([x[i] for i in readable] for x in (names, dicts, events))
        start = raw[:, 0].astype(np.int64)
        duration = raw[:, 1].astype(np.int64) - start
        rows = np.empty((len(raw), _FIELDS), dtype=np.uint64)
        rows[:, 0] = self._name_indexes(names)
        rows[:, 1] = start
        rows[:, 2] = duration
        rows[:, 3:] = raw[:, 2:]
        if (duration < 0).any():
            good = np.flatnonzero(duration >= 0).tolist()
            self.skipped["span ending before it started"] += len(rows) - len(good)
            rows = rows[good]
            dicts, events = [dicts[i] for i in good], [events[i] for i in good]
        positions, keys, values = self._flatten(dicts)
        numeric = self._numbers(positions, keys, values)
        keep = (
            np.ones(len(rows), dtype=np.bool_)
            if self._sampler is None
            else self._sampler.keep(rows, numeric)
        )
        detail = keep[positions] & (keys >= len(self._numeric_keys))
        # Nothing above changed a buffer, so a failure there loses no earlier span.
        first = len(self)
        self._rows.frombytes(rows.tobytes())
        self._detailed.extend(keep.astype(np.uint8).tobytes())
        for key, (at, found) in numeric.items():
            self._num_rows[key].frombytes((at + first).astype(np.int64).tobytes())
            self._num_values[key].frombytes(found.astype(np.float64).tobytes())
        self._detail_rows.frombytes((positions[detail] + first).astype(np.int64).tobytes())
        self._detail_keys.frombytes(keys[detail].astype(np.int32).tobytes())
        self._detail_values.extend(compress(values, detail.tolist()))
        for position in np.flatnonzero(keep).tolist():
            if events[position]:
                self._events.extend(_events(position + first, events[position]))

    def _name_indexes(self, names: Sequence[str]) -> list[int]:
        known = list(map(self._names.get, names))
        if None not in known:
            return known  # type: ignore[return-value]
        intern = self._names.setdefault
        return [intern(name, len(self._names)) for name in names]

    def _flatten(self, dicts: Sequence[Mapping[str, Any] | None]) -> tuple[Ints, Any, list[Any]]:
        """Every attribute of the batch: its span's position, key id and value.

        Spans of one kind share their set of keys, so each set is transposed whole:
        the Python work is per span and per kind, not per attribute.
        """
        mappings: Sequence[Mapping[str, Any]] = [d or {} for d in dicts] if None in dicts else dicts  # type: ignore[assignment]
        kinds: list[tuple[str, ...]] = list(map(tuple, mappings))
        values = list(map(tuple, map(_VALUES, mappings)))
        distinct = dict.fromkeys(kinds)
        if len(distinct) == 1:
            groups = [(kinds[0], np.arange(len(kinds)), values)]
        else:
            number = {kind: i for i, kind in enumerate(distinct)}
            ids = np.fromiter(map(number.__getitem__, kinds), dtype=np.int64, count=len(kinds))
            groups = []
            for kind, i in number.items():
                at = np.flatnonzero(ids == i)
                groups.append((kind, at, [values[j] for j in at.tolist()]))
        positions: list[Ints] = []
        keys: list[Any] = []
        found: list[Any] = []
        for kind, at, rows in groups:
            for key, column in zip(kind, zip(*rows, strict=True), strict=True):
                key_id = self._keys.setdefault(key, len(self._keys))
                positions.append(at)
                keys.append(np.full(len(at), key_id, dtype=np.int32))
                found.extend(column)
        if not positions:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32), []
        if not set(map(type, found)) <= _PLAIN:
            found = [v if type(v) in _PLAIN else _plain(v) for v in found]
        return np.concatenate(positions), np.concatenate(keys), found

    def _readable(self, numbers: tuple[tuple[int, ...], ...]) -> tuple[Any, list[int]]:
        """The rows numpy can read, one at a time, counting the others as skipped."""
        readable, kept = [], []
        for i, row in enumerate(numbers):
            try:
                kept.append(np.array(row, dtype=np.uint64).reshape(7))
                readable.append(i)
            except (TypeError, ValueError, OverflowError) as exc:
                self.skipped[f"unreadable span ({type(exc).__name__})"] += 1
        return np.array(kept, dtype=np.uint64).reshape(-1, 7), readable

    def _numbers(
        self, positions: Ints, keys: Any, values: list[Any]
    ) -> dict[str, tuple[Ints, Any]]:
        """The finite numbers of each numeric attribute, with their spans' positions."""
        found = {}
        for key_id, key in enumerate(self._numeric_keys):  # their ids come first
            mine = keys == key_id
            at, candidates = positions[mine], list(compress(values, mine.tolist()))
            if not set(map(type, candidates)) <= {int, float}:
                candidates = [_number(v) for v in candidates]
            numbers = np.array(candidates, dtype=np.float64)
            ok = np.isfinite(numbers)
            if not ok.all():
                self.skipped[f"non-numeric or non-finite {key!r} attribute"] += int((~ok).sum())
            found[key] = (at[ok], numbers[ok])
        return found

    def shutdown(self) -> None:
        """A provider shutting down does not end the capture: the session does."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def stop(self) -> None:
        """Ignore spans from now on (providers keep a reference to this processor)."""
        self._active = False

    def snapshot(self) -> SpanTable:
        """The captured spans as a SpanTable, each attributed to its test.

        Ends the capture: the buffers are handed over and freed, so a session's peak
        memory holds the spans once; later calls return the same table.
        """
        self.settle()
        with self._lock:
            if self._table is None:
                self._active = False
                self._table = self._build_table()
                self._rows, self._detail_rows, self._detail_values = array("Q"), array("q"), []
                self._num_rows = {k: array("q") for k in self._numeric_keys}
                self._num_values = {k: array("d") for k in self._numeric_keys}
            return self._table

    def _build_table(self) -> SpanTable:
        rows = np.frombuffer(self._rows, dtype=np.uint64).reshape(-1, _FIELDS)
        start = rows[:, 1].astype(np.int64)
        table = SpanTable(
            names=tuple(self._names),
            tests=tuple(self._tests),
            name_idx=rows[:, 0].astype(np.int64),
            test_idx=_tests_at(start, self._timeline_ns, self._timeline_test),
            start_ns=start,
            duration_ns=rows[:, 2].astype(np.int64),
            error=rows[:, 3].astype(np.bool_),
            trace_hi=rows[:, 4].copy(),
            trace_lo=rows[:, 5].copy(),
            span_id=rows[:, 6].copy(),
            parent_id=rows[:, 7].copy(),
            numeric={
                k: (
                    np.array(self._num_rows[k], dtype=np.int64),
                    np.array(self._num_values[k], dtype=np.float64),
                )
                for k in self._numeric_keys
            },
            detailed=np.frombuffer(bytes(self._detailed), dtype=np.bool_).copy(),
            detail=self._detail_columns(),
            events=tuple(self._events),
        )
        del rows  # the view must go before the buffer is released
        return table

    def _detail_columns(self) -> dict[str, tuple[Ints, tuple[AttrValue, ...]]]:
        rows = np.array(self._detail_rows, dtype=np.int64)
        keys = np.array(self._detail_keys, dtype=np.int32)
        order = np.argsort(keys, kind="stable")
        bounds = np.flatnonzero(np.diff(keys[order])) + 1
        names = {i: k for k, i in self._keys.items()}
        columns = {}
        for part in np.split(order, bounds) if len(order) else ():
            at = part.tolist()
            columns[names[int(keys[at[0]])]] = (
                rows[part],
                tuple(self._detail_values[i] for i in at),
            )
        return columns


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
        lows = rows[:, 5]
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


def _tests_at(starts: Ints, times: array[int], tests: array[int]) -> Ints:
    """The test index running at each start time (0 where no test was running)."""
    if not times:
        return np.zeros(len(starts), dtype=np.int64)
    timeline = np.array(times, dtype=np.int64)
    at = np.searchsorted(timeline, starts, side="right") - 1
    running = np.concatenate(([0], np.array(tests, dtype=np.int64)))
    return running[at + 1]
