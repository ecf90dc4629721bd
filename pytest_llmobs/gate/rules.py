"""Tolerance rules and absolute SLOs, parsed from short specs such as "+10% and +1ms"."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

LATENCY_PERCENTILES = ("p50", "p90", "p95", "p99")
_EPS = 1e-9  # a change of exactly the tolerance, give or take rounding, is within it
_TERM = re.compile(r"^([+-])(\d+(?:\.\d*)?|\.\d+)\s*(%|pp|ms|s)?$")
_VALUE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*(%|ms|s)?$")


class RuleError(Exception):
    """A rule or SLO spec cannot be parsed; the message quotes it and names its source."""


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move, and which way is worse.

    A change is beyond the tolerance only when it exceeds every given bound.
    """

    direction: int  # +1: a higher value is worse; -1: a lower value is worse
    relative: float | None = None  # fraction of the baseline value
    absolute: float | None = None  # in the metric's unit: ms, a rate, a score
    spec: str = ""

    def allowance(self, baseline: float) -> float:
        """How far the metric may move from this baseline value, either way, in its unit:
        the largest of the bounds, a relative one taken of the baseline's magnitude (so
        against a zero baseline a relative bound allows nothing)."""
        relative = self.relative * abs(baseline) if self.relative is not None else 0.0
        return max(self.absolute or 0.0, relative)

    def beyond(self, current: float, baseline: float) -> int:
        """+1 beyond it the worse way, -1 beyond it the better way, 0 within."""
        change = current - baseline
        noise = _EPS + 1e-9 * max(abs(current), abs(baseline))  # rounding is no change
        if abs(change) <= self.allowance(baseline) + noise:
            return 0
        return 1 if change * self.direction > 0 else -1

    def against_zero(self, baseline: float) -> bool:
        """Whether only a relative bound applies and the baseline is zero: any change is
        then beyond it."""
        return self.absolute is None and baseline == 0


@dataclass(frozen=True)
class Slo:
    """Absolute thresholds for one metric: beyond `warn` is reported, beyond `fail` fails."""

    direction: int
    warn: float | None
    fail: float | None

    def status(self, value: float) -> Literal["ok", "warn", "fail"]:
        """Which level the value breaches, if any."""
        if self.fail is not None and (value - self.fail) * self.direction > _EPS:
            return "fail"
        if self.warn is not None and (value - self.warn) * self.direction > _EPS:
            return "warn"
        return "ok"


def direction_of(metric: str) -> int:
    """Which way is worse by default: lower quality, higher everything else."""
    return -1 if metric.startswith("quality") else 1


def check_metric_key(key: str) -> None:
    """Raise ValueError unless key names a metric or a family (`latency.*`, `quality.*`)."""
    family, _, rest = key.partition(".")
    ok = (
        key in ("error_rate", "cost")
        or (family == "latency" and rest in (*LATENCY_PERCENTILES, "*"))
        or (family == "tokens" and rest in ("input", "output", "*"))
        or (family == "quality" and rest != "")
    )
    if not ok:
        raise ValueError(
            "unknown metric (use latency.p50/p90/p95/p99, latency.*, error_rate, "
            "tokens.input, tokens.output, tokens.*, cost, quality.<attribute> or quality.*)"
        )


def parse_tolerance(metric: str, spec: str) -> Tolerance | None:
    """Parse a spec such as "+10% and +1ms", "-0.05", "+2pp"; "off" disables the check.

    Raises:
        ValueError: the spec does not parse; the message says why.
    """
    if spec.strip().lower() == "off":
        return None
    terms = [t.strip() for t in re.split(r"\s+and\s+|,", spec.strip()) if t.strip()]
    if not terms:
        raise ValueError("empty rule")
    directions, relative, absolute = set(), None, None
    for term in terms:
        match = _TERM.match(term)
        if match is None:
            raise ValueError(f"cannot read {term!r} (expected e.g. +10%, +1ms, +2pp, -0.05)")
        sign, number, unit = match.groups()
        directions.add(1 if sign == "+" else -1)
        value = float(number)
        if unit == "%":
            relative = value / 100
        else:
            absolute = _absolute(metric, value, unit, term)
    if len(directions) > 1:
        raise ValueError("all terms of a rule must point the same way (+ or -)")
    return Tolerance(directions.pop(), relative, absolute, spec.strip())


def _absolute(metric: str, value: float, unit: str | None, term: str) -> float:
    latency = metric.startswith("latency")
    if unit in ("ms", "s") and not latency:
        raise ValueError(f"{term!r}: time units apply to latency only")
    if unit == "pp" and metric != "error_rate":
        raise ValueError(f"{term!r}: percentage points apply to error_rate only")
    if latency and unit is None:
        raise ValueError(f"{term!r}: give latency in %, ms or s")
    if metric == "error_rate" and unit is None and value > 1:
        raise ValueError(f"{term!r} is a rate above 100%: write {term}pp or {value / 100:+g}")
    if unit == "s":
        return value * 1000
    return value / 100 if unit == "pp" else value


def parse_slo_value(metric: str, text: Any) -> float:
    """An SLO threshold: "500ms", "1s", "5%", 0.7 ...; in the metric's unit."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if metric.startswith("latency"):
            raise ValueError(f"{text!r}: give latency thresholds with a unit, e.g. '500ms'")
        return float(text)
    match = _VALUE.match(str(text).strip())
    if match is None:
        raise ValueError(f"cannot read {text!r} (expected e.g. 500ms, 1s, 5%, 0.7)")
    number, unit = float(match.group(1)), match.group(2)
    if metric.startswith("latency"):
        if unit not in ("ms", "s"):
            raise ValueError(f"{text!r}: give latency thresholds in ms or s")
        return number * 1000 if unit == "s" else number
    if unit in ("ms", "s"):
        raise ValueError(f"{text!r}: time units apply to latency only")
    return number / 100 if unit == "%" else number


DEFAULT_RULES: Mapping[str, Tolerance | None] = {
    "latency.*": parse_tolerance("latency.*", "+10% and +1ms"),
    "error_rate": parse_tolerance("error_rate", "+2pp"),
    "quality.*": parse_tolerance("quality.*", "-0.05"),
    "tokens.*": parse_tolerance("tokens.*", "+10%"),
    "cost": parse_tolerance("cost", "+10%"),
}


@dataclass(frozen=True)
class Rules:
    """Tolerances by metric, overridden per series by span-name glob; SLOs; the family alpha."""

    tolerances: Mapping[str, Tolerance | None] = field(default_factory=lambda: DEFAULT_RULES)
    overrides: tuple[tuple[str, Mapping[str, Tolerance | None]], ...] = ()
    slos: Mapping[str, Slo] = field(default_factory=dict)
    alpha: float = 0.01
    tests: Mapping[str, Mapping[str, Tolerance | None]] = field(default_factory=dict)

    def tolerance(self, series: str, metric: str, test: str | None = None) -> Tolerance | None:
        """The tolerance for a metric of a series.

        A marked test's own rules come first (for the series of its spans), then the
        last matching per-series override, then the rule, then the default.
        """
        layers = [self.tests[test]] if test is not None and test in self.tests else []
        layers += [r for p, r in reversed(self.overrides) if fnmatch.fnmatchcase(series, p)]
        for rules in (*layers, self.tolerances, DEFAULT_RULES):
            key = _key_for(rules, metric)
            if key is not None:
                return rules[key]
        return None

    def names(self, metric: str) -> bool:
        """Whether a rule, override or marked test names this metric itself (not only
        its family)."""
        layers = (self.tolerances, *(r for _, r in self.overrides), *self.tests.values())
        return any(metric in rules for rules in layers)

    def slo(self, metric: str) -> Slo | None:
        return self.slos.get(metric)


def _key_for(rules: Mapping[str, Tolerance | None], metric: str) -> str | None:
    """The key of rules that covers metric: the metric itself, else its family."""
    if metric in rules:
        return metric
    family = metric.split(".")[0] + ".*"
    return family if family in rules else None
