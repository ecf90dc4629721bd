"""Shards merged as one run: the same series, test ids and capture as the run whole."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

from pytest_llmobs.gate import stored
from pytest_llmobs.gate.baseline import RUN_SCHEMA
from pytest_llmobs.gate.merge import merge_capture, merge_series, merge_tests
from pytest_llmobs.gate.model import CaptureSummary, Received, SeriesStats
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.series_json import series_to_json
from pytest_llmobs.gate.series_parse import series_from_document
from tests.conftest import make_series


def as_shard_file(series: list[SeriesStats]) -> tuple[SeriesStats, ...]:
    """The series as a shard's run report holds them, read back."""
    doc = {"schema": RUN_SCHEMA, "series": [series_to_json(s, every=True) for s in series]}
    return series_from_document(json.loads(json.dumps(doc)), every=True)


def run(cases: list[str], seed: int = 0) -> tuple[list[float], list[float]]:
    """Latencies (with ties) and scores of one span per entry of cases."""
    rng = np.random.default_rng(seed)
    latencies = np.round(rng.lognormal(3, 0.5, len(cases)), 1).tolist()  # ties: rounded
    return latencies, np.round(rng.uniform(0, 1, len(cases)), 2).tolist()


def test_shards_merged_are_the_run_whole_bounded_alike() -> None:
    # 400 cases of 3 spans: more than a file keeps, so which cases keep one sample more
    # is a tie of remainders; the run whole met its cases in reverse order of name
    names = [f"t.py::test[{i:03d}]" for i in reversed(range(400))]
    cases = [name for name in names for _ in range(3)]
    latencies, scores = run(cases)
    whole = make_series("llm", latencies, errors=7, quality={"q": scores}, cases=cases)
    parts = []
    for k in range(3):
        mine = [i for i, case in enumerate(cases) if int(case[-4:-1]) % 3 == k]
        part = make_series(
            "llm", [latencies[i] for i in mine], errors=[3, 2, 2][k],
            quality={"q": [scores[i] for i in mine]}, cases=[cases[i] for i in mine],
        )  # fmt: skip
        parts.append(as_shard_file([part]))
    (merged,) = merge_series(parts)
    assert (merged.count, merged.errors) == (1200, 7)
    assert asdict(merged.latency) == pytest.approx(asdict(whole.latency), rel=1e-12)
    assert merged.quality["q"].mean == pytest.approx(whole.quality["q"].mean, rel=1e-12)
    (a,), (b,) = stored.as_stored([whole]), stored.as_stored([merged])
    assert len(a.latency_samples) <= stored.SAMPLE_LIMIT < len(latencies)
    assert a.cases == b.cases
    assert a.latency_samples.tolist() == b.latency_samples.tolist()
    assert a.latency_case.tolist() == b.latency_case.tolist()  # type: ignore[union-attr]
    assert a.quality_samples["q"].tolist() == b.quality_samples["q"].tolist()


def test_a_shard_file_keeps_every_sample_as_it_is() -> None:
    cases = [f"t.py::test[{i}]" for i in range(1500)]
    latencies = (np.arange(1500) / 7).tolist()  # many digits: not rounded to six
    (read,) = as_shard_file([make_series("s", latencies, cases=cases)])
    assert sorted(read.latency_samples.tolist()) == sorted(latencies)


def test_series_of_one_shard_only_and_spans_outside_tests_merge() -> None:
    first = as_shard_file([make_series("a", [1.0, 2.0], cases=["", "t::x"])])
    second = as_shard_file(
        [make_series("a", [3.0], cases=[""]), make_series("b", [5.0], cases=["t::y"])]
    )
    a, b = merge_series([first, second])
    assert (a.key.name, a.count, b.key.name, b.count) == ("a", 3, "b", 1)
    assert a.cases == ("", "t::x")
    found = zip(a.latency_case.tolist(), a.latency_samples.tolist(), strict=True)  # type: ignore[union-attr]
    assert sorted(found) == [(0, 1.0), (0, 3.0), (1, 2.0)]


def test_test_ids_of_shards_are_one_runs() -> None:
    one = RanTests(
        frozenset({"a::1"}), frozenset(), skipped=frozenset({"a::s"}),
        deselected=frozenset({"a::2", "a::3", "a::gone"}), paths=("",), ignored=("x", "y"),
    )  # fmt: skip
    two = RanTests(
        frozenset({"a::2"}), frozenset(), deselected=frozenset({"a::1", "a::3", "a::s"}),
        paths=("tests",), ignored=("y",),
    )  # fmt: skip
    merged = merge_tests([one, two])
    assert merged.now == {"a::1", "a::2"}
    assert merged.skipped == {"a::s"}
    # deselected by every shard that did not run it: the third shard is missing
    assert merged.deselected == {"a::3", "a::gone"}
    assert merged.paths == ("", "tests")
    assert merged.ignored == ("y",)  # what every shard left out
    assert merge_tests([one, RanTests(frozenset(), frozenset())]).paths is None


def test_capture_summaries_are_summed() -> None:
    parts = [CaptureSummary(10, 4, 3, 0.5, Received(1, 2, 3)), CaptureSummary(5, 2, 2, 0.5)]
    assert merge_capture(parts) == CaptureSummary(15, 6, 5, 0.5, Received(1, 2, 3))
