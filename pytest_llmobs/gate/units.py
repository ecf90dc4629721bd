"""How the gate's numbers read, with their units: a metric's value, a check's change, a
signed difference. Shared by the analysis' messages and every report."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pytest_llmobs.gate.compare import Check


def value(metric: str, value: float | None) -> str:
    """A metric's value with its unit: "12.3 ms", "4.0%", "812.0 tok", "$0.00225"."""
    if value is None:
        return "-"
    if metric.startswith("latency"):
        if value < 1:
            return f"{value:.3f} ms"
        return f"{value:.1f} ms" if value < 10_000 else f"{value / 1000:.1f} s"
    if metric == "error_rate":
        return f"{value:.1%}"
    if metric.startswith("tokens"):
        return f"{value:.1f} tok"
    if metric == "cost":  # three significant digits: a cheap call is $0.00000225
        return "$" + np.format_float_positional(value, precision=3, fractional=False, trim="-")
    return f"{value:.3f}"


def change(check: Check) -> str:
    """A check's change as it reads best: relative for latency, tokens and cost, points for
    the error rate, plain for scores."""
    if check.change is None:
        return "-"
    if check.metric.startswith("latency"):
        return f"{check.relative:+.1%}" if check.relative is not None else f"{check.change:+.1f}ms"
    if check.metric == "error_rate":
        return f"{check.change * 100:+.1f}pp"
    if check.metric.startswith("tokens") or check.metric == "cost":
        return f"{check.relative:+.1%}" if check.relative is not None else f"{check.change:+.1f}"
    return f"{check.change:+.3f}"


def pct(value: float) -> str:
    """A relative change: "+12.5%"."""
    return f"{value:+.1%}"


def signed(metric: str) -> Callable[[float], str]:
    """How a signed difference of the metric reads (a confidence bound, a detectable change)."""
    if metric == "error_rate":
        return lambda v: f"{v * 100:+.1f}pp"
    if metric.startswith("tokens"):
        return lambda v: f"{v:+.1f}"
    if metric == "cost":  # significant digits, as its value: +$0.0000012
        return lambda v: ("-" if v < 0 else "+") + value("cost", abs(v))
    return lambda v: f"{v:+.3f}"
