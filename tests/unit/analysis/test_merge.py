"""Shards' lists of requests merged: the run's slowest and lowest-scored, by its p95."""

from __future__ import annotations

from pytest_llmobs.analysis.findings import Findings, RequestDetail, Structure
from pytest_llmobs.analysis.merge import merge_findings
from pytest_llmobs.gate.model import SeriesKey
from tests.conftest import make_series

LLM, REQ = SeriesKey("llm"), SeriesKey("req")


def slow(ms: float, start: int, span: str = "a") -> RequestDetail:
    return RequestDetail(
        LLM, "t::x", None, "0" * 32, span * 16, ms, "req", ms, start_unix_nano=start
    )


def low(score: float, start: int) -> RequestDetail:
    return RequestDetail(
        REQ, "t::y", None, "0" * 32, "b" * 16, 1.0, "req", 1.0,
        metric="quality.score", score=score, start_unix_nano=start,
    )  # fmt: skip


def test_the_slowest_are_cut_at_the_runs_p95_and_count() -> None:
    # each shard listed its slowest at any latency: the run's p95 (of 1..100 ms) admits
    # only those at or above 95.05 ms
    series = [make_series("llm", [float(i) for i in range(1, 101)])]
    one = Findings(slowest=(slow(100.0, 5), slow(96.0, 1), slow(50.0, 0)))
    two = Findings(slowest=(slow(99.0, 2), slow(96.0, 0, "c"), slow(95.0, 3)))
    merged = merge_findings([one, two], series, count=3)
    assert [(d.duration_ms, d.start_unix_nano) for d in merged.slowest] == [
        (100.0, 5), (99.0, 2), (96.0, 0)  # a tie of durations: the earliest first
    ]  # fmt: skip


def test_the_lowest_scores_are_the_runs_lowest() -> None:
    one = Findings(lowest=(low(0.1, 3), low(0.5, 0)))
    two = Findings(lowest=(low(0.1, 1), low(0.3, 0)))
    merged = merge_findings([one, two], [], count=3)
    assert [(d.score, d.start_unix_nano) for d in merged.lowest] == [(0.1, 1), (0.1, 3), (0.3, 0)]


def test_structure_is_every_shards() -> None:
    one = Findings(structure=Structure({REQ: (LLM,)}, {LLM: ("req",)}))
    two = Findings(structure=Structure({REQ: (SeriesKey("tool"),)}, {LLM: ("other",)}))
    merged = merge_findings([one, two], [], count=5).structure
    assert merged.children == {REQ: (LLM, SeriesKey("tool"))}
    assert merged.requests == {LLM: ("other", "req")}
