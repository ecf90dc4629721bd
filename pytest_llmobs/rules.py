"""Tolerance rules and absolute SLOs, parsed from short specs such as "+10% and +1ms"."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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

    def beyond(self, current: float, baseline: float) -> int:
        """+1 beyond it the worse way, -1 beyond it the better way, 0 within."""
        change = current - baseline
        if change == 0:
            return 0
        if self.absolute is not None and abs(change) <= self.absolute + _EPS:
            return 0
        if (
            self.relative is not None
            and baseline > 0
            and abs(change) / baseline <= self.relative + _EPS
        ):
            return 0
        return 1 if change * self.direction > 0 else -1


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
        key == "error_rate"
        or (family == "latency" and rest in (*LATENCY_PERCENTILES, "*"))
        or (family == "quality" and rest != "")
    )
    if not ok:
        raise ValueError(
            "unknown metric (use latency.p50/p90/p95/p99, latency.*, error_rate, "
            "quality.<attribute> or quality.*)"
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
        if test is not None and test in self.tests:
            found = _lookup(self.tests[test], metric)
            if found is not _UNSET:
                return found  # type: ignore[return-value]
        for pattern, rules in reversed(self.overrides):
            if fnmatch.fnmatchcase(series, pattern):
                found = _lookup(rules, metric)
                if found is not _UNSET:
                    return found  # type: ignore[return-value]
        found = _lookup(self.tolerances, metric)
        if found is _UNSET:
            found = _lookup(DEFAULT_RULES, metric)
        return found  # type: ignore[return-value]

    def slo(self, metric: str) -> Slo | None:
        return self.slos.get(metric)


_UNSET = object()


def _lookup(rules: Mapping[str, Tolerance | None], metric: str) -> object:
    if metric in rules:
        return rules[metric]
    return rules.get(metric.split(".")[0] + ".*", _UNSET)


def rules_from_config(config: Mapping[str, Any], source: str, alpha: float = 0.01) -> Rules:
    """Rules from the `rules`, `overrides` and `slo` entries of `[tool.llmobs]`.

    Args:
        config: the table.
        source: where it came from, for error messages.
        alpha: the family-wise false alarm rate.

    Raises:
        RuleError: a key or spec is bad; the message quotes it and names the source.
    """
    tolerances = _tolerances(config.get("rules", {}), "rules", source)
    overrides = []
    raw_overrides = config.get("overrides", [])
    if not isinstance(raw_overrides, list):
        raise RuleError(
            f"overrides ({source}): expected an array of tables ([[tool.llmobs.overrides]])"
        )
    for i, item in enumerate(raw_overrides):
        where = f"overrides[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("series"), str):
            raise RuleError(f'{where} ({source}): needs series = "<span name glob>"')
        rest = {k: v for k, v in item.items() if k != "series"}
        overrides.append((item["series"], _tolerances(rest, where, source)))
    return Rules(
        {**DEFAULT_RULES, **tolerances},
        tuple(overrides),
        _slos(config.get("slo", {}), source),
        alpha,
    )


def _flatten(table: Any, where: str, source: str, prefix: str = "") -> dict[str, Any]:
    if not isinstance(table, dict):
        raise RuleError(f'{where} ({source}): expected a table of metric = "spec"')
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not {"warn", "fail"} & set(value):
            flat.update(_flatten(value, where, source, name + "."))
        else:
            flat[name] = value
    return flat


def _tolerances(table: Any, where: str, source: str) -> dict[str, Tolerance | None]:
    result = {}
    for metric, spec in _flatten(table, where, source).items():
        try:
            check_metric_key(metric)
            if not isinstance(spec, str):
                raise ValueError('expected a string such as "+10%"')
            result[metric] = parse_tolerance(metric, spec)
        except ValueError as exc:
            raise RuleError(f"{where}.{metric} = {spec!r} ({source}): {exc}") from None
    return result


def _slos(table: Any, source: str) -> dict[str, Slo]:
    result = {}
    for metric, levels in _flatten(table, "slo", source).items():
        try:
            check_metric_key(metric)
            if "*" in metric:
                raise ValueError("name one metric, not a family")
            if not isinstance(levels, dict) or not set(levels) <= {"warn", "fail"} or not levels:
                raise ValueError("expected { warn = ..., fail = ... }")
            values = {k: parse_slo_value(metric, v) for k, v in levels.items()}
        except ValueError as exc:
            raise RuleError(f"slo.{metric} = {levels!r} ({source}): {exc}") from None
        result[metric] = Slo(direction_of(metric), values.get("warn"), values.get("fail"))
    return result


def marker_rules(args: tuple[Any, ...], kwargs: Mapping[str, Any], test: str) -> dict[str, str]:
    """The rules of a `@pytest.mark.llmobs(...)` marker, checked, as metric -> spec.

    Metrics are given as a dict (`{"latency.p95": "+50%"}`) or as keywords, where
    `latency_p95` stands for `latency.p95` and `quality_score` for `quality.score`.

    Raises:
        RuleError: a metric or spec is bad; the message names the test.
    """
    given: dict[str, Any] = {}
    for arg in args:
        if not isinstance(arg, dict):
            raise RuleError(f"@pytest.mark.llmobs on {test}: expected a dict of metric: spec")
        given.update(arg)
    for key, value in kwargs.items():
        family, _, rest = key.partition("_")
        given[f"{family}.{rest}" if family in ("latency", "quality") and rest else key] = value
    specs = {}
    for metric, spec in given.items():
        try:
            check_metric_key(metric)
            if not isinstance(spec, str):
                raise ValueError('expected a string such as "+10%"')
            parse_tolerance(metric, spec)
        except ValueError as exc:
            raise RuleError(f"@pytest.mark.llmobs on {test}: {metric} = {spec!r}: {exc}") from None
        specs[metric] = spec
    return specs


def with_test_rules(rules: Rules, marked: Mapping[str, Mapping[str, str]]) -> Rules:
    """Rules with the (already checked) marker rules of each marked test."""
    tests = {
        test: {metric: parse_tolerance(metric, spec) for metric, spec in specs.items()}
        for test, specs in marked.items()
    }
    return replace(rules, tests=tests)
