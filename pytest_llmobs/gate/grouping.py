"""Split series by attribute values (model, cohort), reading them up the span tree.

A cohort is usually set once, on a request's root span, while the latency and the
quality scores live on its children: a span without the attribute takes the value of
its nearest ancestor in the same trace that has it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from pytest_llmobs.gate.model import Ints, SpanTable
from pytest_llmobs.gate.semconv import ALIASES, names_for

MAX_DEPTH = 1000  # a parent chain longer than this is taken as a loop of bad ids


# A span's identity: its trace id's high and low halves and its span id, as columns.
SpanIds = tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.uint64]]


def parent_rows(table: SpanTable) -> Ints:
    """Each span's parent row in the table, or -1 where the parent was not captured (or
    where following parents would loop: see `acyclic`)."""
    own = (table.trace_hi, table.trace_lo, table.span_id)
    rows = rows_of(own, (table.trace_hi, table.trace_lo, table.parent_id))
    return acyclic(np.where(table.parent_id != 0, rows, -1).astype(np.int64))


def acyclic(parents: Ints) -> Ints:
    """Parent rows with every cycle cut, so that walking up always ends.

    Fixed id generators (snapshot tests) make a span its own parent, or two spans each
    other's. A chain that has not ended after as many steps as there are spans loops
    (found by pointer doubling, a few vectorised steps for real trees); each cycle is cut
    at its first row, which becomes a root.
    """
    parents = parents.copy()
    n = len(parents)
    parents[parents == np.arange(n)] = -1
    up = parents.copy()
    for _ in range(max(n, 1).bit_length() + 1):
        live = np.flatnonzero(up >= 0)
        if len(live) == 0:
            return parents
        up[live] = up[up[live]]
    for start in np.flatnonzero(up >= 0).tolist():
        seen: dict[int, int] = {}
        row = start
        while row >= 0 and row not in seen:
            seen[row] = len(seen)
            row = int(parents[row])
        if row >= 0:  # came back to `row`: the cycle is the rows walked since it
            cycle = [r for r, at in seen.items() if at >= seen[row]]
            parents[min(cycle)] = -1
    return parents


def rows_of(own: SpanIds, wanted: SpanIds) -> Ints:
    """For each wanted (trace id, span id), its row among `own`, or -1 if absent."""
    if len(own[0]) == 0:
        return np.full(len(wanted[0]), -1, dtype=np.int64)
    high, low, span = own
    order = np.argsort(span, kind="stable")
    ordered = span[order]
    if not np.any(ordered[1:] == ordered[:-1]):
        # span ids are unique (random 64-bit ids are): find by span id, then check the trace
        at = np.minimum(np.searchsorted(ordered, wanted[2]), len(ordered) - 1)
        row = order[at]
        same = (ordered[at] == wanted[2]) & (high[row] == wanted[0]) & (low[row] == wanted[1])
        return np.where(same, row, -1).astype(np.int64)
    # the same span id in several traces (made-up ids): key on (trace id, span id)
    keys = _ids(*own)
    by_key = np.argsort(keys, kind="stable")
    sorted_keys = keys[by_key]
    wanted_keys = _ids(*wanted)
    at = np.minimum(np.searchsorted(sorted_keys, wanted_keys), len(sorted_keys) - 1)
    return np.where(sorted_keys[at] == wanted_keys, by_key[at], -1).astype(np.int64)


def numbers_of(
    table: SpanTable, attribute: str, aliases: Mapping[str, Sequence[str]] = ALIASES
) -> tuple[Ints, npt.NDArray[np.float64]]:
    """The rows carrying a numeric attribute under any of its names, and its values;
    where a span has several, the canonical name's value wins, then the aliases'."""
    parts = [table.numeric[n] for n in names_for(attribute, aliases) if n in table.numeric]
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    if len(parts) == 1:
        return parts[0]
    rows = np.concatenate([r for r, _ in parts])
    values = np.concatenate([v for _, v in parts])
    _, first = np.unique(rows, return_index=True)  # first occurrence: the preferred name
    return rows[first], values[first]


def values_of(
    table: SpanTable, attribute: str, aliases: Mapping[str, Sequence[str]] = ALIASES
) -> npt.NDArray[np.object_]:
    """Each span's value of the attribute as text (None without one), under any of its
    names; the attribute's canonical name wins over its aliases."""
    values = np.full(len(table), None, dtype=object)
    for name in reversed(names_for(attribute, aliases)):  # the first name is written last
        if name in table.detail:
            rows, found = table.detail[name]
            values[rows] = [_text(v) for v in found]
        if name in table.numeric:
            rows, numbers = table.numeric[name]
            values[rows] = [_text(float(v)) for v in numbers]
    return values


def inherit(values: npt.NDArray[np.object_], parents: Ints) -> npt.NDArray[np.object_]:
    """Values with each missing one taken from the nearest ancestor that has one."""
    values = values.copy()
    has = np.array([v is not None for v in values], dtype=np.bool_)
    up = parents.copy()
    for _ in range(MAX_DEPTH):
        todo = np.flatnonzero(~has & (up >= 0))
        if len(todo) == 0:
            break
        ancestors = up[todo]
        got = has[ancestors]
        values[todo[got]] = values[ancestors[got]]
        has[todo[got]] = True
        up[todo[~got]] = parents[ancestors[~got]]
    return values


def group_codes(values: npt.NDArray[np.object_]) -> tuple[Ints, list[str | None]]:
    """Values as small integers (0 for none), and the value of each code."""
    index: dict[object, int] = {None: 0}
    codes = np.fromiter(
        (index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values)
    )
    return codes, list(index)  # type: ignore[arg-type]


def _ids(
    high: npt.NDArray[np.uint64], low: npt.NDArray[np.uint64], span: npt.NDArray[np.uint64]
) -> npt.NDArray[np.void]:
    """(trace id, span id) as one sortable 24-byte key per span."""
    stacked = np.ascontiguousarray(np.stack([high, low, span], axis=1).astype(np.uint64))
    return stacked.view(np.dtype((np.void, 24))).ravel()


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return ",".join(_text(v) for v in value)
    return str(value)
