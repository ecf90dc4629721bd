"""Applying detail sampling to the recorded spans, at test boundaries or from a thread."""

from __future__ import annotations

import bisect
import os
import threading
import weakref
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from pytest_llmobs.capture.columns import SpanColumns
from pytest_llmobs.capture.sampling import DetailSampler, kept
from pytest_llmobs.capture.table import rows_from
from pytest_llmobs.gate.model import AttrValue, Ints, SpanEvent


class SampledColumns(SpanColumns):
    """Span columns whose detail (every attribute but the numbers and the `always_kept`
    ones, and the events) a DetailSampler keeps for a `sample_rate` share of traces and
    for every trace with an error or an outlier. It decides a batch of the newest spans
    at a time: at test boundaries, and from a thread when very many wait in a long test.
    At a rate of 1 there is no sampler and every span keeps its detail.
    """

    def __init__(
        self, numeric_attributes: Sequence[str], sample_rate: float, always_kept: Iterable[str]
    ) -> None:
        super().__init__(numeric_attributes, always_kept)
        self._sampler = DetailSampler(sample_rate) if sample_rate < 1 else None
        self._settling = threading.Lock()  # one sampling pass at a time, outside _lock
        self._wanted = threading.Event()  # wakes the sampling thread
        self._sampling_thread: threading.Thread | None = None
        self._sampling_failed: str | None = None
        self._settled = 0  # spans whose detail is decided
        if hasattr(os, "register_at_fork"):
            forked = weakref.WeakMethod(self._in_forked_child)
            os.register_at_fork(after_in_child=lambda: _call(forked))

    def has_undecided_detail(self) -> int:
        """How many spans wait for the sample to decide on their detail."""
        return len(self) - self._settled if self._sampler is not None else 0

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

    def _settle_last(self) -> None:
        """Decide the spans still undecided once the capture ended (its thread ends first)."""
        if self._sampling_thread is not None:
            self._wanted.set()
            self._sampling_thread.join()
        self._settle()

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
                spans = rows_from(self._rows, first, last)
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
