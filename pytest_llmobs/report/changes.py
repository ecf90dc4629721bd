"""What a new baseline changes, as `llmobs baseline update` prints it: new and missing
series, and every metric whose value changed."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_llmobs.gate import units
from pytest_llmobs.gate.model import SeriesStats
from pytest_llmobs.gate.promotion import metric_values


def changes(before: Sequence[SeriesStats], after: Sequence[SeriesStats]) -> list[str]:
    """What the new baseline changes: its new and missing series, and every metric of the
    others whose value changed (span count, latency, error rate, quality, tokens, cost)."""
    old = {s.key: s for s in before}
    now = {s.key: s for s in after}
    lines = [f"  new: {k.label} ({now[k].count} spans)" for k in sorted(now.keys() - old.keys())]
    lines += [
        f"  missing: {k.label} (was {old[k].count} spans)" for k in sorted(old.keys() - now.keys())
    ]
    for key in sorted(now.keys() & old.keys()):
        changed = [
            f"    {metric} {was_now(metric, was, value)}"
            for metric, was, value in metric_values(old[key], now[key])
            if was != value
        ]
        if changed:
            lines += [f"  changed: {key.label}", *changed]
    return lines


def was_now(metric: str, was: float | None, now: float | None) -> str:
    """`15.0 ms -> 22.5 ms (+50.0%)`: the change relative for latency, tokens and cost,
    absolute for the error rate and quality."""
    if metric == "spans":
        return f"{was:g} -> {now:g}"
    shown = f"{units.value(metric, was)} -> {units.value(metric, now)}"
    if was is None or now is None:
        return shown
    relative = metric.startswith(("latency", "tokens")) or metric == "cost"
    if relative:
        return f"{shown} ({units.pct(now / was - 1)})" if was else shown
    return f"{shown} ({units.signed(metric)(now - was)})"
