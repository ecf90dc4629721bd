"""Self time and critical path on hand-built span trees."""

from __future__ import annotations

from pytest_llmobs.analysis.trees import Node, covered, critical_path, self_time, walk


def names(path: list[Node]) -> list[str]:
    return [n.name for n in path]


def test_sequential_children() -> None:
    a, b, c = Node("a", 1, 3), Node("b", 3, 7), Node("c", 7, 11)
    root = Node("root", 0, 12, (c, a, b))  # children in any order
    assert self_time(root) == 2  # 0-1 and 11-12
    assert names(critical_path(root)) == ["root", "a", "b", "c"]


def test_concurrent_overlapping_children_count_once() -> None:
    fast, slow = Node("fast", 2, 6), Node("slow", 1, 10)
    root = Node("root", 0, 12, (fast, slow))
    assert self_time(root) == 3  # 0-1 and 10-12: 2-6 is inside 1-10
    # the slow call decided when the request ended; the fast one ran in its shadow
    assert names(critical_path(root)) == ["root", "slow"]


def test_partly_overlapping_children_share_the_path() -> None:
    first, second = Node("first", 0, 10), Node("second", 5, 12)
    root = Node("root", 0, 12, (first, second))
    assert self_time(root) == 0
    # second ran up to the end; before it started, first was what the request waited on
    assert names(critical_path(root)) == ["root", "first", "second"]


def test_children_outside_their_parent_are_clipped() -> None:
    late = Node("late", 8, 20)  # ended after its parent (an async child)
    early = Node("early", -5, 2)
    root = Node("root", 0, 10, (late, early))
    assert self_time(root) == 6  # 2-8
    assert names(critical_path(root)) == ["root", "early", "late"]


def test_nested_path_and_self_times() -> None:
    embed = Node("embed", 1, 2)
    retrieve = Node("retrieve", 1, 4, (embed,))
    llm = Node("llm", 5, 30)
    judge = Node("judge", 6, 8)  # concurrent with llm, not on the path
    root = Node("request", 0, 31, (retrieve, llm, judge))
    assert names(critical_path(root)) == ["request", "retrieve", "embed", "llm"]
    assert self_time(retrieve) == 2
    assert self_time(root) == 3  # 0-1, 4-5, 30-31
    assert self_time(llm) == 25
    assert [(n.name, d) for n, d in walk(root)] == [
        ("request", 0), ("retrieve", 1), ("embed", 2), ("llm", 1), ("judge", 1),
    ]  # fmt: skip


def test_a_leaf_is_its_own_path() -> None:
    leaf = Node("leaf", 5, 9)
    assert self_time(leaf) == 4
    assert critical_path(leaf) == [leaf]


def test_covered_merges_and_clips() -> None:
    assert covered([(0, 5), (3, 8), (10, 12), (11, 20)], 1, 15) == 7 + 5
    assert covered([], 0, 10) == 0
    assert covered([(5, 5)], 0, 10) == 0
