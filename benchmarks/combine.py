"""What `llmobs combine` costs: 20 shards of 50,000 spans each merged and judged as one run.

Run: python benchmarks/combine.py [--shards N] [--cases C] [--requests R] [--tools T]
     [--repeat K] [--cache DIR] [--jobs J] [--fresh]

The shards are real run reports, made as users make them: a generated suite (requests
of `request` > `retrieve`, one of T tools, `llm_call` with tokens > `evaluate` with a
score), a test file a shard of C cases running R requests each, each file run with
`python -m pytest --llmobs --llmobs-shard --llmobs-json=shard-N.json` (J at a time).
Span lengths come from each case's own seed: every run gives the same spans (A/A).

A shard records the sha256 of its baseline, and `combine` judges only against those
bytes: the shards of a first run, combined, become the baseline (`llmobs baseline
update`), and the shards of a second run against it are those measured. They take
minutes to make: kept in --cache, a folder per size, and reused.

Measured in this process: `llmobs combine` (best and median of K runs), the combined
report's size, peak RSS, and `llmobs compare` of the combined report.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmobs.cli import main as llmobs

SPANS_A_REQUEST = 5  # request > retrieve, a tool, llm_call > evaluate (4 when the call fails)
TOOLS = ("web_search", "calculator", "weather", "sql_query", "code_runner", "translate")
# The shards are judged without CI's fail-closed rules and write no step summary
ENV = {**os.environ, "CI": "", "GITHUB_STEP_SUMMARY": ""}

APP = '''
import random
import time
from contextlib import contextmanager

from opentelemetry import trace

tracer = trace.get_tracer("combine-bench")
spent = [0]  # simulated ns taken by the children of the open spans, innermost last


@contextmanager
def span(name, ms, attributes=None):
    """A span starting now, lasting its children's simulated time and `ms` more."""
    start = time.time_ns()
    current = tracer.start_span(name, start_time=start, attributes=attributes)
    spent.append(0)
    try:
        with trace.use_span(current):  # an exception sets the error status, as usual
            yield current
    finally:
        took = spent.pop() + round(ms * 1e6)
        spent[-1] += took
        current.end(end_time=start + took)


def pipeline(rng):
    """One request: retrieval, a tool, a model call (1% time out) and its evaluation."""
    with span("request", 0.2):
        with span("retrieve", rng.lognormvariate(1.5, 0.3), dict(documents=5)):
            pass
        with span(rng.choice(TOOLS), rng.lognormvariate(1.0, 0.5)):
            pass
        tokens = rng.randint(200, 2000)
        call = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": tokens,
            "gen_ai.usage.output_tokens": tokens // 4 + rng.randint(0, 100),
        }
        try:
            with span("llm_call", rng.lognormvariate(6.0, 0.25) + tokens / 100, call):
                if rng.random() < 0.01:
                    raise TimeoutError("model timed out")
        except TimeoutError:
            return
        with span("evaluate", rng.lognormvariate(0.0, 0.2)) as evaluated:
            evaluated.set_attribute("overall_score", min(1.0, rng.gauss(0.8, 0.08)))
'''

TESTS = """
import random

import pytest

from llm_app import pipeline


@pytest.mark.parametrize("case", range({first}, {middle}))
def test_chat(case):
    rng = random.Random(case)  # the case's own noise: the same in every run
    for _ in range({requests}):
        pipeline(rng)


@pytest.mark.parametrize("case", range({middle}, {stop}))
def test_search(case):
    rng = random.Random(case)
    for _ in range({requests}):
        pipeline(rng)
"""

PYPROJECT = '[tool.pytest.ini_options]\nllmobs_quality_attributes = "overall_score"\n'


@dataclass(frozen=True)
class Size:
    """The generated suite: how many shards, test cases a shard, requests a case, tools."""

    shards: int
    cases: int
    requests: int
    tools: int

    @property
    def name(self) -> str:
        return f"{self.shards}x{self.cases}x{self.requests}x{self.tools}"


@dataclass(frozen=True)
class Made:
    """The shards to combine, the baseline they ran against, and the suite's pyproject."""

    shards: list[Path]
    baseline: Path
    config: Path


def write_suite(suite: Path, size: Size) -> None:
    """The suite's files, a test file a shard; any earlier baseline removed."""
    shutil.rmtree(suite, ignore_errors=True)
    suite.mkdir(parents=True)
    (suite / "pyproject.toml").write_text(PYPROJECT)
    (suite / "llm_app.py").write_text(f"TOOLS = {TOOLS[: size.tools]!r}\n{APP}")
    half = size.cases // 2
    for n in range(size.shards):
        first = n * size.cases
        source = TESTS.format(
            first=first, middle=first + half, stop=first + size.cases, requests=size.requests
        )
        (suite / f"test_shard_{n:02}.py").write_text(source)


def run_shards(suite: Path, to: Path, shards: int, jobs: int) -> list[Path]:
    """Every shard of the suite run as its own pytest process, J at a time.

    Returns:
        The shards' run reports, in shard order.
    """
    to.mkdir(parents=True, exist_ok=True)
    paths = [to / f"shard-{n:02}.json" for n in range(shards)]

    def run(n: int) -> None:
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--llmobs",
            "--llmobs-shard", f"--llmobs-json={paths[n]}", f"test_shard_{n:02}.py",
        ]  # fmt: skip
        done = subprocess.run(command, cwd=suite, env=ENV, capture_output=True, text=True)
        if done.returncode != 0 or not paths[n].is_file():
            tail = "\n".join(done.stdout.splitlines()[-15:] + done.stderr.splitlines()[-15:])
            raise SystemExit(f"shard {n} failed (exit {done.returncode}):\n{tail}")

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(run, range(shards)))
    return paths


def llmobs_process(*args: str | Path, allowed: Sequence[int] = (0,)) -> None:
    """`llmobs ARGS` in a process of its own, so that this one's peak RSS is the
    measured combine's alone."""
    code = "import sys; from pytest_llmobs.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", code, *map(str, args)]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True)
    if done.returncode not in allowed:
        raise SystemExit(f"llmobs {' '.join(map(str, args))}: exit {done.returncode}\n"
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")  # fmt: skip


def make(cache: Path, size: Size, jobs: int, fresh: bool) -> Made:
    """The shards of one size, from the cache when a whole set is there."""
    folder = cache / size.name
    suite = folder / "suite"
    made = Made(
        [folder / "shards" / f"shard-{n:02}.json" for n in range(size.shards)],
        suite / ".llmobs" / "baseline.json",
        suite / "pyproject.toml",
    )
    if not fresh and made.baseline.is_file() and all(p.is_file() for p in made.shards):
        print(f"reusing the shards in {folder} (--fresh makes them anew)")
        return made
    start = time.perf_counter()
    for old in ("first", "shards"):
        shutil.rmtree(folder / old, ignore_errors=True)
    write_suite(suite, size)
    first = run_shards(suite, folder / "first", size.shards, jobs)  # against no baseline
    combined = folder / "first" / "combined.json"
    # no baseline yet: the combined run is judged against none (exit 0 or 1 alike)
    llmobs_process("combine", *first, "-o", combined, "--baseline", made.baseline,
                   "--config", made.config, allowed=(0, 1))  # fmt: skip
    llmobs_process("baseline", "update", combined, "--baseline", made.baseline)
    run_shards(suite, folder / "shards", size.shards, jobs)  # against that baseline
    shutil.rmtree(folder / "first")
    print(f"made the baseline and {size.shards} shards in {folder}"
          f" in {time.perf_counter() - start:.0f} s ({jobs} at a time)")  # fmt: skip
    return made


def timed(argv: list[str], repeat: int) -> tuple[list[float], int]:
    """Seconds of each of `repeat` runs of `llmobs ARGV` in this process, and the exit
    status of the last; its summary goes nowhere."""
    seconds, status = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            status = llmobs(argv)
        seconds.append(time.perf_counter() - start)
        if status not in (0, 1):
            raise SystemExit(f"llmobs {' '.join(argv)}: exit {status}")
    return seconds, status


def peak_rss_mb() -> float:
    """This process's peak RSS so far (Linux counts it in KiB, macOS in bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def measure(made: Made, out: Path, repeat: int) -> None:
    """Time combine and compare, then describe what they read and wrote."""
    shards, base, config = list(map(str, made.shards)), str(made.baseline), str(made.config)
    before = peak_rss_mb()
    combine_args = ["combine", *shards, "-o", str(out), "--baseline", base, "--config", config]
    combined, combine_status = timed(combine_args, repeat)
    peak = peak_rss_mb()
    compared, compare_status = timed(["compare", str(out), base, "--config", config], repeat)
    spans = [load(p)["capture"]["spans"] for p in made.shards]  # read once timing is done
    report = load(out)
    mb = sum(p.stat().st_size for p in made.shards) / 1e6
    print(f"{len(spans)} shards, {min(spans):,} to {max(spans):,} spans a shard,"
          f" {sum(spans):,} spans, {len(report['series'])} series,"
          f" {len(report['tests']):,} tests; shards {mb:.1f} MB")  # fmt: skip
    for what, seconds, status in (
        ("combine", combined, combine_status),
        ("compare", compared, compare_status),
    ):
        print(f"  {what:8} best {min(seconds):6.2f} s  median {statistics.median(seconds):6.2f} s"
              f"  ({repeat} runs, exit {status})")  # fmt: skip
    print(f"  combined run report {out.stat().st_size / 1e6:.1f} MB: verdict"
          f" {report['verdict']}, {len(report['checks'])} checks")  # fmt: skip
    print(f"  peak RSS of this process {peak:.0f} MB ({before:.0f} MB before the first combine)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--cases", type=int, default=500, help="test cases a shard")
    parser.add_argument("--requests", type=int, default=20, help="requests a test case")
    parser.add_argument("--tools", type=int, default=6, help="tool spans (series: 4 + T)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of combine and compare")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "llmobs-combine-bench",
        help="folder that keeps the generated suite, baseline and shards between runs",
    )  # fmt: skip
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="shards at once")
    parser.add_argument("--fresh", action="store_true", help="make the shards anew")
    args = parser.parse_args()
    size = Size(args.shards, args.cases, args.requests, max(1, min(args.tools, len(TOOLS))))
    print(f"{size.shards} shards x {size.cases} test cases x {size.requests} requests"
          f" x {SPANS_A_REQUEST} spans, {size.tools} tools")  # fmt: skip
    made = make(args.cache, size, args.jobs, args.fresh)
    with tempfile.TemporaryDirectory() as tmp:
        measure(made, Path(tmp) / "combined.json", args.repeat)


if __name__ == "__main__":
    main()
