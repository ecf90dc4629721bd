"""The requests behind the numbers: the slowest spans of each series and the lowest-scored
ones, each with its test, request id and a breakdown of where its time went.

A request is a root span with its descendants, or, when request span names are
configured, the nearest ancestor (or the span itself) of such a name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_llmobs.analysis.findings import RequestDetail, SpanPart, Structure
from pytest_llmobs.analysis.requests import request_ids, request_roots
from pytest_llmobs.analysis.trees import Node, critical_path, self_time, walk
from pytest_llmobs.gate.grouping import numbers_of
from pytest_llmobs.gate.model import (
    AttrValue,
    Floats,
    Ints,
    SeriesKey,
    SeriesStats,
    SpanTable,
)
from pytest_llmobs.gate.redact import Redactor
from pytest_llmobs.gate.semconv import ALIASES, TOKEN_METRICS, metric_of

MAX_SPANS = 30  # of one request's breakdown: the critical path first, then the longest
MAX_TREE_DEPTH = 50
# string attributes whose lengths are a request's prompt and output length
PROMPT_PREFIXES = ("gen_ai.prompt", "gen_ai.input.messages", "input.value", "llm.input_messages")
OUTPUT_PREFIXES = (
    "gen_ai.completion",
    "gen_ai.output.messages",
    "output.value",
    "llm.output_messages",
)


@dataclass(frozen=True)
class Spans:
    """A table with what every lookup needs: parents, children, requests, series."""

    table: SpanTable
    parents: Ints
    series_idx: Ints
    keys: Sequence[SeriesKey]
    requests: Ints  # each span's request root row
    request_ids: Sequence[str | None]
    child_order: Ints  # rows sorted by parent: the children of row r are a slice of it
    child_starts: Ints

    @classmethod
    def of(
        cls,
        table: SpanTable,
        parents: Ints,
        series_idx: Ints,
        keys: Sequence[SeriesKey],
        request_names: Sequence[str] = (),
        aliases: Mapping[str, Sequence[str]] = ALIASES,
    ) -> Spans:
        order = np.argsort(parents, kind="stable").astype(np.int64)
        starts = np.searchsorted(parents[order], np.arange(len(table) + 1)).astype(np.int64)
        roots = request_roots(table, parents, request_names)
        return cls(
            table, parents, series_idx, keys, roots,
            request_ids(table, parents, roots, aliases), order, starts,
        )  # fmt: skip

    def children(self, row: int) -> Ints:
        return self.child_order[self.child_starts[row] : self.child_starts[row + 1]]

    def duration_ms(self, row: int) -> float:
        return int(self.table.duration_ns[row]) / 1e6

    def test(self, row: int) -> str | None:
        return self.table.tests[int(self.table.test_idx[row])] or None

    def trace_id(self, row: int) -> str:
        return f"{int(self.table.trace_hi[row]):016x}{int(self.table.trace_lo[row]):016x}"


def structure(spans: Spans) -> Structure:
    """Which series are children of which, and which requests each series is part of."""
    table, series, n = spans.table, spans.series_idx, len(spans.keys)
    has_parent = np.flatnonzero(spans.parents >= 0)
    children: dict[SeriesKey, list[SeriesKey]] = {}
    for parent, child in _pairs(series[spans.parents[has_parent]], series[has_parent], n):
        if parent != child:
            children.setdefault(spans.keys[parent], []).append(spans.keys[child])
    requests: dict[SeriesKey, list[str]] = {}
    for idx, name in _pairs(series, table.name_idx[spans.requests], len(table.names)):
        requests.setdefault(spans.keys[idx], []).append(table.names[name])
    return Structure(
        {k: tuple(sorted(v)) for k, v in children.items()},
        {k: tuple(sorted(v)) for k, v in requests.items()},
    )


def _pairs(first: Ints, second: Ints, second_count: int) -> list[tuple[int, int]]:
    """The distinct (first, second) pairs, as one integer code each: sorting them is fast."""
    base = max(second_count, 1)
    high, low = np.divmod(np.unique(first * base + second), base)
    return list(zip(high.tolist(), low.tolist(), strict=True))


def slowest(
    spans: Spans,
    stats: Mapping[SeriesKey, SeriesStats],
    redactor: Redactor,
    count: int,
    at_p95: bool = True,
) -> tuple[RequestDetail, ...]:
    """Per series, its `count` slowest spans at or above its p95 (at any, for a shard,
    whose p95 is not the run's), slowest first, then earliest: a run split into shards
    lists the same spans as whole."""
    if count <= 0 or len(spans.table) == 0:
        return ()
    table = spans.table
    duration = table.duration_ns
    order = np.lexsort((table.span_id, table.start_ns, -duration, spans.series_idx))
    owner = spans.series_idx[order]
    first = np.searchsorted(owner, owner)  # where each span's series starts in the order
    rank = np.arange(len(order)) - first
    p95 = np.array([stats[k].latency.p95 if k in stats else np.inf for k in spans.keys]) * 1e6
    floor = np.floor(p95[owner]) if at_p95 else np.zeros(len(owner))
    keep = order[(rank < count) & (duration[order] >= floor)]
    found = [_detail(spans, row, redactor) for row in keep.tolist()]
    return tuple(sorted(found, key=lambda d: d.series))  # by series key, as shards merge


def lowest(
    spans: Spans,
    attributes: Sequence[str],
    threshold: float,
    redactor: Redactor,
    count: int,
    aliases: Mapping[str, Sequence[str]] = ALIASES,
) -> tuple[RequestDetail, ...]:
    """Per quality attribute, its `count` lowest scores below threshold, lowest first."""
    if count <= 0 or len(spans.table) == 0:
        return ()
    per_request = _request_sizes(spans, aliases)
    found = []
    for attribute in attributes:
        rows, values = numbers_of(spans.table, attribute, aliases)
        low = np.flatnonzero(values < threshold)
        table, at = spans.table, rows[low]  # lowest first, then earliest, as in shards
        low = low[np.lexsort((table.span_id[at], table.start_ns[at], values[low]))][:count]
        for row, score in zip(rows[low].tolist(), values[low].tolist(), strict=True):
            request = int(spans.requests[row])
            sizes = {k: v[request] for k, v in per_request.items()}
            found.append(
                _detail(
                    spans,
                    row,
                    redactor,
                    metric=metric_of(attribute),
                    score=score,
                    input_tokens=_number(sizes["input_tokens"]),
                    output_tokens=_number(sizes["output_tokens"]),
                    prompt_chars=_count(sizes["prompt_chars"]),
                    output_chars=_count(sizes["output_chars"]),
                )
            )
    return tuple(sorted(found, key=lambda d: d.metric or ""))  # by metric, as shards merge


def _detail(spans: Spans, row: int, redactor: Redactor, **extra: object) -> RequestDetail:
    tree = _tree(spans, row)
    parts, step = _parts(tree, spans.table)
    request = int(spans.requests[row])
    return RequestDetail(
        series=spans.keys[int(spans.series_idx[row])],
        test=spans.test(row),
        request_id=spans.request_ids[row],
        trace_id=spans.trace_id(row),
        span_id=f"{int(spans.table.span_id[row]):016x}",
        duration_ms=spans.duration_ms(row),
        request=spans.table.names[int(spans.table.name_idx[request])],
        request_ms=spans.duration_ms(request),
        spans=parts,
        step=step,
        attributes=redactor.attributes(_attributes(spans.table, row)),
        start_unix_nano=tree.start,
        **extra,  # type: ignore[arg-type]
    )


def _tree(spans: Spans, row: int) -> Node:
    """The span's subtree, at most MAX_SPANS spans, breadth first."""
    table = spans.table
    kept, frontier = [row], [row]
    for _ in range(MAX_TREE_DEPTH):
        frontier = [int(c) for r in frontier for c in spans.children(r)]
        if not frontier or len(kept) >= MAX_SPANS:
            break
        kept.extend(frontier[: MAX_SPANS - len(kept)])
        frontier = frontier[: MAX_SPANS - len(kept) + len(frontier)]
    inside = set(kept)

    def node(r: int) -> Node:
        start = int(table.start_ns[r])
        kids = tuple(node(int(c)) for c in spans.children(r) if int(c) in inside)
        name = table.names[int(table.name_idx[r])]
        return Node(name, start, start + int(table.duration_ns[r]), kids, r)

    return node(row)


def _parts(tree: Node, table: SpanTable) -> tuple[tuple[SpanPart, ...], str | None]:
    path = critical_path(tree)
    on_path = {id(n) for n in path}
    selfs = {id(n): self_time(n) for n, _ in walk(tree)}
    step = max(path, key=lambda n: selfs[id(n)]).name if len(path) > 1 else None
    return tuple(
        SpanPart(
            name=n.name,
            depth=depth,
            offset_ms=(n.start - tree.start) / 1e6,
            duration_ms=n.duration / 1e6,
            self_ms=selfs[id(n)] / 1e6,
            critical=id(n) in on_path,
            error=bool(table.error[n.row]),
            # what `llmobs export` needs to send the breakdown as spans again
            span_id=f"{int(table.span_id[n.row]):016x}",
            parent_id=f"{int(table.parent_id[n.row]):016x}" if table.parent_id[n.row] else None,
        )
        for n, depth in walk(tree)
    ), step


def _attributes(table: SpanTable, row: int) -> dict[str, AttrValue]:
    """One span's attributes from the columns (its detail when it was kept)."""
    found: dict[str, AttrValue] = {}
    columns: list[tuple[str, tuple[Ints, Any]]] = [*table.detail.items(), *table.numeric.items()]
    for name, (rows, values) in columns:
        at = int(np.searchsorted(rows, row))  # rows are in order: appended as spans ended
        if at < len(rows) and rows[at] == row:
            value: Any = values[at]
            found[name] = value.item() if isinstance(value, np.generic) else value
    return dict(sorted(found.items()))


def _request_sizes(spans: Spans, aliases: Mapping[str, Sequence[str]]) -> dict[str, Floats]:
    """Per request root row: its tokens and the lengths of its prompts and outputs."""
    n = len(spans.table)
    sizes: dict[str, Floats] = {}
    for field, metric in (("input_tokens", "tokens.input"), ("output_tokens", "tokens.output")):
        rows, values = numbers_of(spans.table, TOKEN_METRICS[metric], aliases)
        sizes[field] = _sum_by(spans.requests[rows], values, n, len(rows) > 0)
    for field, prefixes in (("prompt_chars", PROMPT_PREFIXES), ("output_chars", OUTPUT_PREFIXES)):
        row_parts, length_parts = [], []
        for name, (found, strings) in spans.table.detail.items():
            if name.startswith(prefixes):
                row_parts.append(np.asarray(found, dtype=np.int64))
                length_parts.append(np.array([_length(v) for v in strings], dtype=np.float64))
        owners = np.concatenate(row_parts) if row_parts else np.empty(0, dtype=np.int64)
        lengths = np.concatenate(length_parts) if length_parts else np.empty(0)
        sizes[field] = _sum_by(spans.requests[owners], lengths, n, len(owners) > 0)
    return sizes


def _sum_by(owner: Ints, values: Floats, n: int, any_found: bool) -> Floats:
    """Values summed per owner row; NaN for owners with none."""
    total = np.bincount(owner, weights=values, minlength=n)
    seen = np.bincount(owner, minlength=n) > 0
    return np.where(seen & any_found, total, np.nan)


def _length(value: AttrValue) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, tuple):
        return sum(len(v) for v in value if isinstance(v, str))
    return 0


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _count(value: float) -> int | None:
    return None if np.isnan(value) else int(value)
