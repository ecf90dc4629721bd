"""Which test a span another process made (received over OTLP) belongs to.

A test's own spans belong to the test running when they started. A received span
belongs, first, to the test of its nearest ancestor made in this process: the span
whose context the test's request carried in `traceparent`, so the service worked for
that test even when it did so later (a queue, a retry, a batch that outlived the test).
That ancestor speaks for a test only when it started and ended within it: a span over
several tests (a session fixture's, which starts in the first test's setup) speaks for
none, and the received span goes by its start time. Only when no ancestor made here
was captured does its trace decide: the test the spans made here in that trace all
belong to, when that is one test (tests can share a trace: a session span over them
all, a CI trace parent). Failing that, the test running when it started, on the same
host clock; failing that, no test. RECEIVED_BY_TRACE counts both ways the context
decided (the calling span, or the trace).
"""

from __future__ import annotations

from array import array

import numpy as np
import numpy.typing as npt

from pytest_llmobs.gate.grouping import MAX_DEPTH, acyclic, rows_of
from pytest_llmobs.gate.model import RECEIVED_BY_TIME, RECEIVED_BY_TRACE, RECEIVED_NO_TEST, Ints

U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]


def received_mask(runs: array[int], n: int) -> Bools:
    """Rows of received spans, from (first, stop) pairs of row numbers."""
    edges = np.zeros(n + 1, dtype=np.int64)
    pairs = np.frombuffer(runs, dtype=np.int64).reshape(-1, 2) if runs else np.empty((0, 2))
    np.add.at(edges, pairs[:, 0].astype(np.int64), 1)
    np.add.at(edges, pairs[:, 1].astype(np.int64), -1)
    return np.cumsum(edges[:n]) > 0


def attribute(
    test_idx: Ints, test_at_end: Ints, ids: tuple[U64, U64, U64, U64], received: Bools
) -> tuple[Ints, npt.NDArray[np.int8]]:
    """Each span's test index, received spans given theirs as the module says, and how
    each span was attributed (0: made in this process; else RECEIVED_*).

    Args:
        test_idx: each span's test by the time it started.
        test_at_end: each span's test by the time it ended.
        ids: the trace id's high and low halves, the span id and the parent id columns.
        received: which spans another process made.
    """
    tests = test_idx.copy()
    how = np.zeros(len(tests), dtype=np.int8)
    rows = np.flatnonzero(received)
    if len(rows) == 0:
        return tests, how
    owner = _own_ancestors(ids, received)[rows]
    captured = owner >= 0
    by_parent = captured.copy()
    start, end = test_idx[owner[captured]], test_at_end[owner[captured]]
    by_parent[captured] = (start > 0) & (start == end)  # within one test: it speaks for it
    found = np.zeros(len(rows), dtype=np.int64)
    found[by_parent] = test_idx[owner[by_parent]]
    orphan = ~captured  # no ancestor made here: the trace may say
    found[orphan] = _trace_tests(test_idx, ids[0], ids[1], received, rows[orphan])
    traced = found > 0
    tests[rows[traced]] = found[traced]
    how[rows] = np.where(traced, RECEIVED_BY_TRACE, RECEIVED_BY_TIME)
    how[rows[~traced & (test_idx[rows] == 0)]] = RECEIVED_NO_TEST
    return tests, how


def _own_ancestors(ids: tuple[U64, U64, U64, U64], received: Bools) -> Ints:
    """Each span's nearest ancestor-or-self made in this process, or -1 (not captured)."""
    high, low, span, parent = ids
    parents = rows_of((high, low, span), (high, low, parent))
    parents = acyclic(np.where(parent != 0, parents, -1).astype(np.int64))
    up = np.where(received, parents, np.arange(len(parents)))
    for _ in range(MAX_DEPTH):
        todo = np.flatnonzero(up >= 0)
        todo = todo[received[up[todo]]]  # still at a received span: one step further
        if len(todo) == 0:
            return up
        up[todo] = parents[up[todo]]
    still = np.flatnonzero(up >= 0)  # chains longer than MAX_DEPTH: none found
    up[still[received[up[still]]]] = -1
    return up


def _trace_tests(test_idx: Ints, high: U64, low: U64, received: Bools, rows: Ints) -> Ints:
    """For the given rows, the one test the spans made here in their trace belong to,
    or 0 where they belong to none or to several."""
    own = np.flatnonzero(~received & (test_idx > 0))
    if len(own) == 0 or len(rows) == 0:
        return np.zeros(len(rows), dtype=np.int64)
    keys = _keys(high[own], low[own])
    order = np.argsort(keys, kind="stable")
    keys, tests = keys[order], test_idx[own][order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    lowest, highest = np.minimum.reduceat(tests, starts), np.maximum.reduceat(tests, starts)
    single = np.where(lowest == highest, lowest, 0)
    keys = keys[starts]
    wanted = _keys(high[rows], low[rows])
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, single[at], 0).astype(np.int64)


def _keys(high: U64, low: U64) -> npt.NDArray[np.void]:
    """Trace ids as one sortable 16-byte key each (byte order: equal ids, equal keys)."""
    stacked = np.ascontiguousarray(np.stack([high, low], axis=1).astype(np.uint64))
    return stacked.view(np.dtype((np.void, 16))).ravel()
