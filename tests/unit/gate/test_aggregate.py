"""aggregate(): per-series counts, errors, latency percentiles and quality means."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_llmobs.gate.aggregate import aggregate, mean
from pytest_llmobs.gate.model import SeriesKey, SpanTable


def table(names: list[str], durations_ms: list[float], errors: list[bool]) -> SpanTable:
    interned = tuple(dict.fromkeys(names))
    n = len(names)
    ids = np.arange(1, n + 1, dtype=np.uint64)
    return SpanTable(
        names=interned,
        tests=("",),
        name_idx=np.array([interned.index(x) for x in names], dtype=np.int64),
        test_idx=np.zeros(n, dtype=np.int64),
        start_ns=np.zeros(n, dtype=np.int64),
        duration_ns=np.round(np.array(durations_ms) * 1e6).astype(np.int64),
        error=np.array(errors, dtype=np.bool_),
        trace_hi=ids,
        trace_lo=ids,
        span_id=ids,
        parent_id=np.zeros(n, dtype=np.uint64),
        numeric={
            "score": (np.array([0, 2, 3], dtype=np.int64), np.array([0.5, 0.7, 0.9])),
        },
    )


def test_percentiles_match_numpy_on_known_data() -> None:
    rng = np.random.default_rng(7)
    latencies = np.round(rng.lognormal(3, 0.5, 500), 3)
    result = aggregate(table(["llm"] * 500, list(latencies), [False] * 500))
    [series] = result
    expected = np.percentile(latencies, [50, 90, 95, 99])
    got = [series.latency.p50, series.latency.p90, series.latency.p95, series.latency.p99]
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert series.latency.mean == pytest.approx(np.mean(latencies), rel=1e-12)
    assert series.latency.max == np.max(latencies)


def test_percentiles_of_one_to_ten() -> None:
    [series] = aggregate(table(["s"] * 10, [float(i) for i in range(1, 11)], [False] * 10))
    assert (series.latency.p50, series.latency.p90) == (5.5, 9.1)
    assert series.latency.p99 == 9.91


def test_series_are_split_by_name_with_errors_and_quality() -> None:
    names = ["a", "b", "a", "b", "a"]
    result = aggregate(
        table(names, [1, 2, 3, 4, 5], [True, False, False, True, True]), ["score", "absent"]
    )
    a, b = result
    assert (a.key, a.count, a.errors) == (SeriesKey("a"), 3, 2)
    assert (b.key, b.count, b.errors) == (SeriesKey("b"), 2, 1)
    assert a.error_rate == 2 / 3
    assert list(a.latency_samples) == [1.0, 3.0, 5.0]
    # rows 0 and 2 are spans of "a", row 3 one of "b"
    assert list(a.quality_samples["score"]) == [0.5, 0.7]
    assert list(b.quality_samples["score"]) == [0.9]
    assert a.quality["score"].mean == 0.6
    assert "absent" not in a.quality


def test_no_spans_no_series() -> None:
    assert aggregate(table([], [], [])) == []


def test_spans_of_marked_tests_form_series_of_their_own() -> None:
    base = table(["llm", "llm", "llm", "prep"], [1, 2, 3, 4], [False] * 4)
    marked = SpanTable(
        **{**base.__dict__, "tests": ("", "t::a[1]", "t::a[2]", "t::b"),
           "test_idx": np.array([1, 2, 3, 1], dtype=np.int64)},
    )  # fmt: skip
    result = aggregate(marked, own_series={"t::a[1]": "t::a", "t::a[2]": "t::a"})
    by_key = {s.key.label: list(s.latency_samples) for s in result}
    assert by_key == {
        "llm": [3.0],  # from the unmarked test t::b
        "llm[test=t::a]": [1.0, 2.0],  # both parametrized cases of the marked test
        "prep[test=t::a]": [4.0],
    }
    assert {s.key.name for s in result} == {"llm", "prep"}


def test_a_mean_is_the_same_whatever_the_order_of_the_values() -> None:
    # summed one by one, these give 0 or 2 by their order: a run split into shards and
    # combined would not have the mean of the run whole
    values = np.array([1e16, 1.0, -1e16, 1.0])
    orders = [values, values[[0, 2, 1, 3]], values[::-1]]
    assert {mean(v) for v in orders} == {0.5}
    assert len({float(np.sum(v)) for v in orders}) > 1  # what a plain sum does
