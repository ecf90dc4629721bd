"""The worst span end under sampling: many span names, one long test.

Run: python benchmarks/sampling.py [--names N] [--spans S] [--threads T]

With `--llmobs-sample-rate` below 1 the recorder decides which traces keep their
detail a batch at a time (at test boundaries, and every SETTLE_AT spans inside a long
test). This times every `span.end()` of one test of S spans whose names cycle through
N distinct names (high-cardinality names such as `GET /users/123`), each with a score
and 20 string attributes (detail, which sampling drops), ended by T threads
at once, and prints the slowest end, the 99.9th percentile and the median: the slowest
is what one unlucky request of the app waits for. Sample rate 1 (no sampling) is run
beside it: with several threads, waiting for the GIL alone costs milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from opentelemetry.sdk.trace import TracerProvider

from pytest_llmobs.capture.recorder import SpanRecorder

DETAIL = [f"attribute.{k}" for k in range(20)]


def run(names: int, spans: int, threads: int, rate: float) -> list[int]:
    recorder = SpanRecorder(["score"], sample_rate=rate)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    tracer = provider.get_tracer("bench")
    ends: list[list[int]] = [[] for _ in range(threads)]

    def work(k: int) -> None:
        mine = ends[k]
        clock = time.perf_counter_ns
        for i in range(k, spans, threads):
            span = tracer.start_span(f"GET /users/{i % names}")
            span.set_attribute("score", i % 7 / 7)
            for key in DETAIL:  # detail: kept for the sampled traces only
                span.set_attribute(key, "x")
            before = clock()
            span.end()
            mine.append(clock() - before)

    recorder.mark_test("test_long")
    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    recorder.mark_test(None)
    recorder.snapshot()
    return sorted(t for mine in ends for t in mine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=5000)
    parser.add_argument("--spans", type=int, default=300_000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    print(f"{args.spans} span ends, {args.names} names, {args.threads} thread(s):")
    for rate in (0.1, 1.0):  # 1: no sampling at all, the floor the threads' GIL sets
        ms = [t / 1e6 for t in run(args.names, args.spans, args.threads, rate)]
        print(
            f"  sample rate {rate:g}: slowest {ms[-1]:.1f} ms, 99.9th percentile "
            f"{ms[int(len(ms) * 0.999)]:.3f} ms, median {statistics.median(ms) * 1000:.1f} us"
        )


if __name__ == "__main__":
    main()
