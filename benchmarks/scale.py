"""Aggregate and compare a million spans across 50 series, timed step by step.

Run: python benchmarks/scale.py [SPANS] [SERIES]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from pytest_llmobs.aggregate import aggregate
from pytest_llmobs.baseline import baseline_document, load
from pytest_llmobs.compare import compare
from pytest_llmobs.model import SpanTable


def table(rng: np.random.Generator, spans: int, series: int, tests: int = 500) -> SpanTable:
    """Spans spread over series and test cases, with a quality score on every tenth."""
    name_idx = rng.integers(0, series, spans)
    ids = rng.integers(1, 2**63, spans, dtype=np.int64).astype(np.uint64)
    scored = np.arange(0, spans, 10)
    return SpanTable(
        names=tuple(f"span_{i}" for i in range(series)),
        tests=("", *(f"test_suite.py::test_prompt[{i}]" for i in range(tests))),
        name_idx=name_idx,
        test_idx=rng.integers(1, tests + 1, spans),
        start_ns=np.arange(spans, dtype=np.int64) * 1000,
        duration_ns=(rng.lognormal(np.log(20e6), 0.5, spans)).astype(np.int64),
        error=rng.random(spans) < 0.01,
        trace_hi=ids,
        trace_lo=ids,
        span_id=ids,
        parent_id=np.zeros(spans, dtype=np.uint64),
        numeric={"score": (scored, rng.uniform(0.5, 1.0, len(scored)))},
    )


def main() -> None:
    spans = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    series = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    rng = np.random.default_rng(0)
    current, base = table(rng, spans, series), table(rng, spans, series)
    timings = {}
    start = time.perf_counter()
    now = aggregate(current, ["score"])
    timings["aggregate (this run)"] = time.perf_counter() - start
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
    checks = compare(now, stored).checks
    timings["compare (with intervals)"] = time.perf_counter() - start
    print(f"{spans:,} spans, {series} series, {len(checks)} checks, baseline {len(text):,} bytes")
    for step, seconds in timings.items():
        print(f"  {step:35} {seconds:6.2f} s")
    total = timings["aggregate (this run)"] + timings["baseline: load"]
    total += timings["compare (with intervals)"]
    print(f"  {'aggregate + load + compare':35} {total:6.2f} s")


if __name__ == "__main__":
    main()
