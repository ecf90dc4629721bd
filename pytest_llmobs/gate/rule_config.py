"""Rules from where users write them: `[tool.llmobs]` tables and `@pytest.mark.llmobs`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pytest_llmobs.gate.rules import (
    DEFAULT_RULES,
    RuleError,
    Rules,
    Slo,
    Tolerance,
    check_metric_key,
    direction_of,
    parse_slo_value,
    parse_tolerance,
)
from pytest_llmobs.gate.toml_text import as_toml


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


def flatten(table: Any, where: str, source: str, prefix: str = "") -> dict[str, Any]:
    """A rules or SLO table's entries by metric key, nested tables flattened."""
    if not isinstance(table, dict):
        raise RuleError(f'{where} ({source}): expected a table of metric = "spec"')
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not {"warn", "fail"} & set(value):
            flat.update(flatten(value, where, source, name + "."))
        else:
            flat[name] = value
    return flat


def _tolerances(table: Any, where: str, source: str) -> dict[str, Tolerance | None]:
    result = {}
    for metric, spec in flatten(table, where, source).items():
        try:
            check_metric_key(metric)
            if not isinstance(spec, str):
                raise ValueError('expected a string such as "+10%"')
            result[metric] = parse_tolerance(metric, spec)
        except ValueError as exc:
            raise RuleError(f"{where}.{metric} = {as_toml(spec)} ({source}): {exc}") from None
    return result


def _slos(table: Any, source: str) -> dict[str, Slo]:
    result = {}
    for metric, levels in flatten(table, "slo", source).items():
        try:
            check_metric_key(metric)
            if "*" in metric:
                raise ValueError("name one metric, not a family")
            if not isinstance(levels, dict) or not set(levels) <= {"warn", "fail"} or not levels:
                raise ValueError("expected { warn = ..., fail = ... }")
            values = {k: parse_slo_value(metric, v) for k, v in levels.items()}
            _sane(metric, levels, values)
        except ValueError as exc:
            raise RuleError(f"slo.{metric} = {as_toml(levels)} ({source}): {exc}") from None
        result[metric] = Slo(direction_of(metric), values.get("warn"), values.get("fail"))
    return result


def _sane(metric: str, given: Mapping[str, Any], levels: Mapping[str, float]) -> None:
    """Raise ValueError for levels that cannot be meant: not finite, below zero (but for
    a quality score), a rate above 1 (`5` for 5%), or a fail level short of the warn
    level."""
    for name, level in levels.items():
        if not math.isfinite(level) or (level < 0 and not metric.startswith("quality")):
            what = "a finite number" if not math.isfinite(level) else "at or above zero"
            raise ValueError(f"{name} = {as_toml(given[name])} is not {what}")
        if metric == "error_rate" and level > 1:
            written = given[name]
            why = f"{name} = {as_toml(written)} is a rate above 100%"
            if isinstance(written, str) and written.strip().endswith("%"):
                raise ValueError(why)
            raise ValueError(f'{why}: write "{level:g}%" or {level / 100:g}')
    warn, fail = levels.get("warn"), levels.get("fail")
    if warn is not None and fail is not None and (fail - warn) * direction_of(metric) < 0:
        worse = "lower" if direction_of(metric) < 0 else "higher"
        raise ValueError(
            f"fail must be at least as bad as warn (a {worse} {metric} is worse), "
            f"here fail {as_toml(given['fail'])} and warn {as_toml(given['warn'])}: swap them?"
        )


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
        dotted = family in ("latency", "quality", "tokens") and rest
        given[f"{family}.{rest}" if dotted else key] = value
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
