"""Requests: the span trees the analysis explains one at a time, and the app's id of each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pytest_llmobs.gate.grouping import MAX_DEPTH, inherit, values_of
from pytest_llmobs.gate.model import Ints, SpanTable
from pytest_llmobs.gate.semconv import REQUEST_ID


def request_roots(table: SpanTable, parents: Ints, request_names: Sequence[str] = ()) -> Ints:
    """Each span's request: its nearest ancestor-or-self named in request_names, else
    its topmost captured ancestor (the root span)."""
    names = set(request_names)
    wanted = [i for i, name in enumerate(table.names) if name in names]
    is_request = np.isin(table.name_idx, wanted)
    root = np.arange(len(table), dtype=np.int64)
    done = is_request | (parents < 0)
    for _ in range(MAX_DEPTH):
        todo = np.flatnonzero(~done)
        if len(todo) == 0:
            break
        up = parents[root[todo]]
        root[todo] = up
        done[todo] = is_request[up] | (parents[up] < 0)
    return root


def request_ids(
    table: SpanTable, parents: Ints, roots: Ints, aliases: Mapping[str, Sequence[str]]
) -> list[str | None]:
    """Each span's `request_id`: its own, else its nearest ancestor's, else that of any
    span of its request (a service sets it on its own spans, below the test's span
    that roots the request); the earliest-starting span's where several differ."""
    ids = inherit(values_of(table, REQUEST_ID, aliases), parents)
    has = np.array([v is not None for v in ids], dtype=np.bool_)
    given, missing = np.flatnonzero(has), np.flatnonzero(~has)
    given = given[np.argsort(table.start_ns[given], kind="stable")]
    if len(given) and len(missing):
        owners, first = np.unique(roots[given], return_index=True)
        at = np.minimum(np.searchsorted(owners, roots[missing]), len(owners) - 1)
        found = owners[at] == roots[missing]
        ids[missing[found]] = ids[given[first[at[found]]]]
    return list(ids)
