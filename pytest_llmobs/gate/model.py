"""The project's own data types: captured spans as columns, and per-series statistics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
TEST_GROUP = "test"  # the grouping key of the series a marked test's spans form on their own
Scalar = str | bool | int | float
AttrValue = Scalar | tuple[Scalar, ...]  # what an OpenTelemetry attribute can hold
# SpanTable.received: how a span another process made was given its test (0: made here)
RECEIVED_BY_TRACE, RECEIVED_BY_TIME, RECEIVED_NO_TEST = 1, 2, 3


@dataclass(frozen=True, order=True)
class SeriesKey:
    """What a series is: a span name, optionally split by grouping attribute values."""

    name: str
    group: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """The name, with grouping values in brackets when there are any."""
        if not self.group:
            return self.name
        return self.name + "[" + ",".join(f"{k}={v}" for k, v in self.group) + "]"


@dataclass(frozen=True)
class SpanEvent:
    """An event a span recorded, kept with the span's detail."""

    row: int  # the span's row in its table
    name: str
    time_ns: int
    attributes: Mapping[str, AttrValue]


@dataclass(frozen=True)
class SpanTable:
    """Captured spans in columnar form: row i of every column is one span.

    Names and test ids are interned: `name_idx` and `test_idx` index into `names` and
    `tests`. `tests[0]` is always "" (spans started outside any test). Ids are unsigned
    64-bit; a trace id is split into its high and low halves. `numeric` maps an attribute
    name to the rows that carry it and their values; every span's numbers are there.

    Detail (every other attribute and the events) is kept for the spans whose row is true
    in `detailed` only: a sample of traces, and every trace with an error or an outlier.
    `detail` maps an attribute name to the rows that carry it and their values.
    `received` marks the spans other processes made (received over OTLP) with how their
    test was found (RECEIVED_*), and the spans made here with 0; None when none was.
    """

    names: tuple[str, ...]
    tests: tuple[str, ...]
    name_idx: Ints
    test_idx: Ints
    start_ns: Ints
    duration_ns: Ints
    error: npt.NDArray[np.bool_]
    trace_hi: npt.NDArray[np.uint64]
    trace_lo: npt.NDArray[np.uint64]
    span_id: npt.NDArray[np.uint64]
    parent_id: npt.NDArray[np.uint64]
    numeric: Mapping[str, tuple[Ints, Floats]] = field(default_factory=dict)
    detailed: npt.NDArray[np.bool_] | None = None  # None: every span's detail is kept
    detail: Mapping[str, tuple[Ints, Sequence[AttrValue]]] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    received: npt.NDArray[np.int8] | None = None

    @property
    def has_detail(self) -> npt.NDArray[np.bool_]:
        """Which rows kept their detail."""
        if self.detailed is None:
            return np.ones(len(self), dtype=np.bool_)
        return self.detailed

    def __len__(self) -> int:
        return len(self.name_idx)


@dataclass(frozen=True)
class Received:
    """How many of the spans received from other processes were given their test by
    trace id, by the time they started, or belong to no test."""

    by_trace_id: int = 0
    by_time: int = 0
    no_test: int = 0

    @property
    def spans(self) -> int:
        return self.by_trace_id + self.by_time + self.no_test


@dataclass(frozen=True)
class CaptureSummary:
    """How much was captured, how many traces kept their detail, and how the spans
    received from other processes were attributed to tests."""

    spans: int
    traces: int
    traces_with_detail: int
    sample_rate: float
    received: Received = field(default_factory=Received)

    @classmethod
    def of(cls, table: SpanTable, sample_rate: float) -> CaptureSummary:
        kept = table.has_detail
        how = table.received
        counts = np.bincount(how, minlength=4).tolist() if how is not None else [0] * 4
        return cls(
            len(table),
            _distinct_pairs(table.trace_hi, table.trace_lo),
            _distinct_pairs(table.trace_hi[kept], table.trace_lo[kept]),
            sample_rate,
            Received(*counts[RECEIVED_BY_TRACE : RECEIVED_NO_TEST + 1]),
        )


def _distinct_pairs(high: npt.NDArray[np.uint64], low: npt.NDArray[np.uint64]) -> int:
    """How many distinct (high, low) pairs (trace ids) there are."""
    if len(low) == 0:
        return 0
    order = np.lexsort((low, high))
    high, low = high[order], low[order]
    return 1 + int(((high[1:] != high[:-1]) | (low[1:] != low[:-1])).sum())


@dataclass(frozen=True)
class LatencySummary:
    """Latency percentiles of a series, in milliseconds."""

    p50: float
    p90: float
    p95: float
    p99: float
    mean: float
    max: float


@dataclass(frozen=True)
class QualitySummary:
    """How many spans of a series carried a quality attribute, and its mean."""

    count: int
    mean: float


@dataclass(frozen=True)
class SeriesStats:
    """Everything the gate knows of one series in one run.

    Summaries describe all spans; the sample arrays may be a bounded subset when they come
    from a stored baseline. `latency_case[i]` (and `quality_case[attr][i]`) index into
    `cases`, the test ids the samples came from; without them, no test pairs the cases.
    `present` indexes the cases in which the series had any span, cache hits included
    (None: every one of `cases`).
    """

    key: SeriesKey
    count: int
    errors: int
    latency: LatencySummary
    quality: Mapping[str, QualitySummary]
    latency_samples: Floats
    quality_samples: Mapping[str, Floats]
    cases: tuple[str, ...] = ()
    latency_case: Ints | None = None
    quality_case: Mapping[str, Ints] = field(default_factory=dict)
    cache_hits: int = 0  # spans answered from a cache: counted, but not in the latency
    present: Ints | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0


def per_case(
    values: Floats,
    case: Ints | None,
    cases: tuple[str, ...],
    how: Literal["median", "mean", "sum", "count"],
) -> dict[str, float]:
    """The median, mean, sum or number of the values of each test case, keyed by test id."""
    if case is None or len(case) != len(values) or len(case) == 0:
        return {}
    if how != "median":
        counts = np.bincount(case, minlength=len(cases))
        present = np.flatnonzero(counts)
        sums = np.bincount(case, weights=values, minlength=len(cases))
        found = {"mean": sums / np.maximum(counts, 1), "sum": sums, "count": counts}[how]
        return {cases[i]: float(found[i]) for i in present.tolist()}
    order = np.lexsort((values, case))
    ordered, owner = values[order], case[order]
    starts = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
    sizes = np.diff(np.append(starts, len(owner)))
    result = (ordered[starts + (sizes - 1) // 2] + ordered[starts + sizes // 2]) / 2
    return {cases[i]: float(v) for i, v in zip(owner[starts].tolist(), result, strict=True)}
