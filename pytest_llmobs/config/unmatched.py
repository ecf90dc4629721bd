"""Names in the configuration that matched nothing the run measured: a rule or SLO for
`quality.answer_qualty`, an override for a span name no test made, a `group_by`
attribute no span had. Each gets one warning naming it and the closest known name."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pytest_llmobs.gate.rule_config import flatten
from pytest_llmobs.gate.rules import LATENCY_PERCENTILES
from pytest_llmobs.gate.semconv import metric_of
from pytest_llmobs.gate.toml_text import as_toml

if TYPE_CHECKING:  # the configuration is read before numpy is worth loading
    from pytest_llmobs.gate.model import SeriesStats, SpanTable

Kind = Literal["metric", "series", "attribute"]


@dataclass(frozen=True)
class Named:
    """A name the user wrote: what it must match (a metric key such as `quality.x` or
    `latency.*`, a span-name glob, or an attribute under any of `names`), and where."""

    kind: Kind
    names: tuple[str, ...]
    where: str


@dataclass(frozen=True)
class Measured:
    """What a run (with its baseline) measured: metrics, span names, attribute names."""

    metrics: frozenset[str]
    series: frozenset[str]
    attributes: frozenset[str]


def from_table(table: Mapping[str, Any], label: str) -> list[Named]:
    """The names in a checked `[tool.llmobs]` table: rule, override and SLO metrics,
    override globs, aliases and the attributes `redact.allow` shows."""
    named = [Named("metric", (k,), f"rules.{k} ({label})") for k in _keys(table, "rules")]
    named += [Named("metric", (k,), f"slo.{k} ({label})") for k in _keys(table, "slo")]
    for i, item in enumerate(table.get("overrides", [])):
        where = f"overrides[{i}]"
        glob = f"{where}.series = {as_toml(item['series'])} ({label})"
        named.append(Named("series", (item["series"],), glob))
        rest = {k: v for k, v in item.items() if k != "series"}
        named += [Named("metric", (k,), f"{where}.{k} ({label})") for k in flatten(rest, "", "")]
    for name, others in table.get("aliases", {}).items():
        names = (name, *([others] if isinstance(others, str) else others))
        named.append(Named("attribute", names, f"aliases.{name} = {as_toml(others)} ({label})"))
    for name in table.get("redact", {}).get("allow", []):
        named.append(Named("attribute", (name,), f"redact.allow {as_toml(name)} ({label})"))
    return named


def measured(series: Iterable[SeriesStats], attributes: Iterable[str]) -> Measured:
    """What these series measured, and the attribute names seen on spans."""
    metrics: set[str] = set()
    names: set[str] = set()
    seen = set(attributes)
    for s in series:
        names.add(s.key.name)
        metrics.update((*(f"latency.{p}" for p in LATENCY_PERCENTILES), "error_rate"))
        metrics.update(metric_of(a) for a in s.quality)
        seen.update(s.quality)
        seen.update(attribute for attribute, _ in s.key.group)
    return Measured(frozenset(metrics), frozenset(names), frozenset(seen))


def attributes_of(table: SpanTable) -> set[str]:
    """The attribute names spans and their events carried: numbers (scores, tokens),
    detail, and the events' (`exception.message`, which redact.allow may name)."""
    numbers = (key for key, (rows, _) in table.numeric.items() if len(rows))
    events = (key for event in table.events for key in event.attributes)
    return {*numbers, *table.detail, *events}


def rule_warnings(named: Sequence[Named], series: Iterable[SeriesStats]) -> list[str]:
    """The rules' metrics and series globs that saved series did not measure (a typo,
    most likely); attribute names are left out: they need the spans, which a run report
    does not keep."""
    return warnings([n for n in named if n.kind != "attribute"], measured(series, ()))


def warnings(named: Sequence[Named], found: Measured) -> list[str]:
    """One line for each name that matched nothing, with the closest known name."""
    if not found.series:  # nothing measured: the run says so once, not once a name
        return []
    lines = []
    for name in dict.fromkeys(named):
        if not _matches(name, found):
            lines.append(f"{name.where} matches nothing this run measured{_hint(name, found)}")
    return lines


def _matches(name: Named, found: Measured) -> bool:
    if name.kind == "attribute":  # `redact.allow` takes globs: `retrieval.*`
        return any(_found(n, found.attributes) for n in name.names)
    key = name.names[0]
    if name.kind == "series":
        return any(fnmatch.fnmatchcase(s, key) for s in found.series)
    if key.endswith(".*"):
        return any(m.startswith(key[:-1]) for m in found.metrics)
    return key in found.metrics


def _found(name: str, attributes: frozenset[str]) -> bool:
    if not any(c in name for c in "*?["):
        return name in attributes
    return any(fnmatch.fnmatchcase(a, name) for a in attributes)


def _hint(name: Named, found: Measured) -> str:
    key = name.names[0]
    if name.kind == "metric" and key.startswith("quality."):
        attribute = key.partition(".")[2]
        if attribute in found.attributes:
            return f": {attribute} is on spans but not in quality_attributes"
    if name.kind == "attribute":  # an alias entry: the names the user added, then its own
        hints = (closest(n, found.attributes) for n in (*name.names[1:], key))
        return next((h for h in hints if h), "")
    if name.kind == "series":
        return closest(key, found.series)
    if key.startswith("quality."):  # the attribute's name is what may be misspelt
        scores = {m.partition(".")[2] for m in found.metrics if m.startswith("quality.")}
        return closest(key.partition(".")[2], scores | found.attributes, prefix="quality.")
    return closest(key, found.metrics)


def closest(name: str, known: Iterable[str], prefix: str = "") -> str:
    """`: did you mean X?` with the known name closest to a misspelt one (written after
    `prefix`), or nothing."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f": did you mean {prefix}{close[0]}?" if close else ""


def _keys(table: Mapping[str, Any], key: str) -> list[str]:
    """The metric keys of a (checked) rules or SLO table."""
    return list(flatten(table.get(key, {}), key, ""))
