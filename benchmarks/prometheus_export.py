"""The time to turn a run of many series into Prometheus gauges and write the textfile.

Run: python benchmarks/prometheus_export.py [--series N] [--repeat R]

A run of N series (span names split by two grouping attributes, `gen_ai.request.model`
and `user.tier`), each with a quality score, input and output tokens, a cost and two SLOs
(warn and fail levels), is turned into its gauges (run_metrics) and written as the
textfile for node exporter (write_textfile, prometheus_client's exposition): the best of
R repeats of each, and the file's size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pytest_llmobs.export.prometheus import write_textfile
from pytest_llmobs.gate.model import LatencySummary, QualitySummary, SeriesKey, SeriesStats
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.gate.slos import SloResult
from pytest_llmobs.report.prometheus_metrics import constant_labels, run_metrics
from pytest_llmobs.report.result import RunResult

QUALITY = ("overall_score", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")


def run_of(n: int) -> RunResult:
    """A judged run of n series, each split by model and tier."""
    series, slos = [], []
    for i in range(n):
        group = (("gen_ai.request.model", f"model-{i % 7}"), ("user.tier", f"tier-{i % 3}"))
        key = SeriesKey(f"span_{i // 21}", group)
        quality = {a: QualitySummary(50, 0.5 + i % 10) for a in QUALITY}
        quality["llmobs.cost_usd"] = QualitySummary(50, 0.0001 * (i % 10))
        latency = LatencySummary(10.0 + i, 20.0 + i, 25.0 + i, 40.0 + i, 15.0 + i, 50.0 + i)
        empty = np.empty(0, dtype=np.float64)
        series.append(SeriesStats(key, 50, i % 5, latency, quality, empty, {}))
        slos.append(SloResult(key, "latency.p95", 25.0 + i, 100.0, 500.0, "ok"))
        slos.append(SloResult(key, "error_rate", (i % 5) / 50, 0.05, 0.1, "warn"))
    meta = {"created_at": "2026-01-02T03:04:05+00:00", "git_branch": "main", "suite": "bench"}
    return RunResult(tuple(series), BaselineState(Path("b"), "loaded"), slos=tuple(slos),
                     metadata=meta)  # fmt: skip


def best(repeat: int, work: Callable[[], object]) -> float:
    """The fastest of `repeat` calls of work(), in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    result = run_of(args.series)
    families = run_metrics(result)
    samples = sum(len(f.samples) for f in families)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "llmobs.prom"
        build = best(args.repeat, lambda: run_metrics(result))
        write = best(args.repeat, lambda: write_textfile(path, families, constant_labels(result)))
        both = best(
            args.repeat,
            lambda: write_textfile(path, run_metrics(result), constant_labels(result)),
        )
        size = path.stat().st_size
    print(f"{args.series} series, 2 group labels: {samples} samples, {size / 1e6:.2f} MB")
    print(f"run_metrics {build * 1000:.0f} ms, write_textfile {write * 1000:.0f} ms, "
          f"both {both * 1000:.0f} ms (best of {args.repeat})")  # fmt: skip


if __name__ == "__main__":
    main()
