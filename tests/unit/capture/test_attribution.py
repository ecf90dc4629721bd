"""Which test a received span belongs to: its trace's test first, then its start time."""

from __future__ import annotations

from array import array

import numpy as np

from pytest_llmobs.capture.attribution import attribute, received_mask
from pytest_llmobs.gate.model import RECEIVED_BY_TIME, RECEIVED_BY_TRACE, RECEIVED_NO_TEST


def attributed(
    spans: list[tuple[int, int, int, bool]],
) -> tuple[list[int], list[int]]:
    """spans: (test by time, trace id, start, received) per row."""
    tests, traces, starts, received = (np.array(c) for c in zip(*spans, strict=True))
    hi = (traces >> 32).astype(np.uint64)  # a two-part id, as the table holds it
    lo = (traces & 0xFFFFFFFF).astype(np.uint64)
    found, how = attribute(
        tests.astype(np.int64), hi, lo, starts.astype(np.int64), received.astype(bool)
    )
    return found.tolist(), how.tolist()


def test_a_received_span_joins_the_test_of_its_trace_even_when_another_test_runs() -> None:
    tests, how = attributed([
        (1, 7 << 32 | 5, 10, False),  # test 1's own span of the trace
        (2, 7 << 32 | 5, 50, True),  # the service worked on it while test 2 ran
        (2, 9, 60, False),  # test 2's own span
    ])  # fmt: skip
    assert tests == [1, 1, 2]
    assert how == [0, RECEIVED_BY_TRACE, 0]


def test_without_a_shared_trace_the_start_time_decides_and_outside_tests_none() -> None:
    tests, how = attributed([
        (1, 1, 10, False),
        (1, 2, 20, True),  # a trace of its own, started during test 1
        (0, 3, 90, True),  # started between tests
    ])  # fmt: skip
    assert tests == [1, 1, 0]
    assert how == [0, RECEIVED_BY_TIME, RECEIVED_NO_TEST]


def test_a_trace_in_several_tests_belongs_to_its_earliest_own_span_s_test() -> None:
    tests, _ = attributed([
        (3, 4, 30, False),
        (2, 4, 20, False),  # earlier: the trace began in test 2
        (0, 4, 40, True),
    ])  # fmt: skip
    assert tests[2] == 2


def test_only_spans_made_here_inside_a_test_give_a_trace_its_test() -> None:
    tests, how = attributed([
        (0, 4, 5, False),  # made here, outside any test (a session fixture's teardown)
        (2, 4, 20, True),  # another received span of the same trace
        (1, 4, 10, True),
    ])  # fmt: skip
    assert tests == [0, 2, 1]
    assert how == [0, RECEIVED_BY_TIME, RECEIVED_BY_TIME]


def test_traces_with_equal_halves_elsewhere_are_told_apart() -> None:
    tests, how = attributed([
        (1, 1 << 32 | 2, 10, False),
        (2, 2 << 32 | 1, 20, True),  # halves swapped: another trace
    ])  # fmt: skip
    assert tests == [1, 2]
    assert how == [0, RECEIVED_BY_TIME]


def test_nothing_received_changes_nothing() -> None:
    tests, how = attributed([(1, 1, 10, False), (0, 2, 20, False)])
    assert tests == [1, 0]
    assert how == [0, 0]


def test_received_rows_come_from_first_stop_pairs() -> None:
    assert received_mask(array("q", [1, 3, 4, 5]), 6).tolist() == [
        False, True, True, False, True, False,
    ]  # fmt: skip


def test_agrees_with_the_rule_spelled_out_on_random_spans() -> None:
    rng = np.random.default_rng(7)
    n = 2000
    tests = rng.integers(0, 6, n)
    traces = rng.integers(0, 300, n) * 0x1_0000_0001  # both halves vary
    starts = rng.permutation(n)
    received = rng.random(n) < 0.4
    spans = list(
        zip(tests.tolist(), traces.tolist(), starts.tolist(), received.tolist(), strict=True)
    )
    found, how = attributed(spans)
    owner: dict[int, tuple[int, int]] = {}  # trace: (start, test) of its earliest own span
    for test, trace, start, got in spans:
        if not got and test > 0 and start < owner.get(trace, (n, 0))[0]:
            owner[trace] = (start, test)
    for i, (test, trace, _, got) in enumerate(spans):
        if not got:
            assert (found[i], how[i]) == (test, 0)
        elif trace in owner:
            assert (found[i], how[i]) == (owner[trace][1], RECEIVED_BY_TRACE)
        else:
            assert (found[i], how[i]) == (test, RECEIVED_BY_TIME if test else RECEIVED_NO_TEST)
