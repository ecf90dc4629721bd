"""The SpanRecorder's buffers: a row per span, a column per attribute, scores added later."""

from __future__ import annotations

import bisect
import math
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pytest_llmobs.capture.span_fields import PLAIN, as_number, as_plain
from pytest_llmobs.capture.table import build_table, rows_named
from pytest_llmobs.gate.model import AttrValue, SpanEvent, SpanTable
from pytest_llmobs.gate.semconv import EVALUATION_NAME, EVALUATION_SCORE

_INF = math.inf


class SpanColumns:
    """The buffers a SpanRecorder fills, all guarded by `_lock`.

    A base class of the recorder, not an object it holds: `on_end` then reaches each
    buffer in one attribute lookup, which counts on a path that runs for every span.
    Every column of row numbers is kept in increasing order (scores added later for an
    earlier span are inserted in place), as SpanTable promises its readers.
    """

    def __init__(self, numeric_attributes: Sequence[str], always_kept: Iterable[str]) -> None:
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
        self._timeline_ns = array("q")  # when a test started or ended
        self._timeline_test = array("q")  # and which (0 when one ended)
        # evaluations from log records: trace id, span id, attributes, received
        self._logged: list[tuple[int, int, dict[str, Any], bool]] = []
        self.evaluations_came_back = 0  # this process's, received over OTLP too: once
        self._received = array("q")  # rows of received spans, as (first, stop) pairs
        self.skipped: Counter[str] = Counter()
        self.late = 0  # spans that ended after the capture did: not in the table
        self.late_evaluations = 0  # evaluation records that came after the capture ended
        self.twice = 0  # spans that reached the recorder a second time: counted once
        self.came_back = 0  # spans of this process received over OTLP too: counted once
        self._receiving = 0  # receive() calls under way

    def __len__(self) -> int:
        return len(self._detailed)

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

    @property
    def named(self) -> frozenset[str]:
        """The attributes kept for every span: numbers and grouping (group_by) values."""
        return self._numeric_attributes | self._always_kept

    def skip(self, reason: str) -> None:
        """Count something that could not be recorded (from any thread)."""
        with self._lock:
            self.skipped[reason] += 1

    def add_score(self, row: int, name: str, value: float) -> None:
        """Record a numeric attribute (a quality score) on a recorded span."""
        with self._lock:
            self._appendnumber(name, row, value)

    def add_evaluation_record(
        self,
        trace_id: int,
        span_id: int,
        attributes: Mapping[str, Any] | None,
        received: bool = False,
    ) -> None:
        """An evaluation that arrived as a log record (from another process when
        `received`), for the span it names; one that arrives after the capture ended
        is only counted."""
        with self._lock:
            if not self._active:
                self.late_evaluations += 1
                return
            self._logged.append((trace_id, span_id, dict(attributes or {}), received))

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

    def _resolve_logged(self) -> None:
        """Attach evaluations from log records to their spans (they may end later)."""
        if not self._logged:
            return
        found = rows_named(self._rows, [(t, s) for t, s, _, _ in self._logged])
        # a received copy of this process's record is its own exporter's (or that
        # exporter's retry): counted once however often it came back
        own = {_evaluation_key(*record) for record in self._logged if not record[3]}
        for row, record in zip(found, self._logged, strict=True):
            attributes = record[2]
            if record[3] and _evaluation_key(*record) in own:
                self.evaluations_came_back += 1
            elif row < 0:
                self.skipped["evaluation result for a span that was not captured"] += 1
            else:
                self._add_evaluation(row, attributes)
        self._logged.clear()

    def _mark_received(self, rows: Sequence[int]) -> None:
        """Note rows as spans other processes made (a batch is mostly one run of rows)."""
        with self._lock:
            runs = self._received
            for row in rows:
                if row < 0:
                    continue
                if runs and runs[-1] == row:
                    runs[-1] = row + 1
                else:
                    runs.extend((row, row + 1))

    # counters, from whichever thread: each under the lock
    def _wait_for_receiving(self, timeout: float = 10.0) -> bool:
        """Let batches being received finish marking their rows (new ones are late);
        False when one has not within timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._receiving:
                    return True
            time.sleep(0.001)
        return False

    def _count_came_back(self, n: int) -> None:
        if n:
            with self._lock:
                self.came_back += n

    def _count_late(self) -> None:
        with self._lock:
            self.late += 1

    def _count_twice(self) -> None:
        with self._lock:
            self.twice += 1

    def _attributes_from(self, first: int, count: int) -> list[dict[str, Any]]:
        """The numeric and detail attributes of the `count` spans from row `first` on."""
        attributes: list[dict[str, Any]] = [{} for _ in range(count)]
        columns: list[tuple[str, tuple[Any, Any]]] = [
            *self._numeric.items(),
            *self._detail.items(),
        ]
        for key, (found_rows, values) in columns:
            start = bisect.bisect_left(found_rows, first)
            for row, value in zip(found_rows[start:], values[start:], strict=True):
                attributes[row - first][key] = value
        return attributes

    def _build_table(self) -> SpanTable:
        """The buffers as a table; the columns are views of them, not copies."""
        return build_table(
            self._rows, self._names, self._tests, (self._timeline_ns, self._timeline_test),
            self._numeric, self._detailed, self._detail, self._events, self._received,
        )  # fmt: skip


def _evaluation_key(
    trace_id: int, span_id: int, attributes: Mapping[str, Any], _: bool
) -> tuple[int, int, object, object]:
    """What tells one evaluation of a span from another: its name and its score."""
    return trace_id, span_id, attributes.get(EVALUATION_NAME), attributes.get(EVALUATION_SCORE)
