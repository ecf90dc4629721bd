"""Which test a span another process made (received over OTLP) belongs to.

A test's own spans belong to the test running when they started. A received span
belongs, first, to the test whose own spans share its trace id: the test's request
carried `traceparent`, so the service worked for that test even when it did so later
(a queue, a retry, a batch that outlived the test). Failing that, it belongs to the test
running when it started, on the same host clock; failing that, to no test.
"""

from __future__ import annotations

from array import array

import numpy as np
import numpy.typing as npt

from pytest_llmobs.gate.model import RECEIVED_BY_TIME, RECEIVED_BY_TRACE, RECEIVED_NO_TEST, Ints

U64 = npt.NDArray[np.uint64]


def received_mask(runs: array[int], n: int) -> npt.NDArray[np.bool_]:
    """Rows of received spans, from (first, stop) pairs of row numbers."""
    mask = np.zeros(n, dtype=np.bool_)
    for first, stop in zip(runs[::2], runs[1::2], strict=True):
        mask[first:stop] = True
    return mask


def attribute(
    test_idx: Ints, trace_hi: U64, trace_lo: U64, start_ns: Ints, received: npt.NDArray[np.bool_]
) -> tuple[Ints, npt.NDArray[np.int8]]:
    """Each span's test index, received spans moved to the test their trace belongs to,
    and how each span was attributed (0: made in this process; else RECEIVED_*).

    A trace's test is the test of its earliest span made in this process inside a test.
    """
    tests = test_idx.copy()
    how = np.zeros(len(tests), dtype=np.int8)
    rows = np.flatnonzero(received)
    if len(rows) == 0:
        return tests, how
    own = np.flatnonzero(~received & (test_idx > 0))
    own = own[np.argsort(start_ns[own], kind="stable")]  # then by trace, earliest first:
    own = own[np.argsort(_keys(trace_hi[own], trace_lo[own]), kind="stable")]
    keys = _keys(trace_hi[own], trace_lo[own])
    first = np.concatenate(([True], keys[1:] != keys[:-1])) if len(keys) else keys.astype(bool)
    keys, owners = keys[first], own[first]
    wanted = _keys(trace_hi[rows], trace_lo[rows])
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    found = (keys[at] == wanted) if len(keys) else np.zeros(len(rows), dtype=np.bool_)
    traced = rows[found]
    tests[traced] = test_idx[owners[at[found]]]
    how[rows] = np.where(found, RECEIVED_BY_TRACE, RECEIVED_BY_TIME)
    how[rows[~found & (test_idx[rows] == 0)]] = RECEIVED_NO_TEST
    return tests, how


def _keys(high: U64, low: U64) -> npt.NDArray[np.void]:
    """Trace ids as one sortable 16-byte key each (byte order: equal ids, equal keys)."""
    stacked = np.ascontiguousarray(np.stack([high, low], axis=1).astype(np.uint64))
    return stacked.view(np.dtype((np.void, 16))).ravel()
