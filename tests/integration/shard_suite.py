"""The generated suites that the shard tests split across runs (a request pipeline in three
files whose cases the shards take by residue, and a test of many tool calls; each case's
noise drawn from its own seed, so every run of a case gives the same spans), and what the
report of a combined run shares with the whole run's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.suites import CLOCK

SHARDS = 3
CASES_PER_FILE = 30
FILES = ("test_chat", "test_search", "test_summary")
# What a check, a series must have alike in two reports: exactly, and equal to rounding
EXACT = ("series", "metric", "verdict", "n_baseline", "n_current", "test", "cause", "needed")
NUMBERS = (
    *("p_value", "p_raw", "change", "relative_change", "pooled_change", "pooled_relative_change"),
    *("baseline", "current", "ci_low", "ci_high", "mde"),
)
SERIES = ("count", "cache_hits", "errors", "error_rate", "latency_ms", "quality", "cases")
PER_RUN = {"span_id", "trace_id", "parent_id", "start_unix_nano"}  # drawn anew by each run

# The app the three test files share (a str.format template: no braces of its own)
APP = (
    CLOCK
    + """
import random

tracer = TimedTracer("sharded")
SLOWDOWN, QUALITY_DROP = {slowdown}, {quality_drop}

def pipeline(i):
    rng = random.Random(i)  # the case's own noise: the same in every run of case i
    with tracer.start_as_current_span("llm_request"):
        with tracer.start_as_current_span("preprocess_prompt", ms=0.2 + rng.random() / 10):
            sum(range(100))
        try:
            ms = (8 + i % 9) * SLOWDOWN * rng.uniform(0.98, 1.02)
            with tracer.start_as_current_span("llm_inference", ms=ms):
                if i % 13 == 5:
                    raise TimeoutError("model timed out")
        except TimeoutError:
            return "fallback"
        with tracer.start_as_current_span("evaluate_output", ms=0.1 + rng.random() / 10) as span:
            score = 0.6 + (i % 30) / 100 + rng.uniform(-0.02, 0.02) - QUALITY_DROP
            span.set_attribute("overall_score", score)
        return "answer"
"""
)

# One file's cases; the id names the residue of i, which `-k "[r0_"` selects (a "[" is in
# no folder's name, which -k matches too)
TESTS = """
import pytest
from llm_app import pipeline

@pytest.mark.parametrize("i", range({start}, {stop}), ids=lambda i: "r%d_%d" % (i % 3, i))
def test_prompt(i):
    assert pipeline(i) in ("answer", "fallback")
"""

# More than SAMPLE_LIMIT spans in one series, of durations with seven significant digits
MANY = (
    CLOCK
    + """
import random
import pytest

tracer = TimedTracer("many")

@pytest.mark.parametrize("t", range(4))
def test_tools(t):
    rng = random.Random(t)
    for _ in range(300):
        with tracer.start_as_current_span("tool_call", ms=1 + rng.random()):
            pass
"""
)


def make_sharded_suite(
    pytester: pytest.Pytester, slowdown: float = 1.0, quality_drop: float = 0.0
) -> None:
    """The pipeline suite: SHARDS x CASES_PER_FILE cases in three files, scored."""
    pytester.makepyfile(llm_app=APP.format(slowdown=slowdown, quality_drop=quality_drop))
    for n, name in enumerate(FILES):
        start = n * CASES_PER_FILE
        source = TESTS.format(start=start, stop=start + CASES_PER_FILE)
        pytester.makepyfile(**{name: source})
    pytester.makeini("[pytest]\nllmobs_quality_attributes = overall_score\n")


def run_shard(pytester: pytest.Pytester, n: int, name: str, *args: str) -> pytest.RunResult:
    """Run shard n of SHARDS (the cases of residue n), recorded as NAME."""
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-shard", f"--llmobs-json={name}", "-p", "no:cacheprovider",
        "-k", f"[r{n}_", *args,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()  # the tests' own status, never the gate's
    return result


def run_shards(pytester: pytest.Pytester, prefix: str, *args: str) -> list[Path]:
    """Run the suite as SHARDS shards, each recorded as PREFIX-N.json.

    Returns:
        The shard files, in shard order.
    """
    for n in range(SHARDS):
        run_shard(pytester, n, f"{prefix}-{n}.json", *args)
    return [pytester.path / f"{prefix}-{n}.json" for n in range(SHARDS)]


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def close(a: object, b: object) -> bool:
    """Equal, or floats equal to rounding."""
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    return a == b


def checks(report: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """A report's checks by series, metric and group."""
    return {
        (c["series"], c["metric"], json.dumps(c["group"], sort_keys=True)): c
        for c in report["checks"]
    }


def without_ids(value: Any) -> Any:
    """A report's entry without the ids and start times that every run draws anew."""
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k not in PER_RUN}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def assert_judged_alike(report: dict[str, Any], whole: dict[str, Any]) -> None:
    """The same verdict, checks, series, requests and tests as the whole run's report."""
    assert report["verdict"] == whole["verdict"]
    got, expected = checks(report), checks(whole)
    assert got.keys() == expected.keys()
    assert len(expected) > 0
    for key, check in expected.items():
        assert {f: got[key][f] for f in EXACT} == {f: check[f] for f in EXACT}, key
        differ = [f for f in NUMBERS if not close(got[key][f], check[f])]
        assert differ == [], (key, {f: (got[key][f], check[f]) for f in differ})
    series = {s["key"]: {f: s.get(f) for f in SERIES} for s in whole["series"]}
    assert {s["key"]: {f: s.get(f) for f in SERIES} for s in report["series"]} == series
    for field in ("slowest_requests", "low_quality_requests", "request_paths"):
        assert without_ids(report[field]) == without_ids(whole[field]), field
    assert sorted(report["tests"]) == sorted(whole["tests"])
    assert report["capture"]["spans"] == whole["capture"]["spans"]
    assert report["capture"]["traces"] == whole["capture"]["traces"]
    assert report["errors"] == whole["errors"]
