"""OpenTelemetry adapter: a span processor that keeps each ended span as a compact row."""

from __future__ import annotations

import math
import threading
import time
from array import array
from collections import Counter
from collections.abc import Sequence

import numpy as np
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from pytest_llmobs.model import Ints, SpanTable

_MASK64 = (1 << 64) - 1
_FIELDS = 8  # name index, start, duration, error, trace id high, low, span id, parent id


class SpanRecorder(SpanProcessor):
    """Receives every ended span and appends its fields to one flat buffer.

    Each span is one row of `_FIELDS` unsigned 64-bit values, appended with a single
    `extend` under the lock, so a span costs 64 bytes and one C call to keep. `on_end`
    never raises, so the app's own processors (which may run after it on the same
    provider) always see the span.
    """

    def __init__(self, numeric_attributes: Sequence[str] = ()) -> None:
        self._lock = threading.Lock()
        self._active = True
        self._numeric_keys = tuple(numeric_attributes)
        self._names: dict[str, int] = {}
        self._tests: dict[str, int] = {"": 0}
        self._rows = array("Q")
        self._num_rows: dict[str, array[int]] = {k: array("q") for k in self._numeric_keys}
        self._num_values: dict[str, array[float]] = {k: array("d") for k in self._numeric_keys}
        self._timeline_ns = array("q")
        self._timeline_test = array("q")
        self.skipped: Counter[str] = Counter()

    def mark_test(self, nodeid: str | None) -> None:
        """Note that a test started (its nodeid) or ended (None) now."""
        with self._lock:
            idx = 0 if nodeid is None else self._tests.setdefault(nodeid, len(self._tests))
            self._timeline_ns.append(time.time_ns())
            self._timeline_test.append(idx)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do: the test is found from the start time when the span ends."""

    def on_end(self, span: ReadableSpan) -> None:
        """Record the span; runs in whatever thread ended it."""
        if not self._active:
            return
        try:
            self._record(span)
        except Exception as exc:  # never let our bug reach the app's thread
            self.skipped[f"internal error ({type(exc).__name__})"] += 1

    def _record(self, span: ReadableSpan) -> None:
        ctx = span.context
        start, end = span.start_time, span.end_time
        if ctx is None or start is None or end is None:
            self.skipped["span without context or times"] += 1
            return
        if end < start:
            self.skipped["span ending before it started"] += 1
            return
        parent = span.parent
        trace_id = ctx.trace_id
        fields = (
            start,
            end - start,
            span.status.status_code is StatusCode.ERROR,
            trace_id >> 64,
            trace_id & _MASK64,
            ctx.span_id,
            parent.span_id if parent is not None else 0,
        )
        numbers = self._numbers(span) if self._numeric_keys else ()
        name = span.name
        with self._lock:
            idx = self._names.get(name)
            if idx is None:
                idx = self._names[name] = len(self._names)
            index = len(self._rows) // _FIELDS
            self._rows.append(idx)
            self._rows.extend(fields)
            for key, value in numbers:
                self._num_rows[key].append(index)
                self._num_values[key].append(value)

    def _numbers(self, span: ReadableSpan) -> list[tuple[str, float]]:
        attrs = span.attributes or {}
        found = []
        for key in self._numeric_keys:
            value = attrs.get(key)
            if value is None:
                continue
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
            ):
                found.append((key, float(value)))
                continue
            self.skipped[f"non-numeric or non-finite {key!r} attribute"] += 1
        return found

    def shutdown(self) -> None:
        """A provider shutting down does not end the capture: the session does."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def stop(self) -> None:
        """Ignore spans from now on (providers keep a reference to this processor)."""
        self._active = False

    def snapshot(self) -> SpanTable:
        """Copy the buffers into a SpanTable, attributing each span to its test."""
        with self._lock:
            rows = np.array(self._rows, dtype=np.uint64).reshape(-1, _FIELDS)
            start = rows[:, 1].astype(np.int64)
            return SpanTable(
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
            )


def _tests_at(starts: Ints, times: array[int], tests: array[int]) -> Ints:
    """The test index running at each start time (0 where no test was running)."""
    if not times:
        return np.zeros(len(starts), dtype=np.int64)
    timeline = np.array(times, dtype=np.int64)
    at = np.searchsorted(timeline, starts, side="right") - 1
    running = np.concatenate(([0], np.array(tests, dtype=np.int64)))
    return running[at + 1]
