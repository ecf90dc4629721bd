"""What capture costs: per span, and for a whole span-only pytest suite, side by side.

Run: python benchmarks/overhead.py [--spans N] [--rounds R] [--tests T] [--per-test S]

1. Per span: a bare SDK span (two attributes, no processor), the same with the naive
   `SimpleSpanProcessor(InMemorySpanExporter())`, and with this plugin's SpanRecorder
   (a test boundary every 500 spans, as in a suite, so its conversion is included).
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
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_llmobs.capture import SpanRecorder

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


CASES: dict[str, Callable[[], SpanProcessor | None]] = {
    "bare SDK span": lambda: None,
    "SimpleSpanProcessor(InMemorySpanExporter())": lambda: SimpleSpanProcessor(
        InMemorySpanExporter()
    ),
    "pytest-llmobs SpanRecorder": lambda: SpanRecorder(["overall_score"]),
}


def span_costs(n: int, rounds: int) -> None:
    best = dict.fromkeys(CASES, float("inf"))
    for _ in range(rounds):
        for name, factory in CASES.items():
            run = span_loop(factory(), n)
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    bare = best["bare SDK span"]
    print(f"per span: {n} spans a round, best of {rounds} interleaved rounds")
    for name, factory in CASES.items():
        print(
            f"  {name:45} {best[name] / n * 1e6:6.2f} us  {best[name] / bare:5.2f}x"
            f"  {retained_bytes(factory, n):6.0f} B retained"
        )


def retained_bytes(factory: Callable[[], SpanProcessor | None], n: int) -> float:
    processor = factory()
    run = span_loop(processor, n)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run()
    if isinstance(processor, SpanRecorder):
        processor.settle()
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
    results: dict[tuple[str, bool], tuple[float, int]] = {}
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
                    flags = ["--llmobs", "--llmobs-quality-attributes", "overall_score"]
                    wall, rss = run_suite(folder, flags if llmobs else [])
                    old = results.get((size, llmobs), (float("inf"), 1 << 62))
                    results[(size, llmobs)] = (min(old[0], wall), min(old[1], rss))
    print(f"\nspan-only suite, best of {rounds} interleaved runs each")
    for size, count in sizes.items():
        (off_s, off_rss), (on_s, on_rss) = results[(size, False)], results[(size, True)]
        print(
            f"  {count} tests x {per_test} spans: {off_s:5.2f} s -> {on_s:5.2f} s"
            f" ({on_s / off_s:4.2f}x);  peak RSS {off_rss / 2**20:6.1f} -> {on_rss / 2**20:6.1f} MB"
            f" (+{(on_rss - off_rss) / 2**20:.1f} MB)"
        )
    extra = {size: results[(size, True)][1] - results[(size, False)][1] for size in sizes}
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
