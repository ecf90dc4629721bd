"""Aggregate, compare and analyse a million spans across 50 series, timed step by step.

Spans come in traces of four: a root and three children, so the analysis (requests,
breakdowns, structure, attribution) has trees to walk.

Run: python benchmarks/scale.py [SPANS] [SERIES]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from pytest_llmobs.analysis import analyze as analysis
from pytest_llmobs.gate.aggregate import aggregate, series_index
from pytest_llmobs.gate.baseline import baseline_document, load
from pytest_llmobs.gate.compare import compare
from pytest_llmobs.gate.model import SpanTable
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.stored import as_stored


def table(rng: np.random.Generator, spans: int, series: int, tests: int = 500) -> SpanTable:
    """Spans spread over series and test cases, with a quality score on every tenth."""
    name_idx = rng.integers(0, series, spans)
    row = np.arange(spans)
    root = row - row % 4  # traces of four spans: a root and three children
    trace = rng.integers(1, 2**63, spans // 4 + 1, dtype=np.int64).astype(np.uint64)[row // 4]
    span_id = (row + 1).astype(np.uint64)
    parent = np.where(row == root, 0, root + 1).astype(np.uint64)
    scored = np.arange(0, spans, 10)
    return SpanTable(
        names=tuple(f"span_{i}" for i in range(series)),
        tests=("", *(f"test_suite.py::test_prompt[{i}]" for i in range(tests))),
        name_idx=name_idx,
        test_idx=rng.integers(1, tests + 1, spans),
        start_ns=np.arange(spans, dtype=np.int64) * 1000,
        duration_ns=(rng.lognormal(np.log(20e6), 0.5, spans)).astype(np.int64),
        error=rng.random(spans) < 0.01,
        trace_hi=trace,
        trace_lo=trace,
        span_id=span_id,
        parent_id=parent,
        numeric={"score": (scored, rng.uniform(0.5, 1.0, len(scored)))},
    )


def main() -> None:
    spans = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    series = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    rng = np.random.default_rng(0)
    current, base = table(rng, spans, series), table(rng, spans, series)
    timings = {}
    start = time.perf_counter()
    keys = series_index(current, {}, ())
    now = aggregate(current, ["score"], series=keys)
    timings["aggregate (this run)"] = time.perf_counter() - start
    start = time.perf_counter()
    found = analysis.from_spans(current, keys, now, ["score"], analysis.Options())
    timings["analysis: requests and structure"] = time.perf_counter() - start
    start = time.perf_counter()
    judged = as_stored(now)  # judged as its run report keeps it, as the plugin does
    timings["stored form (this run)"] = time.perf_counter() - start
    before = aggregate(base, ["score"])
    start = time.perf_counter()
    text = baseline_document(before, {})
    timings["baseline: write bounded samples"] = time.perf_counter() - start
    path = __import__("pathlib").Path("/tmp/llmobs-scale-baseline.json")
    path.write_text(text)
    start = time.perf_counter()
    stored = load(path).series
    timings["baseline: load"] = time.perf_counter() - start
    start = time.perf_counter()
    tests = frozenset(base.tests[1:])  # every test case ran in both runs
    comparison = compare(judged, stored, tests=RanTests(tests, tests))
    checks = comparison.checks
    timings["compare (intervals, coverage)"] = time.perf_counter() - start
    start = time.perf_counter()
    found = analysis.with_comparison(found, comparison, judged, stored)
    timings["analysis: attribution and alerts"] = time.perf_counter() - start
    print(f"{spans:,} spans, {series} series, {len(checks)} checks, baseline {len(text):,} bytes")
    for step, seconds in timings.items():
        print(f"  {step:35} {seconds:6.2f} s")
    total = timings["aggregate (this run)"] + timings["baseline: load"]
    total += timings["stored form (this run)"]
    total += timings["compare (intervals, coverage)"]
    print(f"  {'aggregate + store + load + compare':35} {total:6.2f} s")
    total += timings["analysis: requests and structure"]
    total += timings["analysis: attribution and alerts"]
    print(f"  {'... + analysis':35} {total:6.2f} s")
    print(f"  listed {len(found.slowest)} slow and {len(found.lowest)} low-scored requests")


if __name__ == "__main__":
    main()
