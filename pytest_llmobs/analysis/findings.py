"""What the analysis of a run found: its worst requests, where a regression's time went,
and the alerts raised from correlated checks. Plain data, written to and read from the
run report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pytest_llmobs.gate.model import AttrValue, SeriesKey
from pytest_llmobs.gate.severity import Severity, at_least


@dataclass(frozen=True)
class SpanPart:
    """One span of a request's breakdown."""

    name: str
    depth: int  # 0 for the span the breakdown is of
    offset_ms: float  # from that span's start
    duration_ms: float
    self_ms: float  # not covered by any of its children
    critical: bool  # on the critical path
    error: bool = False
    span_id: str | None = None  # 16 hex digits; None in reports written before ids were kept
    parent_id: str | None = None  # the parent's span id; None for a root span


@dataclass(frozen=True)
class RequestDetail:
    """A slow or low-scored span, with the request it belongs to and its breakdown."""

    series: SeriesKey
    test: str | None  # the test's nodeid
    request_id: str | None  # the app's, when a span of the request carries one
    trace_id: str
    span_id: str
    duration_ms: float
    request: str  # the name of the request's root span
    request_ms: float  # the request's duration
    spans: tuple[SpanPart, ...] = ()
    step: str | None = None  # the critical path's span with the most self time
    baseline_case_ms: float | None = None  # the same test's median in the baseline
    metric: str | None = None  # for a low-scored request: quality.<attribute>
    score: float | None = None
    input_tokens: float | None = None  # of the whole request
    output_tokens: float | None = None
    prompt_chars: int | None = None  # lengths only: prompts and outputs are never kept
    output_chars: int | None = None
    attributes: Mapping[str, AttrValue] = field(default_factory=dict)  # redacted
    start_unix_nano: int | None = None  # when the span started: its breakdown's offsets' zero


@dataclass(frozen=True)
class Structure:
    """How series relate in the run's traces."""

    # each series' child series: spans of these have a parent span in it
    children: Mapping[SeriesKey, tuple[SeriesKey, ...]] = field(default_factory=dict)
    # the names of the requests (root spans) each series' spans belong to
    requests: Mapping[SeriesKey, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Attribution:
    """Where a parent series' change in mean time per request went, by child series."""

    series: SeriesKey
    baseline_ms: float  # mean per request over the test cases both runs have
    change_ms: float
    parts: tuple[tuple[SeriesKey, float], ...]  # child series and its change, largest first
    self_change_ms: float  # what no child accounts for
    cases: int  # test cases compared


@dataclass(frozen=True)
class Alert:
    """A pattern of checks that together say more than each alone."""

    type: str  # LATENCY_AND_QUALITY_DROP, ERROR_SPIKE_NO_LATENCY, COHORT_QUALITY_DROP
    severity: Severity
    message: str
    series: tuple[SeriesKey, ...]
    checks: tuple[tuple[SeriesKey, str], ...]  # (series, metric) of the checks behind it
    cohort: tuple[tuple[str, str], ...] = ()  # the grouping values concerned
    requests: tuple[tuple[str | None, str | None], ...] = ()  # (test, request_id) to look at


@dataclass(frozen=True)
class Findings:
    """Everything the analysis found."""

    slowest: tuple[RequestDetail, ...] = ()
    lowest: tuple[RequestDetail, ...] = ()
    attributions: tuple[Attribution, ...] = ()
    alerts: tuple[Alert, ...] = ()
    structure: Structure = field(default_factory=Structure)


def fails(alert: Alert, threshold: Severity | None) -> bool:
    """Whether the alert is severe enough to fail the gate (`fail_on_alert`)."""
    return at_least(alert.severity, threshold)
