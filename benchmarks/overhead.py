"""What capture costs: per span, and for a whole span-only pytest suite, side by side.

Run: python benchmarks/overhead.py [--spans N] [--rounds R] [--tests T] [--per-test S]

1. Per span: a bare SDK span (two attributes, no processor), the same with a processor
   that does nothing and one that only reads the span's fields (the floors for any
   capture), with the naive
   `SimpleSpanProcessor(InMemorySpanExporter())`, and with this plugin's SpanRecorder
   (a test boundary every 500 spans, as in a suite).
   Cases run interleaved; each reports its best round. Also bytes retained per span.
2. A generated suite of T tests x S spans, run with and without `--llmobs` (the run
   with it compares against a baseline recorded first), interleaved: wall time and
   peak RSS of each run, best of R. Peak memory per span is the RSS difference between
   the two runs of a large and a small suite, divided by the spans between them, so
   the fixed cost of importing numpy does not count as per-span memory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.capture.span_fields import _READ

PER_TEST = 500


def span_loop(processor: SpanProcessor | None, n: int) -> Callable[[], None]:
    provider = TracerProvider(shutdown_on_exit=False)
    if processor is not None:
        provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    mark = processor.mark_test if isinstance(processor, SpanRecorder) else None

    def run() -> None:
        for first in range(0, n, PER_TEST):
            if mark is not None:
                mark("test")
            for i in range(first, min(n, first + PER_TEST)):
                with tracer.start_as_current_span("llm_inference") as span:
                    span.set_attribute("gen_ai.request.model", "m")
                    span.set_attribute("overall_score", 0.5 + i % 2 / 4)
            if mark is not None:
                mark(None)

    return run


class NoOpProcessor(SpanProcessor):
    """The floor: what any Python span processor costs before it does anything."""


class ReadOnlyProcessor(SpanProcessor):
    """The next floor: a processor that only reads the fields a capture must keep."""

    def on_end(self, span: ReadableSpan) -> None:
        _READ(span)


CASES: dict[str, Callable[[], SpanProcessor | None]] = {
    "bare SDK span": lambda: None,
    "a span processor that does nothing": NoOpProcessor,
    "one that only reads the span's fields": ReadOnlyProcessor,
    "SimpleSpanProcessor(InMemorySpanExporter())": lambda: SimpleSpanProcessor(
        InMemorySpanExporter()
    ),
    "pytest-llmobs SpanRecorder": lambda: SpanRecorder(["overall_score"]),
}


def span_costs(n: int, rounds: int) -> None:
    times: dict[str, list[float]] = {name: [] for name in CASES}
    names = list(CASES)
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:  # rotate the order
            run = span_loop(CASES[name](), n)
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    print(f"per span: {n} spans a round, {rounds} interleaved rounds")
    print("  ratio = median over rounds of (case / bare SDK span in the same round)")
    for name, factory in CASES.items():
        ratio = statistics.median(
            t / bare for t, bare in zip(times[name], times["bare SDK span"], strict=True)
        )
        print(
            f"  {name:45} best {min(times[name]) / n * 1e6:6.2f} us  ratio {ratio:5.2f}x"
            f"  {retained_bytes(factory, n):6.0f} B retained"
        )


def retained_bytes(factory: Callable[[], SpanProcessor | None], n: int) -> float:
    processor = factory()
    run = span_loop(processor, n)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n


SUITE = """
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

provider = TracerProvider()
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("suite")


@pytest.mark.parametrize("case", range({tests}))
def test_spans(case):
    for i in range({per_test}):
        with tracer.start_as_current_span("llm_inference") as span:
            span.set_attribute("gen_ai.request.model", "m")
            span.set_attribute("overall_score", 0.5 + i % 2 / 4)
"""


# The child's own peak RSS (VmHWM): getrusage would count the forking parent's pages too.
PROBE = """
from pathlib import Path

def pytest_unconfigure(config):
    status = Path("/proc/self/status").read_text()
    peak = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    Path("peak_rss_kb").write_text(peak.split()[1])
"""


def run_suite(folder: Path, llmobs: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS bytes of one pytest run in a fresh process (Linux)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "rss_probe"]
    env = {**os.environ, "GITHUB_STEP_SUMMARY": ""}
    start = time.perf_counter()
    done = subprocess.run([*command, *llmobs], cwd=folder, stdout=subprocess.DEVNULL, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the suite in {folder} failed with {llmobs}")
    return elapsed, int((folder / "peak_rss_kb").read_text()) * 1024


def suite_costs(tests: int, per_test: int, rounds: int) -> None:
    sizes = {"large": tests, "small": max(1, tests // 10)}
    runs: dict[tuple[str, bool], list[tuple[float, int]]] = {}
    flags = ["--llmobs", "--llmobs-quality-attributes", "overall_score"]
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for size, count in sizes.items():
            folder = Path(tmp) / size
            folder.mkdir()
            (folder / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
            suite = SUITE.format(tests=count, per_test=per_test)
            (folder / "test_suite.py").write_text(textwrap.dedent(suite))
            (folder / "rss_probe.py").write_text(PROBE)
            run_suite(folder, ["--llmobs", "--llmobs-update-baseline"])
            folders[size] = folder
        for _ in range(rounds):
            for size, folder in folders.items():
                for llmobs in (False, True):
                    result = run_suite(folder, flags if llmobs else [])
                    runs.setdefault((size, llmobs), []).append(result)
    print(f"\nspan-only suite, {rounds} interleaved pairs of runs; ratio = median of pairs")
    extra = {}
    for size, count in sizes.items():
        off, on = runs[(size, False)], runs[(size, True)]
        ratio = statistics.median(b[0] / a[0] for a, b in zip(off, on, strict=True))
        off_rss, on_rss = min(r for _, r in off), min(r for _, r in on)
        extra[size] = on_rss - off_rss
        print(
            f"  {count} tests x {per_test} spans: best {min(t for t, _ in off):5.2f} s without,"
            f" {min(t for t, _ in on):5.2f} s with --llmobs, ratio {ratio:4.2f}x;"
            f" peak RSS {off_rss / 2**20:5.1f} -> {on_rss / 2**20:5.1f} MB"
        )
    spans = (sizes["large"] - sizes["small"]) * per_test
    print(f"  peak memory per captured span: {(extra['large'] - extra['small']) / spans:.0f} B")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=5000, help="spans a round (per-span part)")
    parser.add_argument("--rounds", type=int, default=30, help="rounds of the per-span part")
    parser.add_argument("--tests", type=int, default=200, help="tests of the suite")
    parser.add_argument("--per-test", type=int, default=PER_TEST, help="spans a test")
    parser.add_argument("--suite-rounds", type=int, default=5, help="runs of each suite")
    args = parser.parse_args()
    span_costs(args.spans, args.rounds)
    suite_costs(args.tests, args.per_test, args.suite_rounds)


if __name__ == "__main__":
    main()
