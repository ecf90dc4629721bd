"""Which test a received span belongs to: its nearest own ancestor's, its trace's when
that is one test, then its start time's."""

from __future__ import annotations

from array import array

import numpy as np

from pytest_llmobs.capture.attribution import attribute, received_mask
from pytest_llmobs.gate.model import RECEIVED_BY_TIME, RECEIVED_BY_TRACE, RECEIVED_NO_TEST

# (test by start time, trace id, span id, parent id, received) of one span, and
# optionally its test by end time (else the same as by start)
Span = tuple[int, int, int, int, bool] | tuple[int, int, int, int, bool, int]


def attributed(spans: list[Span]) -> tuple[list[int], list[int]]:
    whole = [(*s, s[0]) if len(s) == 5 else s for s in spans]
    tests, traces, span_ids, parent_ids, received, ends = (
        np.array(c) for c in zip(*whole, strict=True)
    )
    hi = (traces >> 32).astype(np.uint64)  # a two-part id, as the table holds it
    lo = (traces & 0xFFFFFFFF).astype(np.uint64)
    ids = (hi, lo, span_ids.astype(np.uint64), parent_ids.astype(np.uint64))
    found, how = attribute(
        tests.astype(np.int64), ends.astype(np.int64), ids, received.astype(bool)
    )
    return found.tolist(), how.tolist()


def test_a_received_span_joins_the_test_of_the_span_that_called_it_though_another_runs() -> None:
    tests, how = attributed([
        (1, 7, 1, 0, False),  # test 1's own span: its request carried traceparent
        (2, 7, 2, 1, True),  # the service worked on it while test 2 ran
        (2, 7, 3, 2, True),  # and a child of that: up through received spans
        (2, 9, 4, 0, False),  # test 2's own span
    ])  # fmt: skip
    assert tests == [1, 1, 1, 2]
    assert how == [0, RECEIVED_BY_TRACE, RECEIVED_BY_TRACE, 0]


def test_tests_that_share_a_trace_under_a_session_span_keep_their_own_service_spans() -> None:
    tests, how = attributed([
        (0, 5, 1, 0, False),  # a session span over every test (pytest-opentelemetry)
        (1, 5, 2, 1, False),  # test 1's client span
        (2, 5, 3, 1, False),  # test 2's client span
        (2, 5, 4, 2, True),  # test 1's service span, done while test 2 ran
        (2, 5, 5, 3, True),  # test 2's
        (1, 5, 6, 99, True),  # parent not captured: the trace has two tests, so time
        (0, 5, 7, 1, True),  # under the session span alone, between tests: none
    ])  # fmt: skip
    assert tests == [0, 1, 2, 1, 2, 1, 0]
    assert how[3:] == [RECEIVED_BY_TRACE, RECEIVED_BY_TRACE, RECEIVED_BY_TIME, RECEIVED_NO_TEST]


def test_a_session_fixture_s_span_speaks_for_no_test_though_it_starts_in_the_first() -> None:
    """mark_test runs before fixtures: a session fixture's span starts in test 1's
    setup and ends after the last test; a service span right under it (a test that
    injected with no span of its own) goes by its start time."""
    tests, how = attributed([
        (1, 5, 1, 0, False, 0),  # the session fixture's span: test 1 to no test
        (2, 5, 2, 1, False),  # test 2's own span
        (3, 5, 3, 1, True),  # a service span under the session span, during test 3
        (4, 5, 4, 1, True),
    ])  # fmt: skip
    assert tests == [1, 2, 3, 4]
    assert how[2:] == [RECEIVED_BY_TIME, RECEIVED_BY_TIME]


def test_a_captured_parent_outside_tests_leaves_the_start_time_to_decide() -> None:
    tests, how = attributed([
        (0, 5, 1, 0, False),  # made here outside any test
        (1, 5, 2, 1, False),  # test 1's span: the trace's only test
        (3, 5, 3, 1, True),  # under the first, during test 3: not test 1's
    ])  # fmt: skip
    assert (tests[2], how[2]) == (3, RECEIVED_BY_TIME)


def test_a_span_whose_parent_was_not_captured_takes_its_trace_s_one_test() -> None:
    tests, how = attributed([
        (3, 4, 1, 0, False),
        (3, 4, 2, 1, False),
        (0, 4, 9, 8, True),  # its parent (8) was never captured; the trace is test 3's
    ])  # fmt: skip
    assert tests[2] == 3
    assert how[2] == RECEIVED_BY_TRACE


def test_without_a_trace_made_here_the_start_time_decides_and_outside_tests_none() -> None:
    tests, how = attributed([
        (1, 1, 1, 0, False),
        (1, 2, 2, 0, True),  # a trace of its own, started during test 1
        (0, 3, 3, 0, True),  # started between tests
        (0, 4, 4, 0, False),  # made here outside any test: gives its trace no test
        (2, 4, 5, 4, True),
    ])  # fmt: skip
    assert tests == [1, 1, 0, 0, 2]
    assert how == [0, RECEIVED_BY_TIME, RECEIVED_NO_TEST, 0, RECEIVED_BY_TIME]


def test_traces_with_equal_halves_elsewhere_are_told_apart() -> None:
    tests, how = attributed([
        (1, 1 << 32 | 2, 1, 0, False),
        (2, 2 << 32 | 1, 2, 0, True),  # halves swapped: another trace
    ])  # fmt: skip
    assert tests == [1, 2]
    assert how == [0, RECEIVED_BY_TIME]


def test_a_loop_of_made_up_parent_ids_ends() -> None:
    tests, how = attributed([(1, 1, 1, 2, True), (2, 1, 2, 1, True)])
    assert tests == [1, 2]
    assert how == [RECEIVED_BY_TIME, RECEIVED_BY_TIME]


def test_nothing_received_changes_nothing() -> None:
    tests, how = attributed([(1, 1, 1, 0, False), (0, 2, 2, 0, False)])
    assert tests == [1, 0]
    assert how == [0, 0]


def test_received_rows_come_from_first_stop_pairs() -> None:
    assert received_mask(array("q", [1, 3, 4, 5]), 6).tolist() == [
        False, True, True, False, True, False,
    ]  # fmt: skip
    assert received_mask(array("q"), 2).tolist() == [False, False]


def test_agrees_with_the_rule_spelled_out_on_random_spans() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    tests = rng.integers(0, 6, n).tolist()
    ends = [t if rng.random() < 0.8 else int(rng.integers(0, 6)) for t in tests]
    traces = (rng.integers(0, 300, n) * 0x1_0000_0001).tolist()  # both halves vary
    received = (rng.random(n) < 0.5).tolist()
    # a parent in the same trace for most spans, made up (never captured) for some
    parents = [0] * n
    for i in range(n):
        earlier = [j for j in range(max(0, i - 40), i) if traces[j] == traces[i]]
        if earlier and rng.random() < 0.8:
            parents[i] = int(rng.choice(earlier)) + 1  # span ids are rows + 1
        elif rng.random() < 0.5:
            parents[i] = n + 1 + i  # a parent that was not captured
    spans: list[Span] = [
        (tests[i], traces[i], i + 1, parents[i], received[i], ends[i]) for i in range(n)
    ]
    found, how = attributed(spans)
    for i in range(n):
        if not received[i]:
            assert (found[i], how[i]) == (tests[i], 0)
            continue
        up = parents[i] - 1
        while 0 <= up < n and received[up]:
            up = parents[up] - 1
        in_trace = {tests[j] for j in range(n) if traces[j] == traces[i] and not received[j]}
        in_trace.discard(0)
        if 0 <= up < n and tests[up] > 0 and tests[up] == ends[up]:
            want = (tests[up], RECEIVED_BY_TRACE)
        elif not 0 <= up < n and len(in_trace) == 1:
            want = (in_trace.pop(), RECEIVED_BY_TRACE)
        else:
            want = (tests[i], RECEIVED_BY_TIME if tests[i] else RECEIVED_NO_TEST)
        assert (found[i], how[i]) == want, i
