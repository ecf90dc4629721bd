"""What the dashboard and the alert rules share: each SLO as configured or the article's
default, and the labels of the metrics a run pushes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from pytest_llmobs.gate.model import TEST_GROUP
from pytest_llmobs.gate.rules import Slo
from pytest_llmobs.report.prometheus_metrics import group_label_names

# The source article's levels, where `[tool.llmobs.slo]` sets none (latency in ms, as
# the gate's own SLOs).
ERROR_RATE = Slo(1, 0.05, 0.10)
LATENCY_P95 = Slo(1, 500.0, 1000.0)
QUALITY = Slo(-1, 0.7, 0.6)
# Stands for every quality attribute, when no `quality.<attribute>` SLO is configured.
ANY_QUALITY = "quality.*"
# The labels the Pushgateway's grouping adds to every metric of a run.
RUN_LABELS = ("job", "suite", "branch")
# Where a level comes from, as the dashboard's panels and the alerts' annotations say it.
FROM_SLO = "SLO from [tool.llmobs.slo]"
FROM_DEFAULT = "default threshold (no SLO configured)"
# Why the quality attributes without an SLO of their own have no level, once one has.
UNJUDGED_QUALITY = (
    "Quality attributes without an SLO of their own: no threshold, as neither the gate nor "
    f"the alert rules judge them (the default, warn {QUALITY.warn:g}, fail {QUALITY.fail:g}, "
    "applies only while no quality attribute has an SLO)"
)
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def effective(slos: Mapping[str, Slo]) -> dict[str, Slo]:
    """The SLOs to draw and alert on: the configured ones, and the article's defaults
    for the error rate, p95 latency and quality where none is configured.

    Each default stands in for its own metric only: a configured p50 SLO leaves the p95
    default in place. Quality is one metric here: once any quality attribute has an SLO,
    the others have no level (the gate judges none of them, and a score may well be one
    where lower is better).

    Args:
        slos: the configured SLOs by metric (`Rules.slos`).

    Returns:
        The SLOs by metric, sorted; the quality default (when no quality attribute has an
        SLO) under `quality.*`, standing for every attribute.
    """
    found = {"error_rate": ERROR_RATE, "latency.p95": LATENCY_P95}
    if not quality_attributes(slos):
        found[ANY_QUALITY] = QUALITY
    found.update(slos)
    return dict(sorted(found.items()))


def described(metric: str, slo: Slo, slos: Mapping[str, Slo]) -> str:
    """Where an effective SLO comes from and its levels, as configured units write them:
    `SLO from [tool.llmobs.slo]: error_rate warn 2%, fail 4%` or `default threshold (no SLO
    configured): latency.p95 warn 500 ms, fail 1000 ms`."""
    levels = ", ".join(f"{name} {shown(metric, value)}" for name, value in levels_of(slo))
    return f"{FROM_SLO if metric in slos else FROM_DEFAULT}: {metric} {levels}"


def judged(metric: str, slos: Mapping[str, Slo]) -> tuple[Slo, str]:
    """The effective SLO of a metric, and where it comes from and its levels (described)."""
    slo = effective(slos)[metric]
    return slo, described(metric, slo, slos)


def threshold_kind(metric: str, slos: Mapping[str, Slo]) -> str:
    """`slo` for a configured SLO, `default` for the article's level standing in."""
    return "slo" if metric in slos else "default"


def levels_of(slo: Slo) -> list[tuple[str, float]]:
    """The levels an SLO sets, warn first."""
    return [(name, v) for name in ("warn", "fail") if (v := getattr(slo, name)) is not None]


def shown(metric: str, level: float) -> str:
    """A level as the configuration writes it: 5%, 500 ms, 0.7."""
    if metric == "error_rate":
        return f"{level * 100:g}%"
    if metric.startswith("latency"):
        return f"{level:g} ms"
    return f"${level:g}" if metric == "cost" else f"{level:g}"


def quality_attributes(slos: Mapping[str, Slo]) -> list[str]:
    """The quality attributes that have an SLO of their own, sorted."""
    return sorted(m.partition(".")[2] for m in slos if m.startswith("quality."))


def attribute(metric: str) -> str | None:
    """The quality attribute a `quality.<attribute>` SLO is about; None for `quality.*`."""
    name = metric.partition(".")[2]
    return None if name == "*" else name


def quantile(metric: str) -> str:
    """The `quantile` label of a latency SLO's percentile: `latency.p95` -> `0.95`."""
    return f"{int(metric.partition('.p')[2]) / 100:g}"


def series_labels(group_by: Sequence[str]) -> tuple[str, str]:
    """The labels that tell a run's series apart besides its cohort: `series` (the span
    name) and the label of a marked test's own series (`test`), empty on every other."""
    return "series", _label_names(group_by)[TEST_GROUP]


def cohort_labels(group_by: Sequence[str]) -> tuple[str, ...]:
    """The cohort labels of the pushed metrics, one each, in the order of `group_by`:
    named as the exporter names them (`gen_ai.request.model` -> `gen_ai_request_model`),
    with a marked test's series among the attributes; the test's own label is not one."""
    names = _label_names(group_by)
    found = dict.fromkeys(names[attribute] for attribute in group_by)
    found.pop(names[TEST_GROUP], None)
    return tuple(found)


def lower_is_worse(slo: Slo) -> bool:
    """Whether the metric breaches its SLO by falling below it (a quality score)."""
    return slo.direction < 0


def promql_string(text: str) -> str:
    """A PromQL string literal (JSON's escapes are a subset of PromQL's, unicode kept)."""
    return json.dumps(text, ensure_ascii=False)


def matcher(label: str, value: str) -> str:
    """A PromQL label matcher of this exact value."""
    return f"{label}={promql_string(value)}"


def regex_literal(text: str) -> str:
    """A regular expression (RE2, as PromQL reads one) matching exactly this text: its
    metacharacters escaped, as RE2 allows before any punctuation."""
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


def _label_names(group_by: Sequence[str]) -> dict[str, str]:
    """The label of each grouping attribute as a run with a marked test names them."""
    return group_label_names([*group_by, TEST_GROUP])
