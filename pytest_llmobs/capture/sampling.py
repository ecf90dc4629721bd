"""Which traces keep their detail when `--llmobs-sample-rate` is below 1 (pure numpy)."""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from itertools import compress
from typing import Any

import numpy as np

from pytest_llmobs.gate.model import AttrValue, Ints

WORST_KEPT = 10  # per series the slowest spans, per numeric attribute the lowest, keep detail
_MASK64 = (1 << 64) - 1


class DetailSampler:
    """Decides which traces keep their detail, a batch of newest spans at a time.

    A trace keeps it when its low 64 id bits fall under `rate` of their range (as
    OpenTelemetry's TraceIdRatioBased sampler decides), or when one of its spans is an
    error, one of the `WORST_KEPT` slowest of its name so far, or carries one of the
    `WORST_KEPT` lowest values of a numeric attribute so far. Batches end with tests, so
    a trace is decided whole; one flagged keeps the detail of spans it ends later too.
    A batch costs one sort, whatever the number of distinct span names.
    """

    def __init__(self, rate: float) -> None:
        self.threshold = np.uint64(min(int(rate * 2.0**64), _MASK64))
        self.flagged: Any = np.empty(0, dtype=np.uint64)  # low id bits, sorted
        self.slowest = Largest(np.int64)  # per span name: durations
        self.lowest: dict[str, Largest] = {}  # per numeric attribute: negated values

    def keep(self, rows: Any, numbers: Mapping[str, tuple[Ints, Any]]) -> Any:
        """Which of these rows (as SpanRecorder keeps them) keep their detail.

        `numbers` maps a numeric attribute to the positions among the rows that carry
        it, and their values.
        """
        lows = rows[:, 4]
        flag = rows[:, 3].astype(np.bool_)
        flag |= self.slowest.enter(rows[:, 0].astype(np.int64), rows[:, 2].astype(np.int64))
        for key, (positions, values) in numbers.items():
            if len(positions):
                lowest = self.lowest.setdefault(key, Largest(np.float64))
                flag[positions[lowest.enter(np.zeros(len(values), np.int64), -values)]] = True
        self.flagged = np.union1d(self.flagged, lows[flag])
        keep: Any = lows < self.threshold
        if len(self.flagged):
            at = np.minimum(np.searchsorted(self.flagged, lows), len(self.flagged) - 1)
            keep |= self.flagged[at] == lows
        return keep


class Largest:
    """Per group, the `WORST_KEPT` largest values seen so far (of equal values, the
    earlier), so that a run of ties flags few."""

    def __init__(self, dtype: Any) -> None:
        self.groups: Ints = np.empty(0, dtype=np.int64)
        self.values: Any = np.empty(0, dtype=dtype)

    def enter(self, groups: Ints, values: Any) -> Any:
        """Mask of the values that enter their group's largest; remembers them."""
        seen = len(self.groups)
        merged_groups = np.concatenate((self.groups, groups))
        merged = np.concatenate((self.values, values))
        order = np.lexsort((-merged, merged_groups))  # stable: the earlier of ties first
        ordered = merged_groups[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        sizes = np.diff(np.concatenate((starts, [len(order)])))
        rank = np.arange(len(order)) - np.repeat(starts, sizes)
        top = order[rank < WORST_KEPT]
        self.groups, self.values = merged_groups[top], merged[top]
        entered = np.zeros(len(values), dtype=np.bool_)
        entered[top[top >= seen] - seen] = True
        return entered


def kept(
    rows: array[int], values: list[AttrValue], keep: Any, first: int
) -> tuple[array[int], list[AttrValue]]:
    """The entries of a detail column (rows, values) whose row keeps its detail, where
    `keep` says so for the rows from `first` on."""
    mine = keep[np.array(rows, dtype=np.int64) - first].tolist()
    return array("q", compress(rows, mine)), list(compress(values, mine))
