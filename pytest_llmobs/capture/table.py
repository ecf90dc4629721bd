"""The byte layout of the SpanRecorder's rows, and the SpanTable read over its buffers."""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from pytest_llmobs.capture import attribution
from pytest_llmobs.gate.grouping import rows_of
from pytest_llmobs.gate.model import AttrValue, Ints, SpanEvent, SpanTable

# A span is one 64-byte row of little-endian unsigned 64-bit fields, in this order:
_FIELDS = 8  # name index, start, duration, error, trace id low half, high half, span id, parent
pack_row = struct.Struct("<QqqQ16sQQ").pack  # the 128-bit trace id as 16 little-endian bytes
_MASK64 = (1 << 64) - 1
_BYTES = 8 * _FIELDS


def rows_from(buffer: bytearray, first: int, last: int | None = None) -> Any:
    """A copy of the rows from `first` on (to `last`), one span a row."""
    end = None if last is None else last * _BYTES
    return np.frombuffer(buffer[first * _BYTES : end], dtype="<u8").reshape(-1, _FIELDS)


def rows_named(buffer: bytearray, ids: Iterable[tuple[int, int]]) -> list[int]:
    """The row of each (trace id, span id) of `ids` (at least one), or -1 where none is."""
    rows = rows_from(buffer, 0)
    halves = [(t >> 64, t & _MASK64, s) for t, s in ids]
    hi, lo, span = (np.array(c, dtype=np.uint64) for c in zip(*halves, strict=True))
    found: list[int] = rows_of((rows[:, 5], rows[:, 4], rows[:, 6]), (hi, lo, span)).tolist()
    return found


def build_table(
    buffer: bytearray,
    names: Iterable[str],
    tests: Iterable[str],
    timeline: tuple[array[int], array[int]],  # when a test started or ended (ns), which
    numeric: Mapping[str, tuple[array[int], array[float]]],
    detailed: bytearray,
    detail: Mapping[str, tuple[array[int], list[AttrValue]]],
    events: Iterable[SpanEvent],
    received: array[int],  # rows of spans other processes made, as (first, stop) pairs
) -> SpanTable:
    """The SpanRecorder's buffers as a table; the columns are views of them, not copies.
    Each span belongs to the test running when it started; a received one, first, to
    the test of the span that called it (see `attribution`)."""
    rows = _view(buffer, np.dtype("<u8")).reshape(-1, _FIELDS)
    signed = rows.view(np.int64)
    tests_at, how = _tests_at(signed[:, 1], *timeline), None
    if received:
        mask = attribution.received_mask(received, len(rows))
        ids = (rows[:, 5], rows[:, 4], rows[:, 6], rows[:, 7])
        at_end = _tests_at(signed[:, 1] + signed[:, 2], *timeline)
        tests_at, how = attribution.attribute(tests_at, at_end, ids, mask)
    return SpanTable(
        names=tuple(names),
        tests=tuple(tests),
        name_idx=signed[:, 0],
        test_idx=tests_at,
        start_ns=signed[:, 1],
        duration_ns=signed[:, 2],
        error=rows[:, 3].astype(np.bool_),
        trace_hi=rows[:, 5],
        trace_lo=rows[:, 4],
        span_id=rows[:, 6],
        parent_id=rows[:, 7],
        numeric={
            key: (_view(rows, np.int64), _view(values, np.float64))
            for key, (rows, values) in numeric.items()
        },
        detailed=_view(detailed, np.bool_),
        detail={
            key: (_view(rows, np.int64), values)
            for key, (rows, values) in detail.items()
            if len(rows)
        },
        events=tuple(events),
        received=how,
    )


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
