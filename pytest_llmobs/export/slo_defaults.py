"""What the dashboard and the alert rules share: each SLO as configured or the article's
default, and the labels of the metrics a run pushes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


def effective(slos: Mapping[str, Slo]) -> dict[str, Slo]:
    """The SLOs to draw and alert on: the configured ones, and the article's defaults
    for the error rate, p95 latency and quality where none is configured.

    Args:
        slos: the configured SLOs by metric (`Rules.slos`).

    Returns:
        The SLOs by metric, sorted; the quality default (when no quality attribute has an
        SLO) under `quality.*`, standing for every attribute.
    """
    found = {"error_rate": ERROR_RATE, "latency.p95": LATENCY_P95}
    if not any(metric.startswith("quality.") for metric in slos):
        found[ANY_QUALITY] = QUALITY
    found.update(slos)
    return dict(sorted(found.items()))


def attribute(metric: str) -> str | None:
    """The quality attribute a `quality.<attribute>` SLO is about; None for `quality.*`."""
    name = metric.partition(".")[2]
    return None if name == "*" else name


def quantile(metric: str) -> str:
    """The `quantile` label of a latency SLO's percentile: `latency.p95` -> `0.95`."""
    return f"{int(metric.partition('.p')[2]) / 100:g}"


def cohort_labels(group_by: Sequence[str]) -> tuple[str, ...]:
    """The cohort labels of the pushed metrics, one each, in the order of `group_by`:
    named as the exporter names them (`gen_ai.request.model` -> `gen_ai_request_model`)."""
    names = group_label_names(group_by)
    return tuple(dict.fromkeys(names[attribute] for attribute in group_by))


def lower_is_worse(slo: Slo) -> bool:
    """Whether the metric breaches its SLO by falling below it (a quality score)."""
    return slo.direction < 0
