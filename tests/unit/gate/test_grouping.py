"""Grouping keys: attribute values split series, inherited down the span tree."""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_llmobs.gate.aggregate import aggregate
from pytest_llmobs.gate.baseline import baseline_document, load
from pytest_llmobs.gate.compare import compare
from pytest_llmobs.gate.grouping import acyclic, inherit, parent_rows, rows_of, values_of
from pytest_llmobs.gate.model import SpanTable
from pytest_llmobs.gate.semconv import alias_map

# (name, trace, span id, parent id, duration ms, attributes)
Span = tuple[str, int, int, int, float, dict[str, Any]]


def spans(rows: list[Span]) -> SpanTable:
    names = tuple(dict.fromkeys(r[0] for r in rows))
    detail: dict[str, tuple[list[int], list[Any]]] = {}
    for i, row in enumerate(rows):
        for key, value in row[5].items():
            detail.setdefault(key, ([], []))[0].append(i)
            detail[key][1].append(value)
    u64 = np.uint64
    return SpanTable(
        names=names,
        tests=("",),
        name_idx=np.array([names.index(r[0]) for r in rows], dtype=np.int64),
        test_idx=np.zeros(len(rows), dtype=np.int64),
        start_ns=np.zeros(len(rows), dtype=np.int64),
        duration_ns=np.array([r[4] * 1e6 for r in rows], dtype=np.int64),
        error=np.zeros(len(rows), dtype=np.bool_),
        trace_hi=np.zeros(len(rows), dtype=u64),
        trace_lo=np.array([r[1] for r in rows], dtype=u64),
        span_id=np.array([r[2] for r in rows], dtype=u64),
        parent_id=np.array([r[3] for r in rows], dtype=u64),
        detail={k: (np.array(r, dtype=np.int64), v) for k, (r, v) in detail.items()},
    )


TREE: list[Span] = [
    ("request", 1, 1, 0, 30, {"user_tier": "gold"}),  # 0: root with the cohort
    ("llm", 1, 2, 1, 20, {}),  # 1: child: inherits gold
    ("tool", 1, 3, 2, 5, {}),  # 2: grandchild: inherits gold
    ("llm", 1, 4, 1, 9, {"user_tier": "silver"}),  # 3: its own value wins
    ("tool", 1, 5, 4, 4, {}),  # 4: inherits silver from its parent, not gold
    ("llm", 2, 2, 1, 8, {}),  # 5: same span ids, another trace without a cohort
    ("llm", 3, 6, 99, 7, {}),  # 6: parent never captured
    ("llm", 4, 7, 8, 6, {}),  # 7: a loop of bad ids, cut here
    ("llm", 4, 8, 7, 6, {}),  # 8
]


def test_parent_rows_match_within_the_trace_only() -> None:
    # the loop of bad ids (7 <-> 8) is cut at its first row, so walking up ends
    assert parent_rows(spans(TREE)).tolist() == [-1, 0, 1, 0, 3, -1, -1, -1, 7]


def test_values_are_inherited_from_the_nearest_ancestor() -> None:
    table = spans(TREE)
    values = inherit(values_of(table, "user_tier"), parent_rows(table))
    assert values.tolist() == ["gold", "gold", "gold", "silver", "silver", None, None, None, None]


def test_aggregate_splits_series_by_group_and_keeps_the_name() -> None:
    result = aggregate(spans(TREE), group_by=["user_tier"])
    counts = {s.key.label: s.count for s in result}
    assert counts == {
        "llm": 4,
        "llm[user_tier=gold]": 1,
        "llm[user_tier=silver]": 1,
        "request[user_tier=gold]": 1,
        "tool[user_tier=gold]": 1,
        "tool[user_tier=silver]": 1,
    }
    assert {s.key.name for s in result} == {"request", "llm", "tool"}


def test_a_group_attribute_is_read_under_its_aliases_and_named_as_configured() -> None:
    table = spans(
        [
            ("chat", 1, 1, 0, 10, {"llm.model_name": "m-1"}),  # OpenInference
            ("chat", 2, 1, 0, 12, {"gen_ai.request.model": "m-2"}),
            ("chat", 3, 1, 0, 14, {"gen_ai.request.model": "m-2", "llm.model_name": "x"}),
        ]
    )
    result = aggregate(table, group_by=["gen_ai.request.model"])
    assert {s.key.label: s.count for s in result} == {
        "chat[gen_ai.request.model=m-1]": 1,
        "chat[gen_ai.request.model=m-2]": 2,  # the canonical name wins over the alias
    }


def test_two_grouping_attributes_and_odd_values() -> None:
    table = spans(
        [
            ("chat", 1, 1, 0, 10, {"model": "a", "cached": True}),
            ("chat", 2, 1, 0, 10, {"model": "a", "cached": False}),
            ("chat", 3, 1, 0, 10, {"model": "a|b <x>", "cached": True}),
        ]
    )
    labels = sorted(s.key.label for s in aggregate(table, group_by=["model", "cached"]))
    assert labels == [
        "chat[cached=false,model=a]",
        "chat[cached=true,model=a]",
        "chat[cached=true,model=a|b <x>]",
    ]


def test_grouped_series_keys_survive_a_baseline_round_trip(tmp_path: Any) -> None:
    table = spans([("chat", 1, 1, 0, 10, {"model": "a", "cached": True, "tier": "x"})])
    series = aggregate(table, group_by=["tier", "model", "cached"])
    path = tmp_path / "baseline.json"
    path.write_text(baseline_document(series, {}))
    assert [s.key for s in load(path).series] == [s.key for s in series]


def test_cache_hits_are_counted_but_left_out_of_latency(tmp_path: Any) -> None:
    table = spans(
        [
            ("chat", 1, 1, 0, 100, {}),
            ("chat", 2, 1, 0, 120, {"gen_ai.response.cached": False}),
            ("chat", 3, 1, 0, 1, {"gen_ai.response.cached": True}),
            ("chat", 4, 1, 0, 2, {"llm.response.cached": "true"}),  # an alias
            ("embed", 5, 1, 0, 3, {"gen_ai.response.cached": True}),
        ]
    )
    by_name = {s.key.name: s for s in aggregate(table)}
    chat = by_name["chat"]
    assert (chat.count, chat.cache_hits) == (4, 2)
    assert sorted(chat.latency_samples.tolist()) == [100.0, 120.0]
    assert chat.latency.p50 == 110.0
    path = tmp_path / "baseline.json"
    path.write_text(baseline_document(list(by_name.values()), {}))
    loaded = {s.key.name: s for s in load(path).series}
    assert loaded["chat"].cache_hits == 2
    # a series served wholly from a cache has no latency to compare
    comparison = compare([by_name["embed"]], [loaded["embed"]])
    assert {c.metric for c in comparison.checks} == {"error_rate"}


def test_a_cache_attribute_of_your_own_is_read_through_an_alias() -> None:
    table = spans([("chat", 1, 1, 0, 5, {"my.cache_hit": True}), ("chat", 2, 1, 0, 50, {})])
    aliases = alias_map({"gen_ai.response.cached": ["my.cache_hit"]})
    [series] = aggregate(table, aliases=aliases)
    assert (series.cache_hits, series.latency_samples.tolist()) == (1, [50.0])


def test_rows_of_finds_each_span_by_trace_and_span_id() -> None:
    rng = np.random.default_rng(3)
    for span_ids in (
        rng.integers(1, 2**63, 500, dtype=np.int64).astype(np.uint64),  # unique: fast path
        rng.integers(1, 40, 500).astype(np.uint64),  # repeated across traces
    ):
        trace = rng.integers(1, 5, 500).astype(np.uint64)
        zero = np.zeros(500, dtype=np.uint64)
        own = (zero, trace, span_ids)
        where: dict[tuple[int, int], int] = {}
        for i, (t, s) in enumerate(zip(trace, span_ids, strict=True)):
            where.setdefault((int(t), int(s)), i)  # a pair given twice: its first row
        wanted_trace = rng.integers(1, 6, 300).astype(np.uint64)  # trace 5 has no spans
        wanted_span = span_ids[rng.integers(0, 500, 300)]
        got = rows_of(own, (np.zeros(300, dtype=np.uint64), wanted_trace, wanted_span))
        expected = [
            where.get((int(t), int(s)), -1) for t, s in zip(wanted_trace, wanted_span, strict=True)
        ]
        assert got.tolist() == expected
        assert -1 in expected
        assert any(e >= 0 for e in expected)


def test_acyclic_cuts_every_cycle_and_keeps_trees() -> None:
    tree = np.array([-1, 0, 0, 1, 3], dtype=np.int64)
    assert acyclic(tree).tolist() == tree.tolist()
    assert acyclic(np.array([0, 0, 1], dtype=np.int64)).tolist() == [-1, 0, 1]  # itself
    # 1 -> 2 -> 3 -> 1, with 0 and 4 hanging below the cycle: cut at its first row
    looped = np.array([1, 2, 3, 1, 0], dtype=np.int64)
    assert acyclic(looped).tolist() == [1, -1, 3, 1, 0]
    assert acyclic(np.array([1, 0], dtype=np.int64)).tolist() == [-1, 0]  # each other's
    assert acyclic(np.empty(0, dtype=np.int64)).tolist() == []
