"""Where a request's time went: each span's self time, and the critical path.

A span's self time is its duration minus the time covered by at least one of its
children (concurrent children overlap: their union counts once, clipped to the span).
The critical path is the chain of spans that decided when the request ended: from the
end of a span, the child that ran up to closest to it, then from that child's start
the child that ran up to closest to that, and so on, recursively (as Jaeger draws it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    """A span in a tree: its name, start and end (ns) and children."""

    name: str
    start: int
    end: int
    children: tuple[Node, ...] = ()
    row: int = -1  # where it came from (a SpanTable row), for callers that need it

    @property
    def duration(self) -> int:
        return self.end - self.start


def covered(intervals: list[tuple[int, int]], low: int, high: int) -> int:
    """Length of the union of intervals, clipped to [low, high]."""
    total, reach = 0, low
    for start, end in sorted(intervals):
        start, end = max(start, reach), min(end, high)
        if end > start:
            total += end - start
            reach = end
    return total


def self_time(node: Node) -> int:
    """The span's time not covered by any of its children."""
    spans = [(c.start, c.end) for c in node.children]
    return node.duration - covered(spans, node.start, node.end)


def critical_path(node: Node) -> list[Node]:
    """The spans on the critical path of node's subtree: node, then the path's spans
    from the earliest on."""
    segments: list[list[Node]] = []
    cursor, left = node.end, list(node.children)
    while True:
        # of the children running before the cursor, the one that ran closest up to it
        running = [c for c in left if c.start < cursor]
        if not running:
            break
        child = max(running, key=lambda c: (min(c.end, cursor), c.start))
        segments.append(critical_path(child))
        left.remove(child)
        cursor = child.start
    return [node, *(n for segment in reversed(segments) for n in segment)]


def walk(node: Node, depth: int = 0) -> Iterator[tuple[Node, int]]:
    """Every node of the tree with its depth, depth first, children by start time."""
    yield node, depth
    for child in sorted(node.children, key=lambda c: (c.start, c.end)):
        yield from walk(child, depth + 1)
